"""Occupancy is measured against the hours the space was open, not against the whole day.

Two PCs; the week of Monday 2026-06-01 to Sunday 2026-06-07 (Brussels) with Brussels'
default hours (Monday to Friday 9:00-17:00, Thursday until 19:00) and Friday 5 June
closed as a dated exception. Each figure is worked out by hand beside its assertion.
"""

from __future__ import annotations

from datetime import date, time

import pytest
from reports_fixture import BRU, add_session, empty_db, local

from controller.reports.usage import occupancy_rates, open_minutes
from controller.rules.hours import OpeningHours

MON, SUN = date(2026, 6, 1), date(2026, 6, 7)


def hours() -> OpeningHours:
    base = OpeningHours.brussels_default()
    return OpeningHours(base.weekly, exceptions={date(2026, 6, 5): ()}, tz=BRU)


def test_capacity_is_the_open_minutes_of_each_hour_of_the_week() -> None:
    cap = open_minutes(hours(), MON, SUN)
    assert (cap[0][8], cap[0][9], cap[0][16], cap[0][17]) == (0, 60, 60, 0)  # Monday 9:00-17:00
    assert cap[3][18] == 60  # Thursday until 19:00
    assert cap[4] == [0] * 24  # Friday: the exception closed it
    assert cap[5] == cap[6] == [0] * 24  # the weekend
    half = OpeningHours({0: ((time(9, 30), time(12, 0)),)}, tz=BRU)
    assert open_minutes(half, MON, MON)[0][9:12] == [30, 60, 60]  # opening at half past counts half an hour
    assert open_minutes(None, MON, MON)[0] == [60] * 24


def test_a_full_thursday_evening_reads_100_percent_and_closed_hours_have_no_rate() -> None:
    conn = empty_db()
    for sid in ("PC-01", "PC-02"):
        conn.execute("INSERT INTO stations (id, kind, created) VALUES (?, 'pc', 0)", (sid,))
    # both PCs busy Thursday 17:00-19:00, one PC Monday 9:00-9:30
    add_session(conn, "s1", "PC-01", local(2026, 6, 4, 17), local(2026, 6, 4, 19), "closing")
    add_session(conn, "s2", "PC-02", local(2026, 6, 4, 17), local(2026, 6, 4, 19), "closing")
    add_session(conn, "s3", "PC-01", local(2026, 6, 1, 9), local(2026, 6, 1, 9, 30), "visitor")
    (pc,) = occupancy_rates(conn, MON, SUN, BRU, ("pc",), hours())
    assert pc.rate[3][17:19] == pytest.approx((1.0, 1.0))
    assert pc.rate[0][9] == pytest.approx(30 / 120)  # 30 busy minutes of 2 PCs x 60 open minutes
    assert pc.rate[0][10] == 0.0  # open and unused: 0 %
    assert (pc.rate[4][10], pc.rate[6][12], pc.rate[0][20]) == (None, None, None)  # closed: no rate
    assert pc.busiest()[:2] in ((3, 17), (3, 18))
    # without the opening hours, the whole day is the capacity (the old, misleading figure)
    (flat,) = occupancy_rates(conn, MON, SUN, BRU, ("pc",))
    assert flat.rate[4][10] == 0.0
