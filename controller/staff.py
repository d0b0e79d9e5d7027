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

:class:`LoginThrottle` counts attempts per (login, client address) when they
start, before argon2 runs: after :data:`FREE_FAILURES` attempts, each further
one makes that pair wait an exponentially growing delay (1, 2, 4 … minutes, at
most :data:`MAX_LOCK_S`); a success clears the pair. It also caps the attempts
in flight per login and per address.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from espace import protocol as p

Role = Literal["steward", "backoffice", "admin"]
ROLES: tuple[Role, ...] = ("steward", "backoffice", "admin")
LANGS = p.LANGS
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

# argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane; the Password Storage
# Cheat Sheet), not argon2-cffi's default (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes).
# A check then costs about 24 ms of one core here instead of about 200 ms over four lane threads:
# under a login flood the few checks the caps let through take an eighth of the CPU they took, and
# under a third of the memory (a fifth of the memory traffic), which the stations' acks on the same
# core measurably felt (see the README's login flood figures). Hashes made with the old setting are verified as they are and
# rewritten with this one at their next successful login (:func:`rehash_if_needed`).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
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
    """The account if ``password`` is right and the account enabled; None otherwise (one thread: the CLI's, tests')."""
    stored, account = password_row(db, login)
    return account if password_matches(stored, password) else None


def password_row(db: sqlite_utils.Database, login: str) -> tuple[str, Staff | None]:
    """The hash to check ``login``'s password against, and the account when it exists and is enabled.

    An unknown or disabled login gets a dummy hash, checked all the same, so that timing does not tell.
    """
    row = db.execute(
        "SELECT login, password_hash, role, lang, disabled FROM staff WHERE login = ?", [login]
    ).fetchone()
    if row is None:
        return _DUMMY_HASH, None
    return row[1], None if row[4] else Staff(row[0], row[2], row[3])


def password_matches(stored: str, password: str) -> bool:
    """argon2's verdict (slow on purpose: run it in :class:`controller.hashpool.HashPool`, never on the loop)."""
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


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


def live_sessions(db: sqlite_utils.Database, digests: Iterable[str], now: float) -> set[str]:
    """Those of ``digests`` that are still sessions of an enabled account, not expired."""
    wanted = list(digests)
    alive: set[str] = set()
    for i in range(0, len(wanted), 500):  # SQLite's bound on parameters
        chunk = wanted[i : i + 500]
        marks = ",".join("?" * len(chunk))
        alive |= {
            r[0] for r in db.execute(
                f"SELECT s.token_hash FROM staff_sessions s JOIN staff a ON a.login = s.login "  # noqa: S608 - only placeholders
                f"WHERE s.token_hash IN ({marks}) AND a.disabled = 0 AND s.expires > ?", [*chunk, now],
            )
        }  # fmt: skip
    return alive


def delete_session(db: sqlite_utils.Database, token_hash: str) -> None:
    db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", [token_hash])


# ---------------------------------------------------------------- throttle (pure, on the injected clock)


@dataclass(slots=True)
class _Count:
    tries: int = 0  # attempts started since the last success (counted before the password is checked)
    next_at: float = 0.0  # no new attempt before this
    last: float = 0.0


class Refused(Exception):
    """A login attempt refused before its password is checked: ``code`` (``throttled``, ``login_busy``)
    and the seconds to wait."""

    def __init__(self, code: str, wait: float) -> None:
        super().__init__(code)
        self.code = code
        self.wait = wait


@dataclass(slots=True)
class LoginThrottle:
    """Login attempts per (login, client address), counted when they start, never after the hash.

    The first :data:`FREE_FAILURES` attempts of a (login, client) pair go through at once; from
    then on each one makes the next wait ``base_lock_s`` × 2ⁿ (at most ``max_lock_s``). Only that
    pair waits: the same login from another address, or another login from the same address,
    is not slowed down, so nobody can lock a colleague out by mistyping their login. A success
    clears the pair. Besides, at most ``max_in_flight_login`` attempts for one login and
    ``max_in_flight_client`` from one address run at a time (the others are refused at once,
    ``login_busy``): a burst of concurrent guesses cannot overtake the count.
    """

    free_failures: int = FREE_FAILURES
    base_lock_s: float = BASE_LOCK_S
    max_lock_s: float = MAX_LOCK_S
    max_in_flight_login: int = 2
    max_in_flight_client: int = 4
    max_keys: int = 10_000
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)

    def retry_after(self, login: str, ip: str, now: float) -> float:
        """Seconds before this pair may try again; 0 when a try is allowed now."""
        c = self._counts.get((login, ip))
        return 0.0 if c is None else max(0.0, c.next_at - now)

    def begin(self, login: str, ip: str, now: float) -> None:
        """Count an attempt before its password is checked; :class:`Refused` when it must wait.

        Every ``begin`` that returns must be followed by :meth:`end` (in a ``finally``).
        """
        wait = self.retry_after(login, ip, now)
        if wait > 0:
            raise Refused("throttled", wait)
        lk, ck = f"login:{login}", f"ip:{ip}"
        if self._in_flight.get(lk, 0) >= self.max_in_flight_login or self._in_flight.get(ck, 0) >= self.max_in_flight_client:
            raise Refused("login_busy", 1.0)
        if len(self._counts) >= self.max_keys:
            self._prune(now)
        c = self._counts.setdefault((login, ip), _Count())
        c.tries += 1
        c.last = now
        over = c.tries - self.free_failures
        if over >= 0:
            c.next_at = now + min(self.max_lock_s, self.base_lock_s * 2**over)
        self._in_flight[lk] = self._in_flight.get(lk, 0) + 1
        self._in_flight[ck] = self._in_flight.get(ck, 0) + 1

    def end(self, login: str, ip: str, ok: bool) -> None:
        """The attempt begun by :meth:`begin` is over; ``ok`` clears the pair's count."""
        for key in (f"login:{login}", f"ip:{ip}"):
            left = self._in_flight.get(key, 0) - 1
            if left > 0:
                self._in_flight[key] = left
            else:
                self._in_flight.pop(key, None)
        if ok:
            self._counts.pop((login, ip), None)

    def _prune(self, now: float) -> None:
        """A scan of made-up logins: forget the pairs that may try again now, then the oldest."""
        self._counts = {k: c for k, c in self._counts.items() if c.next_at > now}
        if len(self._counts) >= self.max_keys:
            keep = sorted(self._counts.items(), key=lambda kv: kv[1].last)[len(self._counts) // 2 :]
            self._counts = dict(keep)
