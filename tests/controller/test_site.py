"""The site's live rules on a manual clock: bookings, the queue, the accessible rule, closing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from controller.floor.floor import Floor
from controller.rules import Booking, BookingError, Extension, ExtensionRefused
from controller.sessions import build_rules, decide_start
from controller.settings import make_settings
from controller.site import Site, extension_for
from controller.store import Store
from espace import protocol as p
from espace.clock import ManualClock, parse_instant
from tests.support.procs import wait_for

STATIONS = [
    {"id": "PC-01", "kind": "pc", "zone": "a"},
    {"id": "PC-02", "kind": "pc", "zone": "a"},
    {"id": "PC-03", "kind": "pc", "zone": "a"},
    {"id": "PC-45", "kind": "pc", "zone": "a", "accessible": True},
]


def at(hhmm: str) -> float:
    return parse_instant(f"2026-11-19T{hhmm}")  # a Thursday: open 9:00-19:00


class World:
    def __init__(self, tmp: Path) -> None:
        self.settings = make_settings(database=str(tmp / "db"), stations=STATIONS)
        self.clock = ManualClock(at("10:00"))
        self.store = Store(self.settings.database)
        self.floor = Floor(self.settings, self.clock)
        self.site = Site(self.settings, self.clock, self.store, self.floor)
        for live in self.floor.live.values():
            live.connected = True

    async def open(self) -> None:
        await self.store.open()
        await self.store.write(lambda db: db.conn.executemany(
            "INSERT INTO stations (id, kind, accessible, created) VALUES (?,?,?,0)",
            [(s["id"], s["kind"], int(s.get("accessible", False))) for s in STATIONS],
        ))  # fmt: skip
        await self.site.start(sweeper=False)

    async def goto(self, hhmm: str) -> None:
        self.clock.set(at(hhmm))
        await self.site.sweep()
        await settle()

    def start(self, station: str, ticket: str | None = None, dry_run: bool = False):
        req = p.StartRequest(request=p.new_id(), ticket=ticket, dry_run=dry_run)
        d = decide_start(self.site, self.floor.live[station], req, self.clock.now())
        return d.grant or d.refuse

    def occupy(self, station: str, minutes: float = 60) -> None:
        now = self.clock.now()
        self.floor.event(station, p.SessionStarted(
            id=p.new_id(), seq=1, at=now, session_id=p.new_id(), start=now, end=now + minutes * 60))  # fmt: skip

    def free(self, station: str) -> None:
        live = self.floor.live[station]
        live.session = None
        live.resetting = False
        self.floor.changed(station)

    def rows(self, sql: str) -> list[tuple]:
        return self.store._wdb.conn.execute(sql).fetchall()  # type: ignore[union-attr]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def world(tmp_path: Path):
    w = World(tmp_path)
    await w.open()
    yield w
    await w.site.stop()
    await w.store.close()


# ---------------------------------------------------------------- bookings


async def test_a_named_booking_cuts_walkups_reserves_and_is_claimed(world: World):
    b = Booking("cv", "Atelier CV", at("11:00"), at("12:00"), stations=("PC-01",))
    await world.site.add_booking(b)
    await world.goto("10:30")
    g = world.start("PC-01", dry_run=True)
    assert isinstance(g, p.Grant)
    assert (g.end, g.cause, g.label) == (at("11:00"), "booking", "Atelier CV")
    assert [
        (s.start, s.label) for s in build_rules(world.site, "PC-01", world.clock.now()).bookings
    ] == [(at("11:00"), "Atelier CV")]
    assert build_rules(world.site, "PC-02", world.clock.now()).bookings == []

    await world.goto("10:49")
    assert world.floor.live["PC-01"].reserved_for is None
    await world.goto("10:50")  # booking_lead_minutes = 10
    assert world.floor.live["PC-01"].reserved_for == "Atelier CV"
    g = world.start("PC-01")
    assert isinstance(g, p.Grant)
    assert g.origin == "booking"
    assert g.end == at("12:00")
    world.occupy("PC-01", 70)  # the workshop's participant starts
    await world.goto("11:20")
    assert world.site.released == set()
    assert world.rows("SELECT station, state FROM booking_holds") == [("PC-01", "claimed")]


async def test_an_unclaimed_booking_is_released_15_minutes_after_its_start(world: World):
    await world.site.add_booking(
        Booking("v", "Visite", at("11:00"), at("12:00"), stations=("PC-01", "PC-02"))
    )
    await world.goto("11:05")
    world.occupy("PC-02")  # one pupil came
    assert world.floor.live["PC-01"].reserved_for == "Visite"
    assert isinstance(world.start("PC-01", dry_run=True), p.Grant)  # booking session offered
    await world.goto("11:14")
    assert world.site.released == set()
    await world.goto("11:15")
    assert world.site.released == {("v@" + str(round(at("11:00"))), "PC-01")}
    assert world.floor.live["PC-01"].reserved_for is None
    g = world.start("PC-01", dry_run=True)
    assert isinstance(g, p.Grant)
    assert g.origin == "walkup"
    assert g.cause == "length"
    assert build_rules(world.site, "PC-01", world.clock.now()).bookings == []


async def test_a_count_booking_is_assigned_lead_plus_session_before_and_prefers_free_stations(
    world: World,
):
    world.occupy("PC-01", 60)  # busy until 11:55
    await world.site.add_booking(
        Booking("s", "School", at("12:10"), at("13:00"), kind="pc", count=2)
    )
    await world.goto("10:54")  # due at 12:10 - 10 - 60 = 11:00
    assert world.site.occurrences(world.clock.now())[0].stations == ()
    await world.goto("11:00")
    assert world.site.occurrences(world.clock.now())[0].stations == ("PC-02", "PC-03")
    g = world.start("PC-02", dry_run=True)
    assert isinstance(g, p.Grant)
    assert g.end == at("12:00")
    assert g.cause == "length"
    await world.goto("11:20")
    g = world.start("PC-02", dry_run=True)
    assert isinstance(g, p.Grant)
    assert g.end == at("12:10")
    assert g.cause == "booking"
    held = sorted(world.rows("SELECT station FROM booking_holds WHERE state = 'assigned'"))
    assert held == [("PC-02",), ("PC-03",)]


async def test_a_walkup_session_running_into_a_late_booking_is_ended_with_reason_booking(
    world: World,
):
    world.occupy("PC-03", 60)
    sent: list[p.Command] = []

    async def command(station, cmd, timeout=5.0):  # noqa: ASYNC109 - Floor.command's signature
        sent.append(cmd)

    world.floor.command = command  # type: ignore[method-assign]  # the seam to the agents
    await world.site.add_booking(
        Booking("late", "Late", at("10:30"), at("11:00"), stations=("PC-03",))
    )
    await world.goto("10:29")
    assert not any(isinstance(c, p.EndSession) for c in sent)
    await world.goto("10:30")
    await settle()
    ends = [c for c in sent if isinstance(c, p.EndSession)]
    assert len(ends) == 1
    assert ends[0].reason == "booking"


async def test_a_clashing_named_booking_is_refused(world: World):
    await world.site.add_booking(Booking("a", "A", at("14:00"), at("15:00"), stations=("PC-01",)))
    with pytest.raises(ValueError, match="already booked"):
        await world.site.add_booking(
            Booking("b", "B", at("14:30"), at("15:30"), stations=("PC-01", "PC-02"))
        )
    with pytest.raises(ValueError, match="unknown station"):
        await world.site.add_booking(
            Booking("c", "C", at("14:30"), at("15:30"), stations=("PC-99",))
        )


async def test_each_refused_booking_says_its_code_and_params(world: World):
    """The desk shows these in the steward's language: the code and params must say it all."""
    await world.site.add_booking(Booking("a", "Atelier CV", at("14:00"), at("15:00"), stations=("PC-01",)))
    await world.site.add_booking(Booking("b", "", at("14:30"), at("16:00"), kind="pc", count=2))
    refused = {
        "unknown_stations": (
            Booking("u", "U", at("14:30"), at("15:30"), stations=("PC-99", "PC-98")),
            {"stations": "PC-99, PC-98"},
        ),
        "too_few_stations": (
            Booking("t", "T", at("14:30"), at("15:30"), kind="tablet", count=3),
            {"available": 0, "asked": 3},
        ),
        "over": (Booking("o", "O", at("08:00"), at("09:00"), stations=("PC-03",)), {}),
        "station_booked": (
            Booking("c", "C", at("14:30"), at("15:30"), stations=("PC-01", "PC-02")),
            {"stations": "PC-01", "label": "Atelier CV", "booking_id": "a"},
        ),
        "not_enough_free": (
            Booking("n", "N", at("14:45"), at("15:15"), kind="pc", count=2),
            {"free": 1, "asked": 2, "start": at("14:45"), "end": at("15:15")},
        ),
    }
    for code, (booking, params) in refused.items():
        with pytest.raises(BookingError) as caught:
            await world.site.add_booking(booking)
        assert (caught.value.code, caught.value.params) == (code, params)
    assert set(world.site.bookings) == {"a", "b"}  # nothing refused was stored
    await world.site.add_booking(Booking("x", "", at("17:00"), at("18:00"), stations=("PC-03",)))
    with pytest.raises(BookingError) as caught:  # a booking without a label is named by its id
        await world.site.add_booking(Booking("y", "Y", at("17:30"), at("18:30"), stations=("PC-03",)))
    assert caught.value.params["label"] == "x"


# ---------------------------------------------------------------- the queue


async def test_a_freed_station_is_held_for_the_next_ticket_which_claims_it(world: World):
    for s in ("PC-01", "PC-02", "PC-03", "PC-45"):
        world.occupy(s)
    first = world.site.issue_ticket()
    second = world.site.issue_ticket()
    await world.site.flush()
    assert world.rows("SELECT code FROM queue_tickets ORDER BY issued") == [
        (first.code,),
        (second.code,),
    ]
    world.free("PC-02")
    await settle()
    assert world.site.queue.now_serving() == [(first.code, "PC-02")]
    assert world.floor.live["PC-02"].reserved_for == f"ticket {first.code}"
    refused = world.start("PC-02")
    assert isinstance(refused, p.Refuse)
    assert refused.reason == "reserved"
    refused = world.start("PC-02", ticket=second.code)
    assert isinstance(refused, p.Refuse)
    assert refused.reason == "bad_ticket"
    g = world.start("PC-02", ticket=first.code.lower())
    assert isinstance(g, p.Grant)
    assert g.origin == "ticket"
    await world.site.flush()
    assert world.rows("SELECT outcome, served FROM queue_waits") == [("claimed", world.clock.now())]
    assert world.rows("SELECT code FROM queue_tickets") == [(second.code,)]


async def test_a_no_show_moves_on_to_the_next_ticket(world: World):
    for s in ("PC-01", "PC-02", "PC-03", "PC-45"):
        world.occupy(s)
    first, second = world.site.issue_ticket(), world.site.issue_ticket()
    world.free("PC-01")
    await settle()
    assert world.site.queue.now_serving() == [(first.code, "PC-01")]
    await world.goto("10:04")
    assert world.site.queue.now_serving() == [(first.code, "PC-01")]
    await world.goto("10:05")  # queue_hold_minutes = 5
    assert world.site.queue.now_serving() == [(second.code, "PC-01")]
    assert world.floor.live["PC-01"].reserved_for == f"ticket {second.code}"
    assert world.rows("SELECT outcome FROM queue_waits") == [("no_show",)]
    refused = world.start("PC-01", ticket=first.code)
    assert isinstance(refused, p.Refuse)
    assert refused.reason == "bad_ticket"


async def test_tickets_are_forgotten_at_closing(world: World):
    for s in ("PC-01", "PC-02", "PC-03", "PC-45"):
        world.occupy(s, 30)
    world.site.issue_ticket()
    world.site.issue_ticket(accessible=True)
    await world.site.flush()
    assert len(world.rows("SELECT * FROM queue_tickets")) == 2
    await world.goto("18:59")
    assert len(world.rows("SELECT * FROM queue_tickets")) == 2
    await world.goto("19:00")
    assert world.rows("SELECT * FROM queue_tickets") == []
    assert sorted(world.rows("SELECT outcome, served FROM queue_waits")) == [
        ("closed", None),
        ("closed", None),
    ]
    assert world.site.queue.tickets() == []


async def test_the_queue_survives_a_restart(world: World, tmp_path: Path):
    for s in ("PC-01", "PC-02", "PC-03", "PC-45"):
        world.occupy(s)
    t1, t2 = world.site.issue_ticket(), world.site.issue_ticket()
    world.free("PC-03")
    await settle()
    await world.site.flush()
    again = Site(world.settings, world.clock, world.store, Floor(world.settings, world.clock))
    await again.start(sweeper=False)
    assert again.queue.now_serving() == [(t1.code, "PC-03")]
    assert [t.code for t in again.queue.waiting()] == [t2.code]
    await again.stop()


async def test_no_ticket_is_called_to_a_station_whose_booking_is_too_close(world: World):
    for s in ("PC-02", "PC-03", "PC-45"):
        world.occupy(s)
    await world.site.add_booking(Booking("b", "B", at("10:13"), at("11:00"), stations=("PC-01",)))
    world.site.issue_ticket()
    await world.goto("10:01")  # PC-01 free, but the booking's lead time is 2 minutes away
    assert world.site.queue.now_serving() != []  # 12 minutes left: more than min_session_minutes
    world.site.cancel_ticket(world.site.queue.now_serving()[0][0])
    world.site.issue_ticket()
    await world.goto("10:09")
    assert world.site.queue.now_serving() == []  # reserved for the booking now


# ---------------------------------------------------------------- the accessible rule


async def test_the_accessible_station_goes_to_an_accessible_ticket_or_when_nothing_else_is_free(
    world: World,
):
    for s in ("PC-01", "PC-02", "PC-03", "PC-45"):
        world.occupy(s)
    needs = world.site.issue_ticket(accessible=True)
    world.free("PC-01")
    await settle()
    assert world.site.queue.now_serving() == []  # an ordinary station is no use to them
    ordinary = world.site.issue_ticket()
    assert world.site.queue.now_serving() == [(ordinary.code, "PC-01")]
    world.free("PC-45")
    await settle()
    assert (needs.code, "PC-45") in world.site.queue.now_serving()


async def test_an_ordinary_ticket_gets_the_accessible_station_only_when_nothing_else_is_free(
    world: World,
):
    world.occupy("PC-01")
    world.occupy("PC-02")
    first, second = world.site.issue_ticket(), world.site.issue_ticket()
    # PC-03 and PC-45 are free: the first ticket goes to PC-03, and then nothing else is free
    assert world.site.queue.now_serving() == [(first.code, "PC-03"), (second.code, "PC-45")]


async def test_a_walkup_on_the_accessible_station_is_fine_while_only_ordinary_tickets_wait(
    world: World,
):
    for s in ("PC-01", "PC-02"):
        world.occupy(s)
    world.site.issue_ticket()  # goes to PC-03
    assert world.site.queue.now_serving()[0][1] == "PC-03"
    ticket = world.site.issue_ticket()  # PC-45 is the only free one: it is called there
    assert world.site.queue.now_serving()[1] == (ticket.code, "PC-45")
    refused = world.start("PC-45")
    assert isinstance(refused, p.Refuse)
    assert refused.reason == "reserved"


# ---------------------------------------------------------------- closing, extensions


async def test_grants_near_closing_carry_cause_closing_and_every_session_gets_a_last_call(
    world: World,
):
    await world.goto("18:30")
    g = world.start("PC-01", dry_run=True)
    assert isinstance(g, p.Grant)
    assert (g.end, g.cause) == (at("19:00"), "closing")
    world.occupy("PC-01", 30)
    world.occupy("PC-02", 20)
    await world.goto("18:44")
    assert world.rows("SELECT * FROM events WHERE type = 'site.last_call'") == []
    await world.goto("18:45")  # last_call_minutes = 15
    await wait_for(
        lambda: world.rows("SELECT * FROM events WHERE type = 'site.last_call'"),
        5,
        "last call rows",
    )
    rows = world.rows(
        "SELECT station, body FROM events WHERE type = 'site.last_call' ORDER BY station"
    )
    assert [r[0] for r in rows] == ["PC-01", "PC-02"]
    assert json.loads(rows[0][1])["closing"] == at("19:00")
    await world.goto("18:56")
    refused = world.start("PC-03")
    assert isinstance(refused, p.Refuse)
    assert refused.reason == "no_time"


async def test_extension_for_follows_queue_booking_and_override(world: World):
    world.occupy("PC-01", 60)
    d = extension_for(world.site, "PC-01", world.clock.now())
    assert isinstance(d, Extension)
    assert d.end == at("11:30")
    assert isinstance(extension_for(world.site, "PC-02", world.clock.now()), ExtensionRefused)
    for s in ("PC-02", "PC-03", "PC-45"):
        world.occupy(s)
    world.site.issue_ticket()
    d = extension_for(world.site, "PC-01", world.clock.now())
    assert d == ExtensionRefused("queue")
    d = extension_for(world.site, "PC-01", world.clock.now(), override=True, actor="marie")
    assert isinstance(d, Extension)
    assert d.bypassed == ("queue",)
    await world.site.flush()
    assert world.rows(
        "SELECT actor, station FROM events WHERE type = 'site.extension_override'"
    ) == [("marie", "PC-01")]
    await world.site.add_booking(Booking("b", "B", at("11:15"), at("12:00"), stations=("PC-01",)))
    assert extension_for(world.site, "PC-01", world.clock.now(), override=True) == ExtensionRefused(
        "booking"
    )


async def test_the_sweeper_runs_on_the_injected_clock(tmp_path: Path):
    w = World(tmp_path)
    await w.store.open()
    await w.site.start(sweeper=True)
    try:
        for s in ("PC-01", "PC-02", "PC-03", "PC-45"):
            w.occupy(s)
        w.site.issue_ticket()
        w.free("PC-01")
        await settle()
        assert w.site.queue.now_serving() != []
        hold_until = next(iter(w.site.queue.held_stations().values())).hold_until

        async def expired() -> bool:
            await w.clock.advance(30)  # the sweeper's writes run on the store's thread meanwhile
            return w.site.queue.now_serving() == []

        await wait_for(expired, 10, "the sweeper to expire the call")  # by the sweeper alone
        assert hold_until <= w.clock.now() <= hold_until + 2 * 60
        await wait_for(
            lambda: w.rows("SELECT outcome FROM queue_waits") == [("no_show",)],
            5,
            "the no-show record",
        )
    finally:
        await w.site.stop()
        await w.store.close()


async def test_a_station_granted_but_not_yet_started_is_neither_granted_again_nor_called(
    world: World,
):
    for s in ("PC-02", "PC-03", "PC-45"):
        world.occupy(s)
    g = world.start("PC-01")  # the grant is out; its session_started is still on its way
    assert isinstance(g, p.Grant)
    again = world.start("PC-01")
    assert isinstance(again, p.Refuse)
    assert again.reason == "busy"
    world.site.issue_ticket()
    assert world.site.queue.now_serving() == []  # not offered to the queue meanwhile
    world.occupy("PC-01")  # the session_started arrives
    assert not world.site.starting("PC-01")


async def test_no_ticket_is_called_when_the_visitor_could_not_get_minimum_time_by_the_hold_end(
    world: World,
):
    for s in ("PC-01", "PC-02", "PC-03", "PC-45"):
        world.occupy(s, 5)
    await world.goto("18:49")
    world.site.issue_ticket()
    world.free("PC-01")
    await settle()
    assert world.site.queue.now_serving() != []  # 18:54 + 5 min still fits before 19:00
    await world.goto("18:51")
    second = world.site.issue_ticket()
    world.free("PC-02")
    await settle()
    assert second.code not in dict(world.site.queue.now_serving())


async def test_a_count_booking_needs_enough_stations_left_by_the_other_bookings(world: World):
    await world.site.add_booking(Booking("a", "A", at("14:00"), at("15:00"), stations=("PC-01",)))
    await world.site.add_booking(Booking("b", "B", at("14:30"), at("16:00"), kind="pc", count=2))
    with pytest.raises(ValueError, match="only 1 matching"):
        await world.site.add_booking(
            Booking("c", "C", at("14:45"), at("15:15"), kind="pc", count=2)
        )
    await world.site.add_booking(Booking("d", "D", at("16:00"), at("17:00"), kind="pc", count=4))


async def test_a_booking_far_ahead_is_checked_around_its_own_dates_not_from_today(world: World, monkeypatch):
    """Checking a booking in 2099 must not expand every weekly booking from today to 2099 on the event loop."""
    import controller.site as site_module

    windows: list[float] = []
    real = site_module.occurrences

    def spy(bookings, start, end, tz):  # type: ignore[no-untyped-def]
        windows.append(end - start)
        return real(bookings, start, end, tz)

    monkeypatch.setattr(site_module, "occurrences", spy)
    for i, day in enumerate(("mon", "tue", "wed")):
        await world.site.add_booking(
            Booking(f"w{i}", "workshop", at("10:00"), at("11:00"), stations=(f"PC-0{i + 1}",), recurrence=f"weekly:{day}")
        )
    far = parse_instant("2099-03-03T10:00")
    await world.site.add_booking(Booking("far", "far ahead", far, far + 3600, stations=("PC-01",), recurrence="weekly:tue"))
    assert max(windows) <= 63 * 86400  # two months past the booking, wherever it lies
    with pytest.raises(ValueError, match="already booked"):  # and a clash there is still found
        await world.site.add_booking(Booking("far2", "clash", far + 7 * 86400, far + 7 * 86400 + 1800, stations=("PC-01",)))


async def test_every_connected_station_gets_fresh_rules_on_a_new_day(world: World):
    sent: list[tuple[str, p.Command]] = []

    async def command(station, cmd):
        sent.append((station, cmd))

    world.floor.command = command  # type: ignore[method-assign]
    world.floor.conns["PC-01"] = object()  # type: ignore[assignment]  # only PC-01 is connected
    await world.goto("18:00")
    assert not [c for _, c in sent if isinstance(c, p.RulesUpdate)]
    world.clock.set(parse_instant("2026-11-20T08:00"))
    await world.site.sweep()
    await settle()
    updates = [(s, c) for s, c in sent if isinstance(c, p.RulesUpdate)]
    assert [s for s, _ in updates] == ["PC-01"]
    assert updates[0][1].rules.open_slots[0].start == parse_instant("2026-11-20T09:00")
