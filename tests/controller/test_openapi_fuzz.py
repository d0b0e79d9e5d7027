"""Hostile input (issue 8): schemathesis fuzzes every operation of ``controller/openapi.json``.

The real controller runs on a loopback port in a thread of its own (schemathesis calls
are synchronous), on a manual clock stopped on a Thursday morning, when the space is
open. Every operation is fuzzed twice, from a fixed seed so that CI sends the same
requests every time: the file's examples, the coverage phase's boundary cases (missing
and mistyped fields, undeclared content types and methods), then valid and invalid
data, with known values (stations, help requests, instants, extreme dates) mixed in
so that requests also get past "no such station" into the rules:

- as an admin (the staff cookie and the CSRF header): no server error (503 only where a
  station is offline, as documented), every status documented, every JSON answer as the
  file describes it, invalid data refused;
- without a session: every protected operation answers 401, the public ones never 5xx.

The staff operations act on the admin's own account too: disabling or demoting it is
refused (409), and a new password keeps the session it was set from.

Afterwards the controller must still answer ``/healthz`` and the admin's session must
still hold (and still be an admin's); the bookings table must hold exactly the bookings the API answered 201 for,
each within bounds, and nothing absurd may be stored on a station.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis

if os.environ.get("PYTEST_XDIST_WORKER"):  # each operation is a sub-test that pytest-xdist never runs
    raise RuntimeError(
        "run tests/controller/test_openapi_fuzz.py without -n: under pytest-xdist schemathesis "
        "fuzzes nothing (make test runs this file in a pytest of its own)"
    )

from controller import staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from controller.web.auth import AUTH, COOKIE, CSRF_HEADER
from controller.web.desk import EARLIEST, LATEST
from espace.clock import ManualClock, parse_instant
from tests.support.served import serve

SPEC_PATH = Path(__file__).resolve().parents[2] / "controller" / "openapi.json"
SPEC = json.loads(SPEC_PATH.read_text("utf-8"))
ADMIN = staff.Staff("ada", "admin", "fr")
STEWARD = staff.Staff("sam", "steward", "nl")  # for the staff operations to act on
PASSWORD = "correct horse battery"  # the file's login example: that example logs in (200)
SEED = 8  # issue 8
MAX_EXAMPLES = 50  # per operation and pass, besides the coverage phase's boundary cases

# Help requests stored before the fuzz: open, taken by another steward, closed.
HELP = {"h-open": (None, None), "h-taken": ("sam", None), "h-done": ("sam", 1.0)}
# Known values, mixed into the generated ones, so that the fuzz also gets past "no such
# station" and "not an instant" into the rules (PC-01 and TAB-16 are on the default floor).
DICTIONARIES = {
    "stations": ["PC-01", "PC-44", "PC-45", "TAB-01", "TAB-16"],
    "help": list(HELP),
    "instants": [
        "2026-11-19T14:00",
        "2026-11-19T16:00",
        "2026-11-20T09:30",
        1795096800,
        1795104000,
        0,
        1e300,
    ],
    "dates": ["2026-11-19", "0001-01-01", "9999-12-31"],
    # the fuzz's own admin (whom it may neither disable nor demote: 409), a steward, nobody
    "logins": [ADMIN.login, STEWARD.login, "nobody"],
    "recurrences": [
        "daily",
        "weekly:thu",
        "weekly:mon,thu",
        "monthly:1:tue",
        "monthly:-1:fri",
        "yearly",
    ],
}
BINDINGS = {  # parameter: (dictionary, how often a value is drawn from it)
    "path.station": ("stations", 0.5),
    "path.help_id": ("help", 0.5),
    "path.login": ("logins", 0.7),
    "body.stations[*]": ("stations", 0.9),
    "body.start": ("instants", 0.7),
    "body.end": ("instants", 0.7),
    "body.until": ("instants", 0.5),
    "body.recurrence": ("recurrences", 0.5),
    "query.from": ("dates", 0.5),
    "query.to": ("dates", 0.5),
}

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # a shared CI machine may be slow to generate; the examples stay the same
        "suppress-health-check": ["too_slow"],
        "generation": {
            "mode": "all",  # valid and invalid data
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,  # the cookie and the CSRF header are ours
        },
        "dictionaries": {name: {"values": values} for name, values in DICTIONARIES.items()},
        "parameters": {
            key: {"dictionary": name, "probability": p} for key, (name, p) in BINDINGS.items()
        },
        "phases": {"stateful": {"enabled": False}},  # the file declares no links between operations
        # Not positive_data_acceptance: a schema cannot say "start before end" or "stations or
        # a count", so a schema-valid booking may rightly be refused (400).
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "negative_data_rejection": {"enabled": True},
        },
        "operations": [
            {  # a station that is not connected: 503 offline, as documented
                "include-path-regex": "^/api/stations/",
                "checks": {
                    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}
                },
            }
        ],
    }
)
schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)


def is_protected(operation: Any) -> bool:
    return (
        SPEC["paths"][operation.path][operation.method.lower()].get("security", SPEC["security"])
        != []
    )


@dataclass
class Controller:
    """The app on its own event loop in a thread; ``call`` runs a coroutine there."""

    database: Path
    clock: ManualClock = field(
        default_factory=lambda: ManualClock(parse_instant("2026-11-19T10:00"))
    )
    url: str = ""
    cookie: str = ""
    csrf: str = ""
    accepted: set[str] = field(default_factory=set)  # bookings answered 201
    deleted: set[str] = field(default_factory=set)  # bookings answered 200 to DELETE
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status)

    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="controller", daemon=True)
        self.thread.start()
        self.app = create_app(make_settings(database=str(self.database)), self.clock)
        self.served = self.call(serve(self.app))
        self.url = self.served.url
        store, now = self.app[keys.STORE], self.clock.now()
        for who in (ADMIN, STEWARD):
            self.call(
                store.write(
                    lambda db, who=who: staff.add_staff(db, who.login, PASSWORD, who.role, who.lang, now)
                )
            )
        r = requests.post(
            f"{self.url}/login", json={"login": ADMIN.login, "password": PASSWORD}, timeout=10
        )
        assert r.status_code == 200, r.text
        self.cookie, self.csrf = r.cookies[COOKIE], r.json()["me"]["csrf"]
        rows = [
            {"id": hid, "station": "PC-03", "kind": "visitor", "requested": now - 60, "taken": None if by is None else now - 30,
             "taken_by": by, "done": done}
            for hid, (by, done) in HELP.items()
        ]  # fmt: skip
        self.call(store.write(lambda db: db.table("help_requests").insert_all(rows)))

    def stop(self) -> None:
        self.call(self.served.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def throwaway_session(self) -> tuple[str, str]:
        """A session of its own for POST /logout, so that the admin's stays."""
        now = self.app[AUTH].wall()  # staff sessions run on real time, not the site's clock
        token, session = self.call(
            self.app[keys.STORE].write(lambda db: staff.create_session(db, ADMIN, now))
        )
        return token, session.csrf

    def read(self, sql: str) -> list[Any]:
        return self.call(self.app[keys.STORE].read(lambda db: list(db.execute(sql).fetchall())))


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    c = Controller(tmp_path_factory.mktemp("fuzz") / "espace.db")
    c.start()
    yield c
    c.stop()


@schema.parametrize()
def test_as_an_admin_nothing_crashes_and_every_answer_is_documented(
    case: Any, controller: Controller
) -> None:
    cookie, csrf = controller.cookie, controller.csrf
    label = case.operation.label
    if label == "POST /logout":
        cookie, csrf = controller.throwaway_session()
    response = case.call_and_validate(
        base_url=controller.url, headers={CSRF_HEADER: csrf}, cookies={COOKIE: cookie}, timeout=30
    )
    controller.answers[label, response.status_code] += 1
    if label == "POST /api/bookings" and case.method == "POST" and response.status_code == 201:
        controller.accepted.add(response.json()["id"])
    if (
        label == "DELETE /api/bookings/{id}"
        and case.method == "DELETE"
        and response.status_code == 200
    ):
        controller.deleted.add(response.json()["id"])


@schema.parametrize()
def test_without_a_session_every_protected_operation_answers_401(
    case: Any, controller: Controller
) -> None:
    response = case.call_and_validate(base_url=controller.url, timeout=30)
    controller.answers[case.operation.label, response.status_code] += 1
    if is_protected(case.operation) and case.method == case.operation.method.upper():
        assert response.status_code == 401, (case.method, case.formatted_path, response.text)


def test_after_the_fuzz_the_controller_is_healthy_and_stored_only_what_it_accepted(
    controller: Controller,
) -> None:
    if not controller.answers:
        pytest.skip("checks what the two fuzz tests above left behind: run them first")
    r = requests.get(f"{controller.url}/healthz", timeout=10)
    assert (r.status_code, r.json()["ok"]) == (200, True)
    r = requests.get(f"{controller.url}/api/me", cookies={COOKIE: controller.cookie}, timeout=10)
    assert r.status_code == 200  # the admin's session survived the fuzz (logout and all)
    assert r.json()["lang"] in ("fr", "nl", "en")
    assert r.json()["role"] == "admin"
    assert ("POST /api/staff", 201) in controller.answers, "no account was added: the fuzz never got past validation"

    rows = controller.read("SELECT id, start, end, kind, cancelled FROM bookings")
    assert {row[0] for row in rows} == controller.accepted
    assert {row[0] for row in rows if row[4] is not None} == controller.deleted
    for _, start, end, kind, _ in rows:
        assert EARLIEST <= start < end <= LATEST
        assert kind in ("pc", "tablet", None)
    assert controller.accepted, "no booking got through: the fuzz never reached the rules"
    for booking_id in (
        controller.accepted - controller.deleted
    ):  # and each one can be cancelled, once
        headers, cookies = {CSRF_HEADER: controller.csrf}, {COOKIE: controller.cookie}
        for expected in (200, 404):  # cancelled, then already gone
            r = requests.delete(f"{controller.url}/api/bookings/{booking_id}", headers=headers, cookies=cookies, timeout=10)
            assert r.status_code == expected
    for reason, status in controller.read("SELECT locked_reason, status FROM stations"):
        assert reason is None or 0 < len(reason) <= 200 and reason == reason.strip()
        assert status in ("pending", "approved", "revoked")
    print(f"{controller.answers.total()} requests fuzzed:", sorted(controller.answers.items()))
