"""Invariants of the rules, with hypothesis.

* no grant (or extension) runs past closing;
* none overlaps a booking on its station;
* never two sessions on one station;
* the queue is served in issue order within each need;
* the accessible-station rule holds, for the queue and for the desk;
* never two calls (or claims) for one station.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.rules import (
    Booking,
    Extension,
    Grant,
    OpeningHours,
    Station,
    TicketQueue,
    accessible_rule_allows,
    decide_extension,
    decide_grant,
    next_booking_start,
    occurrences,
    pick_station,
    reserved_stations,
)

BXL = ZoneInfo("Europe/Brussels")
# weeks around the 2026 DST changes, and an ordinary one
WEEKS = [date(2026, 3, 23), date(2026, 10, 19), date(2026, 11, 16)]


def at(day: date, minute: int) -> float:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=BXL).timestamp()


@st.composite
def day_ranges(draw):
    marks = draw(st.lists(st.integers(0, 1439), min_size=0, max_size=4, unique=True))
    marks = sorted(marks)[: len(marks) // 2 * 2]
    return [
        (time(a // 60, a % 60), time(b // 60, b % 60))
        for a, b in zip(marks[::2], marks[1::2], strict=True)
    ]


@st.composite
def opening_hours(draw):
    weekly = {d: draw(day_ranges()) for d in range(7)}
    exceptions = {
        day: draw(day_ranges())
        for day in (date(2026, 3, 29), date(2026, 10, 25))
        if draw(st.booleans())
    }
    return OpeningHours(weekly, exceptions)


@st.composite
def instants(draw, days: int = 7):
    """Any second of a week; often a whole minute, so that ties with closing come up."""
    week = draw(st.sampled_from(WEEKS))
    if draw(st.booleans()):
        return at(week, 0) + draw(st.integers(0, days * 1440 - 1)) * 60
    return at(week, 0) + draw(st.integers(0, days * 86400 - 1))


@st.composite
def near(draw, target: float):
    """An instant a few minutes (or seconds) around ``target``: where ties hide."""
    return target + draw(st.integers(-3, 3)) * 60 + draw(st.sampled_from([0, 0, -1, 1]))


@settings(max_examples=300)
@given(hours=opening_hours(), now=instants(), minutes=st.integers(1, 300), data=st.data())
def test_no_grant_runs_past_closing_and_open_stations_are_granted(hours, now, minutes, data):
    week = hours.local_date(now) - timedelta(days=hours.local_date(now).weekday())
    slots = [slot for i in range(7) for slot in hours.slots_on(week + timedelta(days=i))]
    if slots and data.draw(st.booleans(), "session ends near closing"):
        opens, closes = data.draw(st.sampled_from(slots), "slot")
        now = min(max(opens, data.draw(near(closes - minutes * 60), "now")), closes - 1)
    booking = data.draw(
        st.none()
        | st.builds(lambda d: (now + d, "Atelier"), st.integers(-3600, 6 * 3600))
        | near(now + minutes * 60).map(lambda t: (t, "Atelier")),
        "booking",
    )
    g = decide_grant(
        now,
        "PC-01",
        session_minutes=minutes,
        hours=hours,
        next_booking=booking,
        reserved_for=None,
        locked=False,
        busy=False,
    )
    closing = hours.closing_after(now)
    if isinstance(g, Grant):
        assert closing is not None
        assert g.start == now
        assert g.end <= closing
        assert g.end <= now + minutes * 60
        assert g.end - g.start >= 5 * 60
        assert hours.is_open(g.end - 1)
        assert booking is None or g.end <= booking[0]
        expected_end = min(x for x in (now + minutes * 60, closing, booking and booking[0]) if x)
        assert g.end == expected_end
    elif closing is None:
        assert g.reason == "closed"
        assert not hours.is_open(now)
    else:
        assert g.reason in ("no_time", "reserved")
        if g.reason == "reserved":
            assert booking is not None
            assert booking[0] <= now
        else:
            cut = min(closing, now + minutes * 60, booking[0] if booking else closing)
            assert cut - now < 5 * 60


STATIONS = ("S1", "S2", "S3")


@st.composite
def bookings(draw, day: date):
    """Bookings on the floor day (some recurring from earlier weeks), on 1 to 3 stations."""
    out = []
    for i in range(draw(st.integers(0, 6))):
        recurrence = draw(st.sampled_from([None, None, "daily", "weekly:thu", "monthly:-1:thu"]))
        first = day - timedelta(days=draw(st.integers(0, 40)) if recurrence else 0)
        start = at(first, draw(st.integers(8 * 12, 19 * 12)) * 5)
        length = draw(st.integers(1, 16)) * 900
        stations = tuple(sorted(draw(st.sets(st.sampled_from(STATIONS), min_size=1))))
        out.append(
            Booking(f"b{i}", f"Atelier {i}", start, start + length, stations, recurrence=recurrence)
        )
    return out


@st.composite
def floor_day(draw):
    week = draw(st.sampled_from(WEEKS))
    day = week + timedelta(days=draw(st.integers(0, 6)))
    booked = draw(bookings(day))
    arrivals = draw(st.lists(st.integers(7 * 60, 20 * 60), max_size=30))
    for b in booked:  # some visitors come just about a session length before a booking
        start = datetime.fromtimestamp(b.start, BXL)
        offset = draw(st.sampled_from([None, 60, 59, 61, 30, 4]))
        if offset is not None:
            arrivals.append(start.hour * 60 + start.minute - offset)
    visits = [
        (
            at(day, minute),
            draw(st.sampled_from(STATIONS)),
            draw(st.integers(1, 120)),  # minutes the visitor would like to stay
            draw(st.booleans()),  # asks a steward to extend
            draw(st.integers(0, 3)),  # people waiting in the queue then
        )
        for minute in sorted(arrivals)
    ]
    return booked, visits, draw(st.integers(0, 30))


@settings(max_examples=300)
@given(floor_day())
def test_a_day_on_the_floor_never_overlaps_bookings_sessions_or_closing(data):
    booked, visits, lead = data
    hours = OpeningHours.brussels_default()
    horizon = (visits[0][0] - 2 * 86400, visits[-1][0] + 2 * 86400) if visits else (0, 1)
    occs = occurrences(booked, *horizon)
    sessions: dict[str, list[tuple[float, float]]] = {s: [] for s in STATIONS}
    for now, station, stay, wants_more, waiting in visits:
        running = sessions[station][-1] if sessions[station] else None
        held = reserved_stations(occs, now, lead).get(station)
        g = decide_grant(
            now,
            station,
            session_minutes=60,
            hours=hours,
            next_booking=next_booking_start(station, occs, now),
            reserved_for=held.label if held else None,
            locked=False,
            busy=running is not None and now < running[1],
        )
        if not isinstance(g, Grant):
            continue
        end = g.end
        if wants_more:
            ask = g.end - 5 * 60
            nb = next_booking_start(station, occs, ask)
            ext = decide_extension(
                ask,
                g.end,
                extensions_done=0,
                queue_waiting=waiting,
                next_booking_start=nb and nb[0],
                closing=hours.closing_after(ask),
                override=waiting > 1,
            )
            if isinstance(ext, Extension):
                end = ext.end
        end = min(end, now + stay * 60)  # the visitor may leave early
        sessions[station].append((g.start, end))
    for station, runs in sessions.items():
        for start, end in runs:
            closing = hours.closing_after(start)
            assert closing is not None
            assert end <= closing
            for occ in occs:
                if station in occ.stations:
                    assert not (occ.start < end and start < occ.end), (station, start, end, occ)
        for (_, end_a), (start_b, _) in zip(runs, runs[1:], strict=False):
            assert end_a <= start_b  # never two sessions on one station


@given(
    week=st.sampled_from(WEEKS),
    offset_days=st.integers(-14, 6),
    minute=st.integers(6 * 60, 22 * 60),
    length=st.integers(15, 8 * 60),
    weekday=st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
)
def test_recurring_bookings_keep_local_wall_time(week, offset_days, minute, length, weekday):
    length = min(length, 23 * 60 - minute)  # within the day: no end in the 02:00-03:00 spring gap
    day = week + timedelta(days=offset_days)
    start = at(day, minute)
    wall_end = datetime.combine(day, time(minute // 60, minute % 60)) + timedelta(minutes=length)
    b = Booking(
        "w",
        "",
        start,
        wall_end.replace(tzinfo=BXL).timestamp(),
        ("S1",),
        recurrence=f"weekly:{weekday}",
    )
    occs = occurrences([b], start, at(day + timedelta(days=28), 0))
    assert len(occs) == 4  # 28 days hold each weekday four times
    for occ in occs:
        s, e = datetime.fromtimestamp(occ.start, BXL), datetime.fromtimestamp(occ.end, BXL)
        assert (s.hour, s.minute) == (minute // 60, minute % 60)
        assert s.strftime("%a").lower() == weekday
        assert e.replace(tzinfo=None) - s.replace(tzinfo=None) == timedelta(minutes=length)


ORDINARY = ("PC-1", "PC-2", "PC-3")
ACCESSIBLE = "PC-45"

queue_ops = st.lists(
    st.one_of(
        st.tuples(st.just("issue"), st.booleans()),
        st.tuples(st.just("free"), st.sampled_from((*ORDINARY, ACCESSIBLE)), st.booleans()),
        st.tuples(st.just("claim"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("tick"), st.integers(0, 400)),
        st.tuples(st.just("cancel"), st.integers(0, 10)),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(queue_ops, st.randoms(use_true_random=False))
def test_queue_order_accessible_rule_and_one_call_per_station(ops, rng):
    q = TicketQueue(rng=rng)
    now = 1_800_000_000.0
    order: dict[str, int] = {}  # code -> issue rank
    for op in ops:
        if op[0] == "issue":
            t = q.issue(now, accessible=op[1])
            assert t.code not in order  # never a code given earlier today
            order[t.code] = len(order)
        elif op[0] == "free":
            station, other_free = op[1], op[2]
            accessible = station == ACCESSIBLE
            before = q.waiting()
            was_held = station in q.held_stations()
            call = q.station_freed(
                station, now, accessible_station=accessible, other_free_stations_exist=other_free
            )
            eligible = [
                t
                for t in before
                if accessible_rule_allows(
                    wants_accessible=t.accessible,
                    station_accessible=accessible,
                    other_free=other_free,
                )
            ]
            if call is None:
                assert was_held or not eligible
                continue
            assert not was_held
            ticket = next(t for t in before if t.code == call.code)
            # the accessible rule
            assert accessible_rule_allows(
                wants_accessible=ticket.accessible,
                station_accessible=accessible,
                other_free=other_free,
            )
            # served in issue order within its need: nobody of the same need issued earlier still waits
            assert all(
                order[t.code] > order[call.code]
                for t in q.waiting()
                if t.accessible == ticket.accessible
            )
        elif op[0] == "claim":
            serving = q.now_serving()
            if not serving:
                continue
            code, station = serving[op[1] % len(serving)]
            hold_until = q.held_stations()[station].hold_until
            target = station if op[2] else next(s for s in (*ORDINARY, ACCESSIBLE) if s != station)
            ok = q.claim(code, target, now)
            assert ok == (op[2] and now < hold_until)
            if ok:
                assert station not in q.held_stations()
                assert not q.claim(code, station, now)  # never two claims
        elif op[0] == "tick":
            now += op[1]
            for gone in q.expire(now):
                assert gone.called + q.hold_minutes * 60 <= now
        else:
            codes = list(order)
            if codes:
                q.cancel(codes[op[1] % len(codes)], now)
        serving = q.now_serving()
        assert len({s for _, s in serving}) == len(serving)  # one call per station
        assert len({c for c, _ in serving}) == len(serving)
        live = [t.code for t in q.tickets()]
        assert len(set(live)) == len(live)
    records = q.close(now)
    assert q.tickets() == []
    assert all(set(r.as_dict()) == {"issued", "served", "outcome"} for r in records)


stations_st = st.lists(
    st.builds(
        Station,
        st.sampled_from([f"PC-{i}" for i in range(1, 8)] + ["PC-45"]),
        accessible=st.booleans(),
    ),
    unique_by=lambda s: s.id,
    max_size=6,
)


@given(stations_st, st.booleans())
def test_the_desk_picks_by_the_accessible_rule(free, wants_accessible):
    chosen = pick_station(free, wants_accessible=wants_accessible)
    ordinary_free = any(not s.accessible for s in free)
    if chosen is None:
        assert not any(s.accessible for s in free) if wants_accessible else not free
        return
    assert chosen in free
    assert accessible_rule_allows(
        wants_accessible=wants_accessible,
        station_accessible=chosen.accessible,
        other_free=ordinary_free,
    )
    if not wants_accessible and ordinary_free:
        assert not chosen.accessible
