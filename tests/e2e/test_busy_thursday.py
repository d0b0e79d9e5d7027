"""A simulated busy Thursday through the real controller, with 61 real agents.

The controller app (in process, on a loopback port) and 61 ``Agent``s (in
process, real WebSocket, in-memory outboxes) share one fast virtual clock.
300 visitors arrive between 9:00 and 18:50; two workshops are booked through
the API (10 named PCs 10:30-12:00, 12 tablets 14:00-15:30); the space closes
at 19:00. A visitor sits at a free station, or takes a ticket at the desk
when none is free (or others already wait), watches the "now serving" screen
and types the code on the station it is called to; a few never come. Then
the figures must be what the rules predict.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.core import Agent, Probes
from agent.outbox import Outbox
from agent.probes.base import FakePrints, FakeResetter
from controller import staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from controller.web.auth import AUTH
from espace import protocol as p
from espace.clock import ScaledClock, parse_instant
from sim.visitors import SimIdle
from tests.support.procs import wait_for
from tests.support.served import serve

# x450: the day takes about 80 s here. At x900 (40 s) a machine twice as slow (two busy loops beside
# the test on this 2-core machine) failed it in three ways in three runs: a ticket visitor refused,
# a workshop participant who could not start, a session ended late. Each is a real tenth of a
# second of lag read as minutes of the day.
SPEED = 450.0
DAY = "2026-11-19"  # a Thursday: 9:00-19:00
ARRIVALS = 300
IDLE_END_S = 600 + 120  # idle prompt + grace (defaults)
# Lag tolerated on an actual end, in virtual seconds: 0.4 s of real time at x450 (3 min of the day).
# The controller, the 61 agents and the 300 visitors share this process's one event loop; with the
# suite's other process on the second core the loop lags by tenths of a second, and 90 virtual
# seconds (0.1 s real at x900) failed a clean-clone CI run once.
SLACK_S = 180.0
AMBIGUOUS_S = 180.0  # two ends this close: the prediction is not checked
PASSWORD = "busy-thursday-pw"


def at(hhmm: str) -> float:
    return parse_instant(f"{DAY}T{hhmm}")


CLOSING = at("19:00")
REASON = {"length": "time", "closing": "closing", "booking": "booking"}


@dataclass
class Visit:
    n: int
    arrival: float
    stay_s: float
    walk_away_s: float | None
    no_show: bool
    lang: str
    accessible: bool = False  # needs the accessible PC or tablet
    how: str = ""  # walkup | ticket | turned_away | no_show | closed | refused_ticket
    grant: p.Grant | None = None
    station: str | None = None
    code: str | None = None
    predicted: str | None = None
    ambiguous: bool = False
    refusal: str = ""


@dataclass
class Day:
    app: web.Application
    clock: ScaledClock
    agents: dict[str, Agent]
    idles: dict[str, SimIdle]
    http: aiohttp.ClientSession
    base: str
    headers: dict[str, str] = field(default_factory=dict)
    calls: dict[str, tuple[float, str]] = field(default_factory=dict)  # code -> (called, station)
    issued: list[tuple[float, str, bool]] = field(
        default_factory=list
    )  # (issued, code, accessible)
    participants: list[tuple[str, p.Grant]] = field(default_factory=list)
    seated: set[str] = field(default_factory=set)  # one visitor per chair

    async def api(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, headers=self.headers, **kw) as r:
            return r.status, await r.json()


def plan(rng: random.Random) -> list[Visit]:
    """300 arrivals: a rush at opening, a busy morning, a lull at lunch, a rush before the late closing."""
    waves = [
        ("09:00", "09:20", 80), ("09:20", "12:00", 60), ("12:00", "14:00", 30),
        ("14:00", "18:10", 55), ("18:10", "18:50", 75),
    ]  # fmt: skip
    times = sorted(rng.uniform(at(a), at(b)) for a, b, n in waves for _ in range(n))
    assert len(times) == ARRIVALS
    return [
        Visit(
            n=i,
            arrival=t,
            stay_s=rng.uniform(20 * 60, 75 * 60),
            walk_away_s=rng.uniform(5 * 60, 40 * 60) if rng.random() < 0.08 else None,
            no_show=rng.random() < 0.05,
            lang=rng.choice(["fr", "fr", "nl", "en"]),
            accessible=rng.random() < 0.04,
        )  # fmt: skip
        for i, t in enumerate(times)
    ]


def predict(v: Visit) -> None:
    """The end reason the rules predict for a granted visit."""
    g = v.grant
    assert g is not None
    ends = [(g.end, REASON[g.cause])]
    if v.walk_away_s is not None:
        ends.append((g.start + v.walk_away_s + IDLE_END_S, "idle"))
    else:
        ends.append((g.start + v.stay_s, "visitor"))
    ends.sort()
    v.predicted = ends[0][1]
    v.ambiguous = ends[1][0] - ends[0][0] < AMBIGUOUS_S


async def play(day: Day, v: Visit, agent: Agent, grant: p.Grant) -> None:
    v.grant, v.station = grant, agent.station
    predict(v)
    clock, idle = day.clock, day.idles[agent.station]
    leave_in = v.walk_away_s if v.walk_away_s is not None else v.stay_s
    deadline = grant.start + leave_in
    while clock.now() < deadline:
        if agent.session is None or agent.session.session_id != grant.session_id:
            return  # the grant ran out first
        await clock.sleep(min(30.0, deadline - clock.now()))
    if agent.session is None or agent.session.session_id != grant.session_id:
        return
    if v.walk_away_s is not None:
        idle.away_since = clock.now()
        while agent.session is not None and agent.session.session_id == grant.session_id:
            await clock.sleep(20)
        idle.away_since = None
    else:
        await agent.end_by_visitor()


def free_agents(day: Day) -> list[Agent]:
    floor = day.app[keys.FLOOR]
    return [
        day.agents[v.id]
        for v in floor.views()
        if v.state == "free"
        and v.id not in day.seated
        and day.agents[v.id].session is None
        and day.agents[v.id].connected.is_set()
    ]


async def visitor(day: Day, v: Visit, rng: random.Random) -> None:
    clock, site = day.clock, day.app[keys.SITE]
    await clock.sleep(max(0.0, v.arrival - clock.now()))
    for _ in range(3):  # a walk-up: a free station, nobody waiting
        if site.queue.waiting():
            break
        live = day.app[keys.FLOOR].live
        free = [a for a in free_agents(day) if not v.accessible or live[a.station].spec.accessible]
        if not free:
            break
        agent = rng.choice(free)
        day.seated.add(agent.station)
        try:
            answer = await agent.start_session(v.lang)
            if isinstance(answer, p.Grant):
                v.how = "walkup"
                await play(day, v, agent, answer)
                return
        finally:
            day.seated.discard(agent.station)
        if answer is not None and answer.reason in ("closed", "no_time"):
            v.how = "turned_away"
            return
        await clock.sleep(20)
    status, ticket = await day.api("POST", "/api/queue/tickets", json={"accessible": v.accessible})
    if status == 409:
        v.how = "turned_away"
        return
    assert status == 201, ticket
    v.code = ticket["code"]
    day.issued.append((ticket["issued"], ticket["code"], v.accessible))
    if v.no_show:
        v.how = "no_show"
        return
    station = None
    while station is None:
        serving = dict(site.queue.now_serving())  # the screen of the space
        station = serving.get(v.code)
        if station is not None:
            day.calls.setdefault(v.code, (site.queue.held_stations()[station].called, station))
        if station is None:
            if v.code not in {t.code for t in site.queue.tickets()}:
                v.how = "closed"  # forgotten at closing
                return
            await clock.sleep(20)
    called = day.calls[v.code][0]
    # reaches the station 30-150 s after the call (well inside the 5-minute hold)
    await clock.sleep(max(0.0, called + rng.uniform(30, 150) - clock.now()))
    agent = day.agents[station]
    day.seated.add(station)
    try:
        answer = await agent.start_session(v.lang, ticket=v.code)
        if isinstance(answer, p.Grant):
            assert answer.origin == "ticket"
            v.how = "ticket"
            await play(day, v, agent, answer)
        elif (
            isinstance(answer, p.Refuse)
            and answer.reason == "bad_ticket"
            and clock.now() > called + site.queue.hold_minutes * 60
        ):
            # a loaded machine stalled this visitor past the hold (at x900, 0.2 s of
            # lag is 3 minutes): the queue rightly counts a no-show
            v.how = "late"
        else:
            v.how = "refused_ticket"
            v.refusal = (
                repr(answer)
                + f" at {clock.now() - site.queue.hold_minutes * 0:.0f} call={day.calls.get(v.code)}"
            )
    finally:
        day.seated.discard(station)


async def participants(day: Day, booking_id: str, claim: int, rng: random.Random) -> None:
    """A workshop's participants sit at ``claim`` of its stations soon after it starts."""
    site, clock = day.app[keys.SITE], day.clock
    occ = next(o for o in site.occurrences(clock.now()) if o.booking_id == booking_id)
    await clock.sleep(max(0.0, occ.start - clock.now()))
    occ = next(o for o in site.occurrences(clock.now()) if o.booking_id == booking_id)
    assert len(occ.stations) == occ.count or occ.count == 0

    async def sit(station: str) -> None:
        await clock.sleep(rng.uniform(60, 300))
        agent = day.agents[station]
        day.seated.add(station)
        for _ in range(10):
            answer = await agent.start_session("fr")
            if isinstance(answer, p.Grant):
                assert answer.origin == "booking"
                day.participants.append((station, answer))
                return
            await clock.sleep(15)
        raise AssertionError(f"{station}: a workshop participant could not start: {answer}")

    await asyncio.gather(*(sit(s) for s in occ.stations[:claim]))


async def watch_queue(day: Day) -> None:
    """The desk's view of the queue, polled through the API: when each code was called, and where."""
    while True:
        status, queue = await day.api("GET", "/api/queue")
        assert status == 200
        for c in queue["called"]:
            day.calls.setdefault(c["code"], (c["called"], c["station"]))
        status, public = await day.api("GET", "/api/public/now-serving")
        assert status == 200
        await asyncio.sleep(0.03)  # real time: a hold lasts 5 virtual minutes = 0.33 s


async def test_a_busy_thursday(tmp_path: Path) -> None:
    real_start = time.monotonic()
    rng = random.Random(20261119)
    settings = make_settings(database=str(tmp_path / "espace.db"))
    clock = ScaledClock(at("08:50"), SPEED)
    controller = await serve(create_app(settings, clock))
    app, base, store = controller.app, controller.url, controller.app[keys.STORE]
    tokens = await controller.add_stations()
    agents: dict[str, Agent] = {}
    idles: dict[str, SimIdle] = {}
    for spec in settings.stations:
        idles[spec.id] = SimIdle(clock)
        agents[spec.id] = Agent(
            spec.id, tokens[spec.id], controller.ws_url, Outbox(":memory:"), clock=clock,
            probes=Probes(idle=idles[spec.id], prints=FakePrints(), reset=FakeResetter()), heartbeat_s=2.0,
            print_poll_s=5.0,
        )  # fmt: skip
    tasks: list[asyncio.Task[Any]] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        day = Day(app, clock, agents, idles, http, base)
        try:
            await asyncio.gather(*(a.start() for a in agents.values()))
            await wait_for(
                lambda: all(a.connected.is_set() for a in agents.values()),
                30,
                "61 agents to connect",
            )
            if AUTH in app:  # the desk logs in as a steward
                await store.write(
                    lambda db: staff.add_staff(db, "desk", PASSWORD, "steward", "fr", clock.now())
                )
                async with http.post(
                    base + "/login", json={"login": "desk", "password": PASSWORD}
                ) as r:
                    assert r.status == 200
                    day.headers = {"X-CSRF-Token": (await r.json())["me"]["csrf"]}
            status, cv = await day.api("POST", "/api/bookings", json={
                "label": "Atelier CV", "start": f"{DAY}T10:30", "end": f"{DAY}T12:00",
                "stations": [f"PC-{n:02d}" for n in range(1, 11)],
            })  # fmt: skip
            assert status == 201, cv
            status, school = await day.api("POST", "/api/bookings", json={
                "label": "Visite scolaire", "start": f"{DAY}T14:00", "end": f"{DAY}T15:30", "kind": "tablet", "count": 12,
            })  # fmt: skip
            assert status == 201, school
            visits = plan(rng)
            tasks.append(asyncio.create_task(watch_queue(day)))
            tasks.append(asyncio.create_task(participants(day, cv["id"], 8, rng)))
            tasks.append(asyncio.create_task(participants(day, school["id"], 10, rng)))
            tasks += [asyncio.create_task(visitor(day, v, random.Random(v.n))) for v in visits]
            # every session before 19:00 needs at most an hour; run on to 19:03
            await clock.sleep(at("19:03") - clock.now())
            pending = [t for t in tasks[1:] if not t.done()]
            assert not pending, f"{len(pending)} visitors still busy after closing"
            for t in tasks[1:]:
                t.result()  # a visitor's failed assertion fails the day

            async def drained() -> bool:
                for a in agents.values():
                    if await a.outbox.pending():
                        return False
                return True

            await wait_for(drained, 30, "every agent's outbox to drain")
            await app[keys.SITE].sweep()
            real = time.monotonic() - real_start
            await check_figures(day, visits, cv, school, real, tmp_path)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await asyncio.gather(*(a.stop() for a in agents.values()), return_exceptions=True)
            await controller.close()


async def check_figures(
    day: Day, visits: list[Visit], cv: dict, school: dict, real_s: float, tmp: Path
) -> None:
    store = day.app[keys.STORE]
    rows = await store.read(
        lambda db: [dict(r) for r in db.query("SELECT * FROM sessions ORDER BY start")]
    )
    waits = await store.read(lambda db: [dict(r) for r in db.query("SELECT * FROM queue_waits")])
    left = await store.read(
        lambda db: db.execute("SELECT COUNT(*) FROM queue_tickets").fetchone()[0]
    )
    holds = await store.read(lambda db: [dict(r) for r in db.query("SELECT * FROM booking_holds")])
    last_calls = await store.read(
        lambda db: {
            r["session_id"]
            for r in db.query("SELECT session_id FROM events WHERE type = 'site.last_call'")
        }
    )
    by_id = {r["id"]: r for r in rows}
    how = Counter(v.how for v in visits)
    served = [v for v in visits if v.grant is not None]

    # every arrival is accounted for, and every grant is one session in the store
    assert sum(how.values()) == ARRIVALS
    assert "" not in how, how
    assert how["refused_ticket"] == 0, [
        (v.code, v.arrival, v.refusal) for v in visits if v.refusal
    ][:5]
    assert len(rows) == len(served) + len(day.participants)
    assert {v.grant.session_id for v in served} | {
        g.session_id for _, g in day.participants
    } == set(by_id)
    assert all(r["end"] is not None for r in rows)
    assert Counter(r["origin"] for r in rows) == {
        "walkup": how["walkup"], "ticket": how["ticket"], "booking": len(day.participants)
    }  # fmt: skip

    # no session past closing: granted to 19:00 at the latest, ended then
    assert (
        max(r["planned_end"] for r in rows)
        <= day.app[keys.SITE].hours.closing_after(at("18:00"))
        == at("19:00")
    )
    late = [(r["station"], r["end_reason"], r["end"] - r["planned_end"]) for r in rows if r["end"] > r["planned_end"] + SLACK_S]
    assert not late, f"ended more than {SLACK_S:.0f} virtual s after their planned end (station, end reason, s late): {late}"

    # never two sessions on one station at once
    per_station: dict[str, list[dict]] = {}
    for r in rows:
        per_station.setdefault(r["station"], []).append(r)
    for station, rs in per_station.items():
        for a, b in zip(rs, rs[1:], strict=False):
            assert b["start"] >= a["end"], f"{station}: {a['id']} and {b['id']} overlap"

    # none overlaps a booking on its station (bar the booking's own sessions)
    site = day.app[keys.SITE]
    occs = [o for o in site.occurrences(at("12:00")) if o.start < at("23:00")]
    assert {o.booking_id for o in occs} == {cv["id"], school["id"]}
    for occ in occs:
        for station in occ.stations:
            if (occ.key, station) in site.released:
                continue  # released: walk-ups may have it from then on
            for r in per_station.get(station, []):
                if r["origin"] == "booking":
                    assert occ.start - 10 * 60 <= r["start"]
                    assert r["planned_end"] <= occ.end
                else:
                    assert r["planned_end"] <= occ.start or r["start"] >= occ.end, (station, r)
                    assert r["end"] <= occ.start + SLACK_S or r["start"] >= occ.end
    school_occ = next(o for o in occs if o.booking_id == school["id"])
    assert len(school_occ.stations) == 12
    assert all(
        s.startswith("TAB-") and s != "TAB-16" for s in school_occ.stations
    )  # the accessible one spared
    released = Counter(h["occurrence"].split("@")[0] for h in holds if h["state"] == "released")
    assert released == {cv["id"]: 2, school["id"]: 2}  # 8 of 10 and 10 of 12 claimed
    assert Counter(h["occurrence"].split("@")[0] for h in holds if h["state"] == "claimed") == {
        cv["id"]: 8,
        school["id"]: 10,
    }

    # each session ended as the rules predict: visitor, idle, or its grant's cause
    reasons = Counter(r["end_reason"] for r in rows)
    checked = mismatched = 0
    for v in served:
        r = by_id[v.grant.session_id]
        assert r["cause"] == v.grant.cause
        if v.ambiguous:
            continue
        checked += 1
        if r["end_reason"] != v.predicted:
            mismatched += 1
    assert mismatched == 0
    assert checked > 0.8 * len(served)
    cut = [r for r in rows if r["cause"] == "booking"]
    assert cut, "some walk-up grants were cut to a workshop"
    assert all(r["end_reason"] in ("booking", "visitor", "idle") for r in cut)
    assert any(r["end_reason"] == "booking" for r in cut)
    assert all(r["end_reason"] == "time" for r in rows if r["origin"] == "booking")
    at_closing = [r for r in rows if r["planned_end"] == at("19:00")]
    assert all(r["cause"] == "closing" for r in at_closing)
    assert reasons["closing"] == sum(1 for r in at_closing if r["end_reason"] == "closing") > 0
    running_at_last_call = {r["id"] for r in rows if r["start"] <= at("18:45") < r["end"]}
    assert running_at_last_call <= last_calls  # every station in session got the last call

    # the queue: served in issue order within each need, claimed = ticket sessions, forgotten at closing
    issued = sorted(day.issued)
    live = day.app[keys.FLOOR].live
    accessible_stations = {sid for sid, st in live.items() if st.spec.accessible}
    for need in (False, True):
        mine = [code for _, code, acc in issued if acc == need]
        called_flags = [code in day.calls for code in mine]
        first_uncalled = called_flags.index(False) if False in called_flags else len(called_flags)
        assert not any(called_flags[first_uncalled:]), (
            "a later ticket was called before an earlier one"
        )
        called_order = sorted((c for c in mine if c in day.calls), key=lambda c: day.calls[c][0])
        assert called_order == [c for c in mine if c in day.calls]
        if need:  # an accessible ticket waits for an accessible station
            assert all(day.calls[c][1] in accessible_stations for c in called_order)
    ordinary_on_accessible = sum(
        1
        for _, code, acc in issued
        if not acc and code in day.calls and day.calls[code][1] in accessible_stations
    )
    outcomes = Counter(w["outcome"] for w in waits)
    assert outcomes["claimed"] == how["ticket"]
    assert outcomes["no_show"] == how["late"] + sum(
        1 for v in visits if v.how == "no_show" and v.code in day.calls
    )
    assert how["late"] <= how["ticket"] // 4, "the machine stalled too many visitors to judge the queue"
    assert outcomes["closed"] == how["closed"] + sum(
        1 for v in visits if v.how == "no_show" and v.code not in day.calls
    )
    assert sum(outcomes.values()) == len(issued)
    assert left == 0
    assert how["ticket"] > 20, "the day was busy enough to need the queue"
    assert outcomes["closed"] > 0, "some tickets were still waiting at 19:00"

    figures = {
        "arrivals": ARRIVALS, "visits": dict(how), "sessions": len(rows), "by_origin": dict(Counter(r["origin"] for r in rows)),
        "by_end_reason": dict(reasons), "by_cause": dict(Counter(r["cause"] for r in rows)),
        "tickets": len(issued), "accessible_tickets": sum(1 for *_, acc in issued if acc),
        "ordinary_tickets_on_accessible_stations": ordinary_on_accessible, "queue_waits": dict(outcomes),
        "mean_wait_min": round(sum(w["served"] - w["issued"] for w in waits if w["served"]) / max(1, outcomes["claimed"]) / 60, 1),
        "predictions_checked": checked, "released": dict(released), "last_calls": len(last_calls), "real_seconds": round(real_s, 1),
    }  # fmt: skip
    (tmp / "figures.json").write_text(json.dumps(figures, indent=2))
    print("\nbusy Thursday:", json.dumps(figures))
