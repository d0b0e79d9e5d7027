"""Walk-up grants: cut to closing or to the next booking, and told why."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from controller.rules import Grant, OpeningHours, Refusal, decide_grant

BXL = ZoneInfo("Europe/Brussels")
HOURS = OpeningHours.brussels_default()


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=BXL).timestamp()


def grant(
    now: float,
    *,
    hours: OpeningHours = HOURS,
    next_booking=None,
    reserved_for=None,
    locked=False,
    busy=False,
    session_minutes=60,
    min_minutes=5,
):
    return decide_grant(
        now,
        "PC-07",
        session_minutes=session_minutes,
        hours=hours,
        next_booking=next_booking,
        reserved_for=reserved_for,
        locked=locked,
        busy=busy,
        min_minutes=min_minutes,
    )


def test_full_length_in_the_middle_of_the_day():
    now = at(2026, 11, 16, 10, 12)
    assert grant(now) == Grant(now, now + 3600, "length")
    assert grant(now).minutes == 60


def test_cut_to_closing_near_closing():
    now = at(2026, 11, 16, 16, 30)
    assert grant(now) == Grant(now, at(2026, 11, 16, 17), "closing")


def test_one_minute_over_closing_is_cut():
    now = at(2026, 11, 16, 16, 1)
    assert grant(now) == Grant(now, at(2026, 11, 16, 17), "closing")


def test_late_thursday():
    assert grant(at(2026, 11, 19, 16, 30)) == Grant(
        at(2026, 11, 19, 16, 30), at(2026, 11, 19, 17, 30), "length"
    )
    assert grant(at(2026, 11, 19, 18, 10)).end == at(2026, 11, 19, 19)
    assert grant(at(2026, 11, 19, 18, 10)).cause == "closing"


def test_cut_to_the_next_booking_with_its_label():
    now = at(2026, 11, 16, 14, 5)
    g = grant(now, next_booking=(at(2026, 11, 16, 15), "Atelier CV"))
    assert g == Grant(now, at(2026, 11, 16, 15), "booking", "Atelier CV")
    assert g.as_dict() == {
        "start": now,
        "end": at(2026, 11, 16, 15),
        "cause": "booking",
        "label": "Atelier CV",
    }


def test_a_booking_after_the_length_does_not_cut():
    now = at(2026, 11, 16, 10)
    assert grant(now, next_booking=(at(2026, 11, 16, 11, 1), "Atelier")) == Grant(
        now, now + 3600, "length"
    )


def test_ties_name_the_stronger_reason():
    now = at(2026, 11, 16, 16)
    assert grant(now).cause == "closing"  # 60 minutes end exactly at 17:00
    assert grant(now, next_booking=(at(2026, 11, 16, 17), "Soirée")).cause == "booking"
    assert grant(at(2026, 11, 16, 10), next_booking=(at(2026, 11, 16, 11), "x")).cause == "booking"


def test_too_little_time_left():
    before_closing = at(2026, 11, 16, 16, 56)
    assert grant(before_closing) == Refusal("no_time", at(2026, 11, 17, 9))
    assert grant(at(2026, 11, 16, 16, 55)) == Grant(
        at(2026, 11, 16, 16, 55), at(2026, 11, 16, 17), "closing"
    )
    before_booking = at(2026, 11, 16, 9, 57)
    assert grant(before_booking, next_booking=(at(2026, 11, 16, 10), "Atelier")) == Refusal(
        "no_time", None, "Atelier"
    )
    assert grant(before_booking, next_booking=(at(2026, 11, 16, 10), "A"), min_minutes=3).end == at(
        2026, 11, 16, 10
    )


def test_closed_says_when_it_opens_across_the_spring_change():
    assert grant(at(2026, 3, 28, 12)) == Refusal("closed", at(2026, 3, 30, 9))
    assert grant(at(2026, 11, 16, 8)) == Refusal("closed", at(2026, 11, 16, 9))
    assert grant(at(2026, 11, 16, 17)) == Refusal("closed", at(2026, 11, 17, 9))


def test_reserved():
    now = at(2026, 11, 16, 13, 50)
    assert grant(now, reserved_for="Atelier CV") == Refusal("reserved", None, "Atelier CV")
    # a booking on this station already running (and not released)
    assert grant(now, next_booking=(at(2026, 11, 16, 13, 30), "Visite")) == Refusal(
        "reserved", None, "Visite"
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"locked": True, "busy": True, "reserved_for": "x"}, "locked"),
        ({"busy": True, "reserved_for": "x"}, "busy"),
        ({"reserved_for": "x"}, "reserved"),
    ],
)
def test_refusal_order(kwargs, reason):
    assert grant(at(2026, 11, 16, 10), **kwargs).reason == reason
    # closed comes after locked and busy, before reserved
    closed = grant(at(2026, 11, 15, 10), **kwargs).reason
    assert closed == (reason if reason in ("locked", "busy") else "closed")


def test_grant_on_the_autumn_change_day_counts_real_minutes():
    hours = OpeningHours({}, {date(2026, 10, 25): [(time(9), time(17))]})
    now = at(2026, 10, 25, 16, 30)
    assert grant(now, hours=hours) == Grant(now, at(2026, 10, 25, 17), "closing")
    assert grant(now, hours=hours).minutes == 30


def test_grant_inside_the_spring_gap_ends_on_real_time():
    # open 01:30-03:30 local on 29 March: one real hour, because 02:00 becomes 03:00
    hours = OpeningHours({}, {date(2026, 3, 29): [(time(1, 30), time(3, 30))]})
    now = at(2026, 3, 29, 1, 45)
    g = grant(now, hours=hours)
    assert g == Grant(now, at(2026, 3, 29, 3, 30), "closing")
    assert g.minutes == 45


def test_session_length_is_configurable():
    now = at(2026, 11, 16, 10)
    assert grant(now, session_minutes=30).end == now + 1800
