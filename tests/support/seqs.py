"""Ground truth for the station-identity and restore tests: what the simulated visitors did, and
what the store and the stations' outboxes hold, read from outside the processes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.procs import AgentProc, ControllerProc, _env, rows, wait_for

ADMIN, PASSWORD = "ada", "correct horse battery staple"


class Visits:
    """Sessions the test's visitors had, per station: each one is start, help, cancel help, end (5 events
    with the reset), so that a station's events can be counted exactly."""

    EVENTS_PER_SESSION = 5

    def __init__(self) -> None:
        self.sessions: Counter[str] = Counter()
        self.help: Counter[str] = Counter()

    async def session(self, a: AgentProc, within: float = 30.0) -> None:
        async def started() -> bool:  # a station just cut off may first retry before granting from its rules
            r = await a.call("start")
            return bool(r.get("ok"))

        await wait_for(started, within, f"{a.station} to start a session")
        self.sessions[a.station] += 1
        assert (await a.call("help"))["ok"]
        self.help[a.station] += 1
        assert (await a.call("cancel_help"))["ok"]
        assert (await a.call("end"))["ok"]

    async def sessions_on(self, a: AgentProc, n: int) -> None:
        for _ in range(n):
            await self.session(a)


def outbox(a: AgentProc) -> dict[str, Any]:
    """The station's own outbox file: its incarnation, its last seq, the seqs it holds (pending or kept)."""
    conn = sqlite3.connect(a.state / "outbox.db", timeout=30)
    try:
        kv = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM kv")}
        held = [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        kept = "acked" in {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}  # (an old agent deletes on ack)
        pending = [r[0] for r in conn.execute(f"SELECT seq FROM outbox {'WHERE acked IS NULL' if kept else ''} ORDER BY seq")]
    finally:
        conn.close()
    return {"incarnation": kv.get("incarnation", ""), "last_seq": int(kv.get("last_seq") or 0), "held": held, "pending": pending}


def station_seqs(db: Path, station: str) -> dict[str, list[int]]:
    """Per incarnation, every seq the store took from ``station`` (counted, or waiting in quarantine), with repeats."""
    out: dict[str, list[int]] = {}
    for r in rows(db, "SELECT * FROM events WHERE station = ? AND seq IS NOT NULL", station):
        out.setdefault(r["incarnation"] if "incarnation" in r.keys() else "", []).append(r["seq"])
    if rows(db, "SELECT name FROM sqlite_master WHERE name = 'quarantine'"):
        for r in rows(db, "SELECT incarnation, seq FROM quarantine WHERE station = ? AND status = 'waiting'", station):
            out.setdefault(r["incarnation"], []).append(r["seq"])
    return {k: sorted(v) for k, v in out.items()}


def gaps(db: Path, station: str) -> list[tuple[int, int]]:
    return [(b["first"], b["last"]) for b in (json.loads(r["body"]) for r in rows(db, "SELECT body FROM events WHERE station = ? AND type = 'seq_gap' ORDER BY at", station))]


def assert_every_event_once(db: Path, station: str, expected: dict[str, int], truth: Visits, lost: int = 0) -> None:
    """``expected``: incarnation -> its last seq; every seq 1..last is in the store exactly once (less the
    recorded gaps), and the station's figures are the visitors' ground truth."""
    seqs = station_seqs(db, station)
    recorded = set()
    for first, last in gaps(db, station):
        recorded |= set(range(first, last + 1))
    assert len(recorded) == lost, f"{station}: seqs recorded as lost: {sorted(recorded)}"
    assert set(seqs) == set(expected), f"{station}: incarnations {sorted(seqs)}, expected {sorted(expected)}"
    for incarnation, last in expected.items():
        want = [n for n in range(1, last + 1) if not (incarnation == current_incarnation(db, station) and n in recorded)]
        assert seqs[incarnation] == want, f"{station}/{incarnation!r}: events lost or doubled"
    if lost == 0:
        n = rows(db, "SELECT COUNT(*) AS n FROM sessions WHERE station = ?", station)[0]["n"]
        assert n == truth.sessions[station], f"{station}: {n} sessions stored, {truth.sessions[station]} had"
        assert rows(db, "SELECT COUNT(*) AS n FROM sessions WHERE station = ? AND end IS NULL", station)[0]["n"] == 0
        helped = rows(db, "SELECT COUNT(*) AS n FROM help_requests WHERE station = ?", station)[0]["n"]
        assert helped == truth.help[station]


def current_incarnation(db: Path, station: str) -> str:
    return rows(db, "SELECT incarnation FROM stations WHERE id = ?", station)[0]["incarnation"]


def annual(ctl: ControllerProc, year: int = 2026) -> dict[str, str]:
    """The annual figures as the back office exports them (CSV on standard output)."""
    out = ctl.cli("export", "--from", f"{year}-01-01", "--to", f"{year}-12-31", "--what", "annual", "--format", "csv", "-o", "-")
    return {r[0]: r[1] for r in csv.reader(io.StringIO(out.stdout.lstrip("\ufeff")))}


def add_admin(ctl: ControllerProc) -> None:
    cmd = [sys.executable, "-m", "controller.cli", "staff", "add", ADMIN, "--role", "admin", "--password-stdin", "--database", str(ctl.db)]
    done = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True, env=_env(), timeout=60)
    assert done.returncode == 0, done.stderr


class Admin:
    """An admin on the dashboard's JSON API, as the floor page calls it (cookie and CSRF header)."""

    def __init__(self, ctl: ControllerProc) -> None:
        self.ctl = ctl
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.headers: dict[str, str] = {}

    async def login(self) -> Admin:
        async with self.http.post(self.ctl.url + "/login", json={"login": ADMIN, "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
            self.headers = {"X-CSRF-Token": (await r.json())["me"]["csrf"]}
        return self

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.ctl.url + path, json=body, headers=self.headers) as r:
            return r.status, await r.json()

    async def close(self) -> None:
        await self.http.close()


def log_count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text)

