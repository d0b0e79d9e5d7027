"""The accessible station goes to the accessible ticket that waits for it, even one issued later."""

from __future__ import annotations

import random

from controller.rules.queue import TicketQueue

T0 = 1_763_550_000.0


def test_the_accessible_station_goes_to_a_waiting_accessible_ticket_before_an_earlier_ordinary_one() -> None:
    q = TicketQueue(rng=random.Random(3))
    ordinary = q.issue(T0)
    accessible = q.issue(T0 + 60, accessible=True)
    # nothing else is free: today's rule let the ordinary ticket (first in line) take PC-45
    call = q.station_freed("PC-45", T0 + 120, accessible_station=True, other_free_stations_exist=False)
    assert call is not None
    assert call.code == accessible.code
    # the ordinary ticket keeps its place for the next ordinary station
    nxt = q.station_freed("PC-01", T0 + 180)
    assert nxt is not None
    assert nxt.code == ordinary.code


def test_with_no_accessible_ticket_waiting_the_rule_is_unchanged() -> None:
    q = TicketQueue(rng=random.Random(4))
    first = q.issue(T0)
    q.issue(T0 + 60)
    assert q.station_freed("PC-45", T0 + 120, accessible_station=True, other_free_stations_exist=True) is None
    call = q.station_freed("PC-45", T0 + 120, accessible_station=True, other_free_stations_exist=False)
    assert call is not None
    assert call.code == first.code
