"""Opening hours on explicit instants, including the DST change days of 2026."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from controller.rules import OpeningHours, parse_hours

BXL = ZoneInfo("Europe/Brussels")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=BXL).timestamp()


def utc_hour(ts: float) -> int:
    return datetime.fromtimestamp(ts, UTC).hour


HOURS = OpeningHours.brussels_default()


def test_default_week_mon_to_fri_with_late_thursday():
    assert HOURS.slots_on(date(2026, 11, 16)) == [(at(2026, 11, 16, 9), at(2026, 11, 16, 17))]
    assert HOURS.slots_on(date(2026, 11, 19)) == [(at(2026, 11, 19, 9), at(2026, 11, 19, 19))]
    assert HOURS.slots_on(date(2026, 11, 21)) == []  # Saturday
    assert HOURS.slots_on(date(2026, 11, 22)) == []  # Sunday


def test_opening_follows_local_time_across_spring_change():
    (fri,) = HOURS.slots_on(date(2026, 3, 27))  # CET, UTC+1
    (mon,) = HOURS.slots_on(date(2026, 3, 30))  # CEST, UTC+2
    assert (utc_hour(fri[0]), utc_hour(fri[1])) == (8, 16)
    assert (utc_hour(mon[0]), utc_hour(mon[1])) == (7, 15)
    assert mon[1] - mon[0] == 8 * 3600


def test_opening_follows_local_time_across_autumn_change():
    (fri,) = HOURS.slots_on(date(2026, 10, 23))  # CEST
    (mon,) = HOURS.slots_on(date(2026, 10, 26))  # CET
    assert (utc_hour(fri[0]), utc_hour(mon[0])) == (7, 8)


def test_a_slot_on_the_change_day_itself_has_its_real_length():
    hours = OpeningHours(
        {},
        {
            date(2026, 10, 25): [(time(0), time(23, 59))],
            date(2026, 3, 29): [(time(1, 30), time(3, 30))],
        },
    )
    ((start, end),) = hours.slots_on(date(2026, 10, 25))
    assert end - start == 25 * 3600 - 60  # the clocks go back: the day has 25 hours
    ((start, end),) = hours.slots_on(date(2026, 3, 29))
    assert end - start == 3600  # 01:30 CET to 03:30 CEST is one hour


def test_is_open_is_half_open():
    assert not HOURS.is_open(at(2026, 11, 16, 9) - 1)
    assert HOURS.is_open(at(2026, 11, 16, 9))
    assert HOURS.is_open(at(2026, 11, 16, 17) - 1)
    assert not HOURS.is_open(at(2026, 11, 16, 17))
    assert HOURS.is_open(at(2026, 11, 19, 18, 30))  # Thursday
    assert not HOURS.is_open(at(2026, 3, 29, 12))  # Sunday of the spring change


def test_closing_after():
    assert HOURS.closing_after(at(2026, 11, 19, 10)) == at(2026, 11, 19, 19)
    assert HOURS.closing_after(at(2026, 3, 30, 16, 59)) == at(2026, 3, 30, 17)
    assert HOURS.closing_after(at(2026, 11, 16, 17, 30)) is None
    assert HOURS.closing_after(at(2026, 11, 16, 8)) is None


def test_next_opening_over_the_dst_weekends():
    assert HOURS.next_opening(at(2026, 3, 27, 17, 30)) == at(2026, 3, 30, 9)
    assert utc_hour(HOURS.next_opening(at(2026, 3, 27, 17, 30))) == 7
    assert HOURS.next_opening(at(2026, 10, 23, 18)) == at(2026, 10, 26, 9)
    assert utc_hour(HOURS.next_opening(at(2026, 10, 23, 18))) == 8


def test_next_opening_at_or_after():
    assert HOURS.next_opening(at(2026, 11, 16, 9)) == at(2026, 11, 16, 9)
    assert HOURS.next_opening(at(2026, 11, 16, 8, 59)) == at(2026, 11, 16, 9)
    assert HOURS.next_opening(at(2026, 11, 16, 10)) == at(2026, 11, 17, 9)


def test_last_call():
    assert HOURS.last_call(at(2026, 11, 19, 18), 15) == at(2026, 11, 19, 18, 45)
    assert HOURS.last_call(at(2026, 11, 16, 10), 10) == at(2026, 11, 16, 16, 50)
    assert HOURS.last_call(at(2026, 11, 21, 10), 15) is None


def test_lunch_break_and_merged_adjacent_slots():
    lunch = OpeningHours({0: [(time(13), time(17)), (time(9), time(12))]})
    assert lunch.closing_after(at(2026, 11, 16, 11)) == at(2026, 11, 16, 12)
    assert not lunch.is_open(at(2026, 11, 16, 12, 30))
    assert lunch.next_opening(at(2026, 11, 16, 12, 30)) == at(2026, 11, 16, 13)
    merged = OpeningHours({0: [(time(9), time(12)), (time(12), time(17))]})
    assert merged.slots_on(date(2026, 11, 16)) == [(at(2026, 11, 16, 9), at(2026, 11, 16, 17))]


def test_never_open_has_no_next_opening():
    assert OpeningHours({}).next_opening(at(2026, 1, 1)) is None


def test_parse_hours_example():
    hours = parse_hours(
        {
            "mon": ["09:00-17:00"],
            "thu": ["09:00-19:00"],
            "closed": ["2026-12-25"],
            "exceptions": {"2026-12-24": ["09:00-12:00"]},
        }
    )
    assert hours.slots_on(date(2026, 12, 21)) == [(at(2026, 12, 21, 9), at(2026, 12, 21, 17))]
    assert hours.slots_on(date(2026, 12, 24)) == [(at(2026, 12, 24, 9), at(2026, 12, 24, 12))]
    assert hours.slots_on(date(2026, 12, 22)) == []  # Tuesday not listed: closed
    assert hours.slots_on(date(2026, 12, 31)) == [(at(2026, 12, 31, 9), at(2026, 12, 31, 19))]
    # Thursday 24th closes at noon; Friday 25th closed; next is Monday 28th
    assert hours.next_opening(at(2026, 12, 24, 12)) == at(2026, 12, 28, 9)
    assert hours.tz == BXL


def test_parse_hours_timezone():
    hours = parse_hours({"mon": ["09:00-17:00"], "timezone": "UTC"})
    ((start, _),) = hours.slots_on(date(2026, 11, 16))
    assert start == datetime(2026, 11, 16, 9, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"monday": ["09:00-17:00"]}, r"unknown key\(s\) 'monday'"),
        ({"mon": ["9-17"]}, r"mon: expected a slot like '09:00-17:00', got '9-17'"),
        ({"mon": "09:00-17:00"}, r"mon: expected a list of slots"),
        ({"tue": ["17:00-09:00"]}, r"tue: slot '17:00-09:00' closes before it opens"),
        ({"wed": ["25:00-26:00"]}, r"wed: '25:00-26:00' is not a time of day"),
        ({"thu": ["09:00-13:00", "12:00-19:00"]}, r"thu: slot 12:00-19:00 overlaps 09:00-13:00"),
        (
            {"closed": ["2026-13-01"]},
            r"closed: expected a date like '2026-12-25', got '2026-13-01'",
        ),
        ({"closed": "2026-12-25"}, r"closed: expected a list of dates"),
        ({"exceptions": ["2026-12-24"]}, r"exceptions: expected a table"),
        (
            {"closed": ["2026-12-24"], "exceptions": {"2026-12-24": ["09:00-12:00"]}},
            r"2026-12-24 is also listed as closed",
        ),
        ({"exceptions": {"2026-12-24": ["noon"]}}, r"exceptions 2026-12-24: expected a slot"),
        ({"timezone": "Europe/Atlantis"}, r"unknown timezone 'Europe/Atlantis'"),
    ],
)
def test_parse_hours_says_what_is_wrong(config, message):
    with pytest.raises(ValueError, match=message):
        parse_hours(config)


def test_constructor_rejects_bad_weekday_and_inverted_slot():
    with pytest.raises(ValueError, match="weekday must be 0"):
        OpeningHours({7: [(time(9), time(17))]})
    with pytest.raises(ValueError, match="closes before it opens"):
        OpeningHours({}, {date(2026, 1, 2): [(time(17), time(9))]})
