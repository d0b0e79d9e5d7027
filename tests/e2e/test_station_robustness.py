"""The station's own side under attack and faults, end to end with real controller and agent processes.

The visitor drives their PC through the local control socket (it admits their
uid, no token needed); a stolen token talks to the controller directly; the
station's disk fills; the clocks are wrong. In every case the station keeps
enforcing and delivering, and the floor says what is wrong.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from espace import protocol as p
from tests.e2e.test_faults import _fill, _mount_small_fs, _umount
from tests.support.procs import AgentProc, ControllerProc, _env, shared_clock, wait_for
from tests.support.proxy import TcpProxy

PASSWORD = "correct horse battery staple"




def _config(tmp: Path, **settings: object) -> Path:
    path = tmp / "site.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
    return path


async def _raw(sock: Path, line: bytes) -> dict[str, Any]:
    """One request line on the control socket, exactly as a visitor's script would write it."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        writer.write(line + b"\n")
        await writer.drain()
        while True:
            msg = json.loads(await reader.readline())
            if "reply" in msg:
                return msg["reply"]
    finally:
        writer.close()


def _station_seqs(ctl: ControllerProc, station: str) -> list[int]:
    return [r["seq"] for r in ctl.rows("SELECT seq FROM events WHERE station = ? AND seq IS NOT NULL ORDER BY seq", station)]


async def _steward(ctl: ControllerProc, http: aiohttp.ClientSession) -> dict[str, str]:
    """A steward account made with the CLI, logged in over HTTP; returns the headers of its API calls."""
    cmd = [*ctl._args(), "staff", "add", "amina", "--role", "steward", "--password-stdin", "--database", str(ctl.db)]
    await asyncio.to_thread(subprocess.run, cmd, input=PASSWORD + "\n", check=True, capture_output=True, text=True, env=_env(), timeout=60)
    async with http.post(ctl.url + "/login", json={"login": "amina", "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return {"X-CSRF-Token": (await r.json())["me"]["csrf"]}


# ---------------------------------------------------------------- the visitor's control socket


async def test_malformed_control_requests_are_refused_and_the_station_keeps_delivering(tmp_path: Path, procs):
    clock = shared_clock(start="2026-11-19T10:00", speed=60.0)
    ctl = procs(ControllerProc(tmp_path, clock))
    a = procs(AgentProc(tmp_path, "PC-01", ctl.add_station("PC-01"), ctl.ws_url, clock))
    ctl.start()
    await a.start()
    await wait_for(lambda: _connected(a), what="connection")
    assert (await a.call("start"))["ok"]
    await a.wait_drained()

    # values that would go into wire messages unchecked: the controller would close the link on each
    for line in (
        b'{"op": "print", "pages": -3}',
        b'{"op": "print", "pages": 2, "printer": "PRN\\n1"}',
        b'{"op": "print", "pages": 100001}',
        b'{"op": "start", "lang": "xx"}',
        b'{"op": "start", "ticket": "' + b"A" * 40 + b'"}',
        b'{"op": "idle", "seconds": -5}',
        b'{"op": "idle", "seconds": "soon"}',
        b'{"op": "help", "extra": 1}',
        b'{"op": "format_disk"}',
        b"not json",
    ):
        reply = await _raw(a.sock, line)
        assert reply["ok"] is False, line
        assert reply["error"].startswith("bad request"), (line, reply)

    assert (await a.call("print", pages=2))["ok"]  # the events behind go on
    assert (await a.call("help"))["ok"]
    assert (await a.call("end"))["ok"]
    st = await a.wait_drained(within=30)
    assert _station_seqs(ctl, "PC-01") == list(range(1, st["last_seq"] + 1))
    # the print op hands the job to the station's print watch, which reports it at its next poll:
    # a drained outbox may come before that poll (a clean-clone CI run read no row here)
    await wait_for(lambda: ctl.rows("SELECT SUM(pages) AS n FROM print_jobs WHERE station = 'PC-01'")[0]["n"] == 2,
                   within=30, what="the 2 pages in print_jobs")  # fmt: skip
    assert _station_seqs(ctl, "PC-01") == list(range(1, len(_station_seqs(ctl, "PC-01")) + 1))
    assert len(ctl.rows("SELECT * FROM help_requests WHERE station = 'PC-01'")) == 1
    text = ctl.log.read_text(errors="replace")
    assert "closing (4400)" not in text  # the link was never cut
    assert text.count("PC-01@127.0.0.1: connected") == 1


async def test_help_and_cancel_in_a_loop_on_the_control_socket_send_a_bounded_number_of_requests(tmp_path: Path, procs):
    clock = shared_clock(start="2026-11-19T10:00", speed=60.0)
    ctl = procs(ControllerProc(tmp_path, clock))
    a = procs(AgentProc(tmp_path, "PC-02", ctl.add_station("PC-02"), ctl.ws_url, clock))
    ctl.start()
    await a.start()
    await wait_for(lambda: _connected(a), what="connection")
    assert (await a.call("start"))["ok"]
    refused = 0
    for _ in range(300):
        reply = await a.call("help")
        refused += reply.get("error") == "help_rate_limited"
        await a.call("cancel_help")
    await a.wait_drained(within=30)
    asked = ctl.rows("SELECT COUNT(*) AS n FROM events WHERE station = 'PC-02' AND type = 'help_requested'")[0]["n"]
    assert 1 <= asked <= 5  # HELP_PER_SESSION; before, one per press: 300
    assert refused >= 295


# ---------------------------------------------------------------- a held PC


async def test_a_pc_held_for_a_queue_ticket_is_not_taken_by_provoking_a_link_drop(tmp_path: Path, procs):
    clock = shared_clock(start="2026-11-19T10:00", speed=1.0)  # the 5-minute hold lasts 5 real minutes
    ctl = procs(ControllerProc(tmp_path, clock))
    token = ctl.add_station("PC-03")
    ctl.start()
    proxy = procs(TcpProxy(ctl.port))
    await proxy.start()
    a = procs(AgentProc(tmp_path, "PC-03", token, proxy.ws_url(), clock, extra=["--offline-grant-after", "1"]))
    await a.start()
    await wait_for(lambda: _connected(a), what="connection")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        headers = await _steward(ctl, http)
        async with http.post(ctl.url + "/api/queue/tickets", json={"accessible": False}, headers=headers) as r:
            assert r.status in (200, 201), await r.text()
    await wait_for(lambda: _held(a), what="the hold to reach the station's cached rules")

    # a start request the controller would refuse as malformed: before, the closed link became a local grant
    reply = await _raw(a.sock, b'{"op": "start", "lang": "xx"}')
    assert reply["ok"] is False
    assert (await a.call("start"))["refused"] == "reserved"  # asked properly: refused, the link up

    proxy.cut()  # the link drops; the controller stays away longer than the setting
    reply = await a.call("start")
    assert reply["ok"] is False
    assert reply["refused"] == "reserved"  # from the cached rules, holds included
    st = await a.call("status")
    assert st["session"] is None
    proxy.restore()
    await a.wait_drained()
    assert ctl.rows("SELECT COUNT(*) AS n FROM sessions WHERE station = 'PC-03'")[0]["n"] == 0


async def _connected(a: AgentProc) -> bool:
    return (await a.call("status"))["connected"]


async def _held(a: AgentProc) -> bool:
    return (await a.call("status"))["held_until"] is not None


# ---------------------------------------------------------------- a stolen token


async def test_a_stolen_token_flooding_help_makes_one_open_request_and_is_slowed_and_logged_once(tmp_path: Path, procs):
    clock = shared_clock(start="2026-11-19T10:00", speed=60.0)
    ctl = procs(ControllerProc(tmp_path, clock, config=_config(tmp_path, station_events_per_second=500, station_events_burst=1000)))
    token = ctl.add_station("PC-04")
    ctl.start()
    n = 3000
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http, http.ws_connect(ctl.ws_url) as ws:
        await ws.send_str(p.encode(p.Hello(station="PC-04", token=token)))
        welcome = p.decode_from_controller((await ws.receive()).data)
        assert isinstance(welcome, p.Welcome)
        now = clock.now()
        for seq in range(1, n + 1):
            await ws.send_str(p.encode(p.HelpRequested(id=p.new_id(), seq=seq, at=now, help_id=p.new_id())))
        acked, errors = 0, []
        while acked < n:
            m = p.decode_from_controller((await ws.receive(timeout=60)).data)
            if isinstance(m, p.EventAck):
                acked += 1
            elif isinstance(m, p.Error):
                errors.append(m.reason)
            else:
                raise AssertionError(f"unexpected {m!r}")
        headers = await _steward(ctl, http)
        async with http.get(ctl.url + "/api/help", headers=headers) as r:
            help_list = (await r.json())["help"]
    assert [h["station"] for h in help_list] == ["PC-04"]  # one open item for the stewards, not 3,000
    assert len(ctl.rows("SELECT * FROM help_requests")) == 1
    # told why, and logged, once per change of state (over the rate; under it again after a whole burst),
    # not once per event: 2,000 events came over the burst
    assert 1 <= len(errors) <= 3
    assert all("events/s" in e for e in errors)
    text = ctl.log.read_text(errors="replace")
    assert text.count("over 500 events/s") == len(errors)
    assert text.count("asks for help again") == 1


async def test_a_malformed_event_is_refused_for_good_and_the_events_behind_it_are_taken(tmp_path: Path, procs):
    clock = shared_clock(start="2026-11-19T10:00", speed=60.0)
    ctl = procs(ControllerProc(tmp_path, clock))
    token = ctl.add_station("PC-05")
    ctl.start()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http, http.ws_connect(ctl.ws_url) as ws:
        await ws.send_str(p.encode(p.Hello(station="PC-05", token=token)))
        assert isinstance(p.decode_from_controller((await ws.receive()).data), p.Welcome)
        now = clock.now()
        bad = p.PrintJob(id=p.new_id(), seq=1, at=now, job="1", printer="PRN-1", pages=-2)  # msgspec encodes it as it is
        good = p.PrintJob(id=p.new_id(), seq=2, at=now, job="2", printer="PRN-1", pages=3)
        await ws.send_str(p.encode(bad))
        await ws.send_str(p.encode(good))
        first = p.decode_from_controller((await ws.receive(timeout=30)).data)
        second = p.decode_from_controller((await ws.receive(timeout=30)).data)
    assert isinstance(first, p.EventReject)
    assert (first.id, first.retry) == (bad.id, False)
    assert "malformed" in first.reason
    assert isinstance(second, p.EventAck)
    assert second.id == good.id
    assert _station_seqs(ctl, "PC-05") == [2]
    assert ctl.rows("SELECT last_seq FROM stations WHERE id = 'PC-05'")[0]["last_seq"] == 2


# ---------------------------------------------------------------- text from a station in the logs


async def test_a_control_character_in_text_from_a_station_does_not_forge_a_log_line(tmp_path: Path, procs):
    clock = shared_clock(start="2026-11-19T10:00", speed=60.0)
    ctl = procs(ControllerProc(tmp_path, clock))
    token = ctl.add_station("PC-06")
    ctl.start()
    forged = "2026-11-19 10:00:00,000 INFO controller.web.auth: admin amina approved PC-06"
    async with aiohttp.ClientSession() as http, http.ws_connect(ctl.ws_url) as ws:
        # a host name with a newline is refused by the protocol itself; a problem's detail is free text
        await ws.send_str(p.encode(p.Hello(station="PC-06", enrol_key="k" * 24, hostname=f"pc\n{forged}")))
        assert (await ws.receive()).type != aiohttp.WSMsgType.TEXT or ws.closed
    async with aiohttp.ClientSession() as http, http.ws_connect(ctl.ws_url) as ws:
        await ws.send_str(p.encode(p.Hello(station="PC-06", token=token)))
        assert isinstance(p.decode_from_controller((await ws.receive()).data), p.Welcome)
        await ws.send_str(p.encode(p.Heartbeat(problems=[p.Problem(code="disk_full", detail=f"full\n{forged}\r")])))
        await wait_for(lambda: "station problem disk_full" in ctl.log.read_text(errors="replace"), what="the problem's log line")
    lines = ctl.log.read_text(errors="replace").splitlines()
    assert not any(line.startswith(forged) for line in lines)
    (said,) = [line for line in lines if "station problem disk_full" in line]
    assert f"full\\x0a{forged}\\x0d" in said  # the forged text stayed inside its record, escaped


async def _floor_problems(ctl: ControllerProc, http: aiohttp.ClientSession, headers: dict[str, str]) -> dict[str, list[str]]:
    async with http.get(ctl.url + "/api/floor", headers=headers) as r:
        assert r.status == 200
        return {s["id"]: [pr.partition(":")[0] for pr in s["problems"]] for s in (await r.json())["stations"]}


async def _ui_until(a: AgentProc, predicate, what: str, within: float = 60.0) -> list[dict[str, Any]]:
    """Poll the station (status calls read the UI lines pushed in between) until the UI lines satisfy ``predicate``."""

    async def check() -> bool:
        await a.call("status")
        assert a.client is not None
        return predicate(a.client.ui)

    await wait_for(check, within, what)
    assert a.client is not None
    return a.client.ui


# ---------------------------------------------------------------- the station's disk fills up


async def test_a_station_whose_disk_is_full_keeps_enforcing_and_catches_up_when_space_returns(tmp_path: Path, procs):
    small = tmp_path / "small"
    if not _mount_small_fs(small, "4m"):
        pytest.skip("needs root to mount a small tmpfs for the station's state")
    clock = shared_clock(start="2026-11-19T10:00", speed=120.0)  # the hour in 30 real seconds
    ctl = procs(ControllerProc(tmp_path, clock))
    a = procs(AgentProc(tmp_path, "PC-09", ctl.add_station("PC-09"), ctl.ws_url, clock))
    a.state = small / "agent"
    try:
        ctl.start()
        await a.start()
        await wait_for(lambda: _connected(a), what="connection")
        started = await a.call("start")
        assert started["ok"]
        await a.wait_drained()

        filler = _fill(small)
        assert (await a.call("print", pages=2))["ok"]
        assert (await a.call("help"))["ok"]  # the help request must not crash the control handler
        await wait_for(lambda: _has_problem(a, "disk_full"), what="the station to report a full disk")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            headers = await _steward(ctl, http)
            await wait_for(lambda: _floor_has(ctl, http, headers, "PC-09", "disk_full"), what="the floor to show the full disk")

            # enforcement goes on without a write: every warning, then the end on time, then the reset
            ui = await _ui_until(a, lambda ui: any(m.get("ui") == "cleaning" for m in ui), "the session to end", within=90)
            assert sorted(m["minutes"] for m in ui if m.get("ui") == "warn") == [1, 5, 10]
            assert [m["reason"] for m in ui if m.get("ui") == "cleaning"] == ["time"]
            st = await a.call("status")
            assert st["session"] is None
            assert st["unwritten"] > 0  # kept in memory meanwhile

            filler.unlink()  # space is back
            await wait_for(lambda: _unwritten_none(a), 60, "the events kept in memory to be written")
            st = await a.wait_drained(within=60)
            assert st["unwritten"] == 0
            assert "disk_full" not in st["problems"]
            await wait_for(lambda: _floor_lacks(ctl, http, headers, "PC-09", "disk_full"), what="the floor to clear the problem")
        assert _station_seqs(ctl, "PC-09") == list(range(1, st["last_seq"] + 1))
        (s,) = ctl.rows("SELECT * FROM sessions WHERE station = 'PC-09'")
        assert s["end_reason"] == "time"
        assert s["warnings"] == 3
        assert abs(s["end"] - s["planned_end"]) < 30  # on time (virtual seconds), not when space came back
        assert ctl.rows("SELECT SUM(pages) AS n FROM print_jobs WHERE station = 'PC-09'")[0]["n"] == 2
        kinds = [r["type"] for r in ctl.rows("SELECT type FROM events WHERE station = 'PC-09' ORDER BY seq")]
        assert kinds.count("station_reset") == 1
        assert kinds.count("help_requested") == 1
    finally:
        await a.kill()  # nothing may hold the small filesystem open when it goes
        _umount(small)


async def _unwritten_none(a: AgentProc) -> bool:
    return (await a.call("status"))["unwritten"] == 0


async def _has_problem(a: AgentProc, code: str) -> bool:
    return code in (await a.call("status"))["problems"]


async def _floor_has(ctl: ControllerProc, http: aiohttp.ClientSession, headers: dict[str, str], station: str, code: str) -> bool:
    return code in (await _floor_problems(ctl, http, headers))[station]


async def _floor_lacks(ctl: ControllerProc, http: aiohttp.ClientSession, headers: dict[str, str], station: str, code: str) -> bool:
    return not await _floor_has(ctl, http, headers, station, code)


# ---------------------------------------------------------------- wrong clocks


async def test_a_controller_an_hour_behind_and_stations_ahead_still_give_sixty_minute_sessions_on_the_right_day(tmp_path: Path, procs):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    truth = shared_clock(start="2026-11-19T10:00", speed=240.0)  # the hour in 15 real seconds
    ctl_clock = truth.shifted(-3600)  # the controller's clock, an hour behind: 09:00 on its timeline
    # open until midnight on the controller's timeline: 15 virtual hours, 225 real seconds, before any closing
    config = tmp_path / "site.toml"
    config.write_text('[hours]\nthu = ["09:00-23:59"]\n', encoding="utf-8")
    ctl = procs(ControllerProc(tmp_path, ctl_clock, config=config))
    ahead = {"PC-10": truth.shifted(20 * 60), "PC-11": truth.shifted(86400)}  # 20 minutes; a whole day
    agents = [procs(AgentProc(tmp_path, s, ctl.add_station(s), ctl.ws_url, c)) for s, c in ahead.items()]
    ctl.start()
    for a in agents:
        await a.start()
        await wait_for(lambda a=a: _connected(a), what=f"{a.station} to connect")
        await wait_for(lambda a=a: _has_problem(a, "clock_offset"), what=f"{a.station} to measure its clock's offset")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        headers = await _steward(ctl, http)
        problems = await _floor_problems(ctl, http, headers)
        assert "clock_offset" in problems["PC-10"]
        assert "clock_offset" in problems["PC-11"]
    granted: dict[str, tuple[float, float]] = {}
    for a in agents:
        before = ctl_clock.now()
        reply = await a.call("start")
        granted[a.station] = (before, ctl_clock.now())
        assert reply["ok"], reply
        # the end on the station's own clock, for its screen: about an hour ahead of it (the call itself takes
        # a few virtual seconds at x240), not 20 minutes in the past
        assert 3000 <= reply["end"] - (await a.call("status"))["now"] <= 3660
    for a in agents:
        await _ui_until(a, lambda ui: any(m.get("ui") == "cleaning" for m in ui), f"{a.station}'s session to end", within=90)
        st = await a.wait_drained()
        assert _station_seqs(ctl, a.station) == list(range(1, st["last_seq"] + 1))
    tz = ZoneInfo("Europe/Brussels")
    for station in ahead:
        (s,) = ctl.rows("SELECT * FROM sessions WHERE station = ?", station)
        assert s["end_reason"] == "time", station
        assert 3600 - 30 <= s["end"] - s["start"] <= 3600 + 30, (station, s["end"] - s["start"])  # 60 minutes, not 0 or 1,500
        assert s["warnings"] == 3, station
        # both ends on the controller's timeline: started when the controller saw it start, on its day
        before, after = granted[station]
        assert before - 60 <= s["start"] <= after + 60, station
        start, end = (datetime.fromtimestamp(s[k], tz) for k in ("start", "end"))
        assert (start.date().isoformat(), end.date().isoformat()) == ("2026-11-19", "2026-11-19"), station
