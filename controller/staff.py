"""Staff accounts, their sessions and the login throttle.

Accounts live in the ``staff`` table: a login, an argon2 hash (never the
password), a role and a language. The functions taking ``db`` are plain
sqlite-utils code meant to run inside ``store.write``/``store.read`` (off the
event loop: argon2 is deliberately slow).

Roles are capabilities, not a ladder of everything: a **steward** sees the
floor and acts on it; **backoffice** sees the floor and the reports; an
**admin** can do everything (staff, stations' approval). :func:`allowed` is
the one place that says who may do what.

Sessions are random 32-byte tokens given to the browser in an HttpOnly,
SameSite=Strict cookie; the table keeps only their SHA-256, so a copy of the
database does not let anyone in. Each session has its own CSRF token.

:class:`LoginThrottle` counts failures per login and per client address on
the injected clock: after :data:`FREE_FAILURES` failures, each further one
locks the key for an exponentially growing delay (1, 2, 4 … minutes, at most
:data:`MAX_LOCK_S`); a success clears the login's count.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

Role = Literal["steward", "backoffice", "admin"]
ROLES: tuple[Role, ...] = ("steward", "backoffice", "admin")
LANGS = ("fr", "nl", "en")
Capability = Literal["floor.view", "floor.act", "reports", "admin"]

CAPABILITIES: dict[str, frozenset[str]] = {
    "steward": frozenset({"floor.view", "floor.act"}),
    "backoffice": frozenset({"floor.view", "reports"}),
    "admin": frozenset({"floor.view", "floor.act", "reports", "admin"}),
}

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # the login form reads no more than this
SESSION_TTL_S = 14 * 3600  # one working day and its overtime, in real time (controller.web.auth.Auth.wall)
FREE_FAILURES = 5
BASE_LOCK_S = 60.0
MAX_LOCK_S = 15 * 60.0

_hasher = PasswordHasher()
# verified against when the login does not exist, so that timing does not tell
_DUMMY_HASH = _hasher.hash("espace-no-such-account")



class StaffError(ValueError):
    """A staff account request that cannot be applied; the text says why (in English).

    ``code`` and ``params`` are what the staff API answers (``err.<code>`` in the
    catalog, filled with ``params``); the command line prints the text.
    """

    def __init__(self, message: str, code: str = "bad_staff", **params: str | int) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def allowed(role: str, capability: str) -> bool:
    return capability in CAPABILITIES.get(role, frozenset())


@dataclass(frozen=True, slots=True)
class Staff:
    login: str
    role: str
    lang: str
    disabled: bool = False
    created: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "login": self.login,
            "role": self.role,
            "lang": self.lang,
            "disabled": self.disabled,
            "created": self.created,
            "capabilities": sorted(CAPABILITIES.get(self.role, ())),
        }


@dataclass(frozen=True, slots=True)
class StaffSession:
    login: str
    role: str
    lang: str
    csrf: str
    expires: float
    token_hash: str


# ---------------------------------------------------------------- accounts (run in the store's threads)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_login(login: str) -> None:
    if not LOGIN_RE.fullmatch(login):  # not match: '$' lets a trailing newline through
        raise StaffError(
            "login: 2 to 32 characters, lower-case letters, digits, '.', '_' or '-'", code="bad_login"
        )


def check_role(role: str) -> None:
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}, not {role!r}", code="bad_role")


def check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise StaffError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}", code="bad_lang")


def check_password(password: str) -> None:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): argon2 hashes UTF-8
        raise StaffError("password: not valid text", code="bad_body") from None
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"password: at least {MIN_PASSWORD} characters", code="short_password", min=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"password: at most {MAX_PASSWORD} characters", code="long_password", max=MAX_PASSWORD)


def add_staff(
    db: sqlite_utils.Database, login: str, password: str, role: str, lang: str, now: float
) -> Staff:
    check_login(login)
    check_role(role)
    check_lang(lang)
    check_password(password)
    if db.execute("SELECT 1 FROM staff WHERE login = ?", [login]).fetchone():
        raise StaffError(f"{login} already exists", code="staff_exists", login=login)
    db.execute(
        "INSERT INTO staff (login, password_hash, role, lang, created, disabled) VALUES (?,?,?,?,?,0)",
        [login, hash_password(password), role, lang, now],
    )
    return Staff(login, role, lang, created=now)


def list_staff(db: sqlite_utils.Database) -> list[Staff]:
    rows = db.execute("SELECT login, role, lang, disabled, created FROM staff ORDER BY login").fetchall()
    return [Staff(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]


def get_staff(db: sqlite_utils.Database, login: str) -> Staff | None:
    row = db.execute("SELECT login, role, lang, disabled, created FROM staff WHERE login = ?", [login]).fetchone()
    return None if row is None else Staff(row[0], row[1], row[2], bool(row[3]), row[4])


def end_sessions(db: sqlite_utils.Database, login: str, keep: str | None = None) -> list[str]:
    """End the account's sessions (but ``keep``, a token hash); their token hashes, to forget them."""
    digests = [d for d in session_digests(db, login) if d != keep]
    for digest in digests:
        delete_session(db, digest)
    return digests


def session_digests(db: sqlite_utils.Database, login: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT token_hash FROM staff_sessions WHERE login = ?", [login])]


def disable_staff(db: sqlite_utils.Database, login: str) -> bool:
    """Disable an account and end its sessions; False when there is no such login."""
    cur = db.execute("UPDATE staff SET disabled = 1 WHERE login = ?", [login])
    end_sessions(db, login)
    return cur.rowcount > 0


def enable_staff(db: sqlite_utils.Database, login: str) -> bool:
    """Let a disabled account log in again (with its old password); False when there is no such login."""
    return db.execute("UPDATE staff SET disabled = 0 WHERE login = ?", [login]).rowcount > 0


def set_role(db: sqlite_utils.Database, login: str, role: str) -> bool:
    """A new role, effective on the account's next request; False when there is no such login."""
    check_role(role)
    return db.execute("UPDATE staff SET role = ? WHERE login = ?", [role, login]).rowcount > 0


def set_password(db: sqlite_utils.Database, login: str, password: str, keep: str | None = None) -> bool:
    """A new password; the account's other sessions (all but ``keep``) end. False when there is no such login."""
    check_password(password)
    if db.execute("UPDATE staff SET password_hash = ? WHERE login = ?", [hash_password(password), login]).rowcount == 0:
        return False
    end_sessions(db, login, keep)
    return True


def verify_password(db: sqlite_utils.Database, login: str, password: str) -> Staff | None:
    """The account if ``password`` is right and the account enabled; None otherwise."""
    row = db.execute(
        "SELECT login, password_hash, role, lang, disabled FROM staff WHERE login = ?", [login]
    ).fetchone()
    stored = row[1] if row else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or row[4]:
        return None
    return Staff(row[0], row[2], row[3])


def rehash_if_needed(db: sqlite_utils.Database, login: str, password: str) -> None:
    """Upgrade a hash made with older argon2 parameters (after a successful login)."""
    row = db.execute("SELECT password_hash FROM staff WHERE login = ?", [login]).fetchone()
    if row and _hasher.check_needs_rehash(row[0]):
        db.execute("UPDATE staff SET password_hash = ? WHERE login = ?", [hash_password(password), login])


# ---------------------------------------------------------------- sessions


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(db: sqlite_utils.Database, staff: Staff, now: float) -> tuple[str, StaffSession]:
    """A new session; returns the cookie token (only ever in the cookie) and the session."""
    token = secrets.token_urlsafe(32)
    session = StaffSession(
        login=staff.login,
        role=staff.role,
        lang=staff.lang,
        csrf=secrets.token_urlsafe(32),
        expires=now + SESSION_TTL_S,
        token_hash=token_digest(token),
    )
    db.execute("DELETE FROM staff_sessions WHERE expires < ?", [now])
    db.execute(
        "INSERT INTO staff_sessions (token_hash, login, csrf, created, expires) VALUES (?,?,?,?,?)",
        [session.token_hash, staff.login, session.csrf, now, session.expires],
    )
    return token, session


def load_session(db: sqlite_utils.Database, token_hash: str, now: float) -> StaffSession | None:
    row = db.execute(
        "SELECT s.login, a.role, a.lang, s.csrf, s.expires FROM staff_sessions s "
        "JOIN staff a ON a.login = s.login WHERE s.token_hash = ? AND a.disabled = 0",
        [token_hash],
    ).fetchone()
    if row is None or row[4] <= now:
        return None
    return StaffSession(row[0], row[1], row[2], row[3], row[4], token_hash)


def delete_session(db: sqlite_utils.Database, token_hash: str) -> None:
    db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", [token_hash])


# ---------------------------------------------------------------- throttle (pure, on the injected clock)


@dataclass(slots=True)
class _Count:
    failures: int = 0
    locked_until: float = 0.0


@dataclass(slots=True)
class LoginThrottle:
    free_failures: int = FREE_FAILURES
    base_lock_s: float = BASE_LOCK_S
    max_lock_s: float = MAX_LOCK_S
    _counts: dict[str, _Count] = field(default_factory=dict)

    def _keys(self, login: str, ip: str) -> tuple[str, str]:
        return f"login:{login}", f"ip:{ip}"

    def retry_after(self, login: str, ip: str, now: float) -> float:
        """Seconds to wait before trying again; 0 when a try is allowed now."""
        wait = 0.0
        for key in self._keys(login, ip):
            c = self._counts.get(key)
            if c is not None:
                wait = max(wait, c.locked_until - now)
        return max(0.0, wait)

    def failed(self, login: str, ip: str, now: float) -> None:
        for key in self._keys(login, ip):
            c = self._counts.setdefault(key, _Count())
            c.failures += 1
            over = c.failures - self.free_failures
            if over >= 0:
                c.locked_until = now + min(self.max_lock_s, self.base_lock_s * 2**over)
        if len(self._counts) > 10_000:  # a scan of logins: forget the unlocked ones
            self._counts = {k: c for k, c in self._counts.items() if c.locked_until > now}

    def succeeded(self, login: str, ip: str) -> None:
        self._counts.pop(f"login:{login}", None)
        c = self._counts.get(f"ip:{ip}")
        if c is not None and c.locked_until == 0.0:
            self._counts.pop(f"ip:{ip}", None)
