"""Bookings: recurrence across DST, station assignment, holds, release, next start."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from controller.rules import (
    Booking,
    BookingError,
    Occurrence,
    Recurrence,
    Station,
    assign,
    assignment_due,
    next_booking_start,
    occurrences,
    release_unclaimed,
    reserved_stations,
)

BXL = ZoneInfo("Europe/Brussels")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=BXL).timestamp()


def local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, BXL)


def test_single_booking_overlapping_the_window():
    b = Booking("b1", "Atelier CV", at(2026, 11, 17, 14), at(2026, 11, 17, 16), ("PC-01",))
    (occ,) = occurrences([b], at(2026, 11, 17), at(2026, 11, 18))
    assert (occ.start, occ.end, occ.label, occ.stations) == (
        b.start,
        b.end,
        "Atelier CV",
        ("PC-01",),
    )
    # a window starting during the booking still sees it; one ending at its start does not
    assert occurrences([b], at(2026, 11, 17, 15), at(2026, 11, 17, 15, 1)) == [occ]
    assert occurrences([b], at(2026, 11, 17), at(2026, 11, 17, 14)) == []
    assert occurrences([b], at(2026, 11, 17, 16), at(2026, 11, 18)) == []


def test_weekly_keeps_local_wall_time_across_spring_change():
    b = Booking(
        "w",
        "Atelier",
        at(2026, 3, 24, 10),
        at(2026, 3, 24, 12),
        ("PC-01",),
        recurrence="weekly:tue",
    )
    occs = occurrences([b], at(2026, 3, 20), at(2026, 4, 10))
    assert [local(o.start).date() for o in occs] == [
        date(2026, 3, 24),
        date(2026, 3, 31),
        date(2026, 4, 7),
    ]
    assert {(local(o.start).hour, local(o.end).hour) for o in occs} == {(10, 12)}
    assert [datetime.fromtimestamp(o.start, UTC).hour for o in occs] == [9, 8, 8]


def test_weekly_across_autumn_change_and_first_day_not_matching():
    # anchored on a Sunday, recurring on Mondays: the first occurrence is the next Monday
    b = Booking(
        "w",
        "Club",
        at(2026, 10, 18, 10),
        at(2026, 10, 18, 11),
        ("TAB-01",),
        recurrence="weekly:mon",
    )
    occs = occurrences([b], at(2026, 10, 1), at(2026, 11, 1))
    assert [o.start for o in occs] == [at(2026, 10, 19, 10), at(2026, 10, 26, 10)]
    assert [datetime.fromtimestamp(o.start, UTC).hour for o in occs] == [8, 9]


def test_monthly_first_tuesday_until():
    b = Booking(
        "m",
        "Visite scolaire",
        at(2026, 3, 3, 10),
        at(2026, 3, 3, 12),
        kind="tablet",
        count=10,
        recurrence="monthly:1:tue",
        until=at(2026, 6, 2, 10),
    )
    occs = occurrences([b], at(2026, 1, 1), at(2026, 12, 31))
    assert [local(o.start).date() for o in occs] == [
        date(2026, 3, 3),
        date(2026, 4, 7),
        date(2026, 5, 5),
        date(2026, 6, 2),
    ]
    assert all(o.count == 10 and o.kind == "tablet" and o.needs_assignment for o in occs)


def test_monthly_last_friday_and_weekly_days_list():
    last = Booking(
        "l", "x", at(2026, 9, 25, 9), at(2026, 9, 25, 10), ("PC-01",), recurrence="monthly:-1:fri"
    )
    occs = occurrences([last], at(2026, 9, 1), at(2026, 12, 1))
    assert [local(o.start).date() for o in occs] == [
        date(2026, 9, 25),
        date(2026, 10, 30),
        date(2026, 11, 27),
    ]
    two = Booking(
        "t", "x", at(2026, 11, 16, 9), at(2026, 11, 16, 10), ("PC-01",), recurrence="weekly:mon,thu"
    )
    occs = occurrences([two], at(2026, 11, 16), at(2026, 11, 24))
    assert [local(o.start).date() for o in occs] == [
        date(2026, 11, 16),
        date(2026, 11, 19),
        date(2026, 11, 23),
    ]


def test_occurrences_sorted_across_bookings():
    a = Booking("a", "A", at(2026, 11, 17, 14), at(2026, 11, 17, 15), ("PC-01",))
    b = Booking(
        "b", "B", at(2026, 11, 17, 10), at(2026, 11, 17, 11), ("PC-02",), recurrence="daily"
    )
    occs = occurrences([a, b], at(2026, 11, 17), at(2026, 11, 18, 12))
    assert [(o.booking_id, local(o.start).day, local(o.start).hour) for o in occs] == [
        ("b", 17, 10),
        ("a", 17, 14),
        ("b", 18, 10),
    ]


@pytest.mark.parametrize(
    "text", ["weekly", "weekly:tuesday", "monthly:6:tue", "monthly:x:tue", "yearly"]
)
def test_bad_recurrence(text):
    with pytest.raises(ValueError, match="recurrence"):
        Recurrence.parse(text)
    with pytest.raises(ValueError, match="recurrence"):
        Booking("b", "", 0.0, 60.0, ("PC-01",), recurrence=text)


def test_booking_validation():
    with pytest.raises(ValueError, match="ends before it starts"):
        Booking("b", "", 100.0, 100.0, ("PC-01",))
    with pytest.raises(ValueError, match="either named stations or a count"):
        Booking("b", "", 0.0, 60.0)
    with pytest.raises(ValueError, match="either named stations or a count"):
        Booking("b", "", 0.0, 60.0, ("PC-01",), count=2)


CATALOG = [
    *(Station(f"PC-{i}", "pc", "A") for i in (1, 2, 3, 4, 5)),
    Station("PC-45", "pc", "A", accessible=True),
    Station("PC-10", "pc", "B"),
    *(Station(f"TAB-{i}", "tablet", "A") for i in (1, 2)),
]
START = at(2026, 11, 17, 14)


def count_occ(n: int, kind: str | None = "pc", zone: str | None = "A") -> Occurrence:
    return Occurrence("b", "Atelier", START, START + 7200, kind=kind, zone=zone, count=n)


def test_assign_prefers_free_stations_then_earliest_free():
    busy = {"PC-1": START + 600, "PC-2": START - 600, "PC-3": START + 60}
    assert assign(count_occ(3), CATALOG, busy) == ("PC-2", "PC-4", "PC-5")
    assert assign(count_occ(4), CATALOG, busy) == ("PC-2", "PC-3", "PC-4", "PC-5")


def test_assign_uses_the_accessible_station_only_when_needed():
    busy = {f"PC-{i}": START + 600 for i in range(1, 6)}  # every ordinary one busy at the start
    assert assign(count_occ(5), CATALOG, busy) == ("PC-1", "PC-2", "PC-3", "PC-4", "PC-5")
    assert "PC-45" in assign(count_occ(6), CATALOG, busy)
    with pytest.raises(ValueError, match="needs 7 pc in zone A, only 6 available"):
        assign(count_occ(7), CATALOG, busy)


def test_assign_by_kind_or_zone_and_taken():
    assert assign(count_occ(2, kind="tablet", zone=None), CATALOG, {}) == ("TAB-1", "TAB-2")
    assert assign(count_occ(1, kind=None, zone="B"), CATALOG, {}) == ("PC-10",)
    assert assign(count_occ(2), CATALOG, {}, taken={"PC-1", "PC-3"}) == ("PC-2", "PC-4")
    named = Occurrence("n", "", START, START + 60, stations=("PC-3",))
    assert assign(named, CATALOG, {"PC-3": START + 999}) == ("PC-3",)


def test_assignment_due():
    assert assignment_due(count_occ(2), lead_minutes=15, session_minutes=60) == START - 75 * 60


def test_reserved_stations_lead_time_and_release():
    occ = Occurrence("b", "Atelier", START, START + 3600, stations=("PC-1", "PC-2"))
    assert reserved_stations([occ], START - 16 * 60, lead_minutes=15) == {}
    assert reserved_stations([occ], START - 15 * 60, lead_minutes=15) == {"PC-1": occ, "PC-2": occ}
    assert set(reserved_stations([occ], START + 3599)) == {"PC-1", "PC-2"}
    assert reserved_stations([occ], START + 3600) == {}
    assert set(reserved_stations([occ], START, released={(occ.key, "PC-2")})) == {"PC-1"}
    unassigned = count_occ(3)
    assert reserved_stations([unassigned], START) == {}
    assert set(reserved_stations([unassigned.assigned(("PC-4",))], START)) == {"PC-4"}


def test_release_unclaimed_after_grace():
    occ = Occurrence("b", "Atelier", START, START + 3600, stations=("PC-1", "PC-2", "PC-3"))
    assert release_unclaimed(occ, {"PC-1"}, START + 14 * 60) == frozenset()
    assert release_unclaimed(occ, {"PC-1"}, START + 15 * 60) == {"PC-2", "PC-3"}
    assert release_unclaimed(occ, set(), START + 15 * 60, whole_booking=True) == {
        "PC-1",
        "PC-2",
        "PC-3",
    }
    assert release_unclaimed(occ, {"PC-1"}, START + 15 * 60, whole_booking=True) == frozenset()
    assert release_unclaimed(occ, set(), START + 5 * 60, grace_minutes=5) == {
        "PC-1",
        "PC-2",
        "PC-3",
    }
    assert release_unclaimed(occ, set(), START + 3600) == frozenset()  # over: nothing to release


def test_next_booking_start():
    early = Occurrence("e", "Atelier CV", START, START + 3600, stations=("PC-1",))
    late = Occurrence("l", "Visite", START + 7200, START + 9000, stations=("PC-1", "PC-2"))
    occs = [late, early]
    assert next_booking_start("PC-1", occs, START - 3600) == (START, "Atelier CV")
    assert next_booking_start("PC-1", occs, START + 60) == (START, "Atelier CV")  # running
    assert next_booking_start("PC-1", occs, START + 60, released={(early.key, "PC-1")}) == (
        START + 7200,
        "Visite",
    )
    assert next_booking_start("PC-1", occs, START + 3600) == (START + 7200, "Visite")
    assert next_booking_start("PC-3", occs, START - 3600) is None
    assert next_booking_start("PC-2", occs, START + 9000) is None


def test_a_booking_lasts_at_most_a_month_and_a_recurring_one_a_day_each_time():
    day = 86400.0
    t = 1_800_000_000.0
    Booking("ok", "a week of school visits", t, t + 7 * day, stations=("PC-01",))
    with pytest.raises(ValueError, match="more than 31 days"):
        Booking("long", "a year", t, t + 365 * day, stations=("PC-01",))
    Booking("w", "weekly workshop", t, t + 3 * 3600, stations=("PC-01",), recurrence="weekly:tue")
    with pytest.raises(ValueError, match="at most a day"):
        Booking("w2", "daily, two days long", t, t + 2 * day, stations=("PC-01",), recurrence="daily")


@pytest.mark.parametrize(
    ("kwargs", "code", "params"),
    [
        ({"start": 100.0, "end": 100.0, "stations": ("PC-01",)}, "ends_before_start", {}),
        ({"start": 0.0, "end": 60.0}, "stations_or_count", {}),
        ({"start": 0.0, "end": 60.0, "stations": ("PC-01",), "count": 2}, "stations_or_count", {}),
        ({"start": 0.0, "end": 60.0, "stations": ("PC-01",), "count": -1}, "negative_count", {}),
        ({"start": 0.0, "end": 32 * 86400.0, "stations": ("PC-01",)}, "too_long", {"days": 31}),
        (
            {"start": 0.0, "end": 2 * 86400.0, "stations": ("PC-01",), "recurrence": "daily"},
            "recurring_too_long",
            {},
        ),
        (
            {"start": 0.0, "end": 60.0, "stations": ("PC-01",), "recurrence": "weekly:tuesday"},
            "bad_recurrence",
            {"recurrence": "weekly:tuesday"},
        ),
    ],
)
def test_each_refusal_carries_its_code_and_params(kwargs, code, params):
    """A screen says the refusal in its reader's language from the code and params alone."""
    with pytest.raises(BookingError) as caught:
        Booking("b", "Atelier", **kwargs)
    assert (caught.value.code, caught.value.params) == (code, params)
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError still do
    assert str(caught.value)  # and the English text stays for logs and API clients
