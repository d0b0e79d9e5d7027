"""Every error code the JSON API can answer a staff page has its text in the catalog.

The staff pages (dashboard/static/floor.js, desk.js, login.js) show ``err.<error>`` (or
``err.<error>.<reason>`` for a refused booking) in the staff member's language and fall
back to the server's English message only for a code the catalog does not know. This
finds the codes in the controller's source, so a new one without its text fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from espace.grant import RefusedBecause
from espace.i18n import LANGS, catalog, message_ids

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"
# (function, index of the code among its positional arguments)
ERROR_CALLS = {"json_error": 1, "json_failure": 1, "_booking_refused": 1, "_refused": 4}
# Codes built with an f-string, each with every value it can take.
BUILT = {
    "f'bad_{name}'": {"bad_reason", "bad_text"},
    "f'missing_{name}'": {"missing_reason", "missing_text"},
    "f'long_{name}'": {"long_reason", "long_text"},
    "f'extension_{decision.reason}'": {f"extension_{r}" for r in get_args(RefusedBecause)},
}
NOT_ON_A_PAGE = {
    "login_required": "the pages go to /login on a 401",
    "no_such_lang": "only the strings' own URL answers it",
    "bad_query": "the reports page has no script; it redirects a bad query",
}


def codes_in_source() -> tuple[set[str], set[str]]:
    """(error codes, BookingError codes) raised or answered anywhere in controller/."""
    errors: set[str] = set()
    booking: set[str] = set()
    for path in sorted(CONTROLLER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name == "BookingError":
                    code = node.args[0]
                    assert isinstance(code, ast.Constant), f"{path}:{node.lineno}: a literal code"
                    booking.add(code.value)
                elif name == "StaffError":  # the staff API answers its code= as the error
                    errors |= {k.value.value for k in node.keywords
                               if k.arg == "code" and isinstance(k.value, ast.Constant)}  # fmt: skip
                elif name in ERROR_CALLS and len(node.args) > ERROR_CALLS[name]:
                    values.append(node.args[ERROR_CALLS[name]])
            elif isinstance(node, ast.Dict):
                values += [v for k, v in zip(node.keys, node.values, strict=True)
                           if isinstance(k, ast.Constant) and k.value == "error"]  # fmt: skip
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    errors.add(value.value)
                elif isinstance(value, ast.JoinedStr):
                    text = ast.unparse(value)
                    assert text in BUILT, f"{path}:{node.lineno}: list what {text} can be in BUILT"
                    errors |= BUILT[text]
                # else a variable: the helper that passes a code through (json_error's own body)
    return errors, booking


def test_the_scan_finds_the_codes() -> None:
    errors, booking = codes_in_source()
    assert {"booking_conflict", "bad_booking", "help_taken", "offline", "extension_queue", "long_text"} <= errors
    assert {"bad_login", "short_password", "staff_exists", "self_disable", "no_staff"} <= errors
    assert {"station_booked", "not_enough_free", "ends_before_start", "bad_recurrence", "bad_instant"} <= booking


def test_every_error_a_staff_page_can_receive_has_its_text() -> None:
    errors, booking = codes_in_source()
    known = message_ids()
    missing = sorted(f"err.{c}" for c in errors - NOT_ON_A_PAGE.keys() if f"err.{c}" not in known)
    missing += sorted(
        f"err.bad_booking.{c} or err.booking_conflict.{c}"
        for c in booking
        if f"err.bad_booking.{c}" not in known and f"err.booking_conflict.{c}" not in known
    )
    assert missing == []
    for lang in LANGS:  # the completeness check also holds, but say it where it matters
        assert all(catalog(lang)[f"err.{c}"] for c in errors - NOT_ON_A_PAGE.keys())


def test_no_error_text_is_left_over() -> None:
    errors, booking = codes_in_source()
    said = {f"err.{c}" for c in errors} | {f"err.{e}.{c}" for e in ("bad_booking", "booking_conflict") for c in booking}
    assert sorted(m for m in message_ids() if m.startswith("err.") and m not in said) == []
