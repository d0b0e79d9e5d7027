"""The station state machine: facts in, one state out, by precedence."""

from __future__ import annotations

import pytest

from controller.floor.state import HelpFlag, State, StationLive, Thresholds, derive_state, view
from controller.settings import StationSpec
from espace.protocol import SessionInfo

NOW = 1_800_000_000.0
TH = Thresholds(ending_s=600, idle_s=300)


def live(**kw) -> StationLive:
    base = dict(spec=StationSpec(id="PC-01", kind="pc"), connected=True, last_seen=NOW)
    base.update(kw)
    return StationLive(**base)


def running(minutes_left: float) -> SessionInfo:
    return SessionInfo(session_id="s", start=NOW - 600, end=NOW + minutes_left * 60)


@pytest.mark.parametrize(
    ("facts", "state"),
    [
        ({}, State.FREE),
        ({"connected": False}, State.OFFLINE),
        ({"connected": False, "session": running(30)}, State.OFFLINE),
        ({"locked": "écran cassé", "help": HelpFlag("h", NOW)}, State.LOCKED),
        ({"session": running(30), "help": HelpFlag("h", NOW)}, State.HELP),
        ({"resetting": True}, State.RESETTING),
        ({"session": running(30)}, State.IN_SESSION),
        ({"session": running(9)}, State.ENDING),
        ({"session": running(30), "idle_s": 400}, State.IDLE),
        ({"session": running(5), "idle_s": 400}, State.IDLE),
        ({"reserved_for": "ticket ABC4"}, State.RESERVED),
        ({"reserved_for": "atelier", "session": running(30)}, State.IN_SESSION),
    ],
)
def test_state_precedence(facts, state):
    assert derive_state(live(**facts), NOW, TH) is state


def test_view_rounds_idle_to_minutes_so_counters_do_not_flood_the_dashboards():
    a = view(live(session=running(30), idle_s=61), NOW, TH)
    b = view(live(session=running(30), idle_s=119), NOW, TH)
    assert a == b
    assert a.idle_s == 60
    assert a.as_dict()["state"] == "in_session"


def test_a_dashboard_that_falls_behind_gets_a_resync_not_a_frozen_feed():
    from controller.floor.floor import Floor
    from controller.settings import make_settings
    from espace.clock import ManualClock

    floor = Floor(make_settings(), ManualClock(NOW))
    q = floor.subscribe()
    for n in range(1001):
        floor.publish({"type": "station", "n": n})
    assert q.get_nowait() == {"type": "resync"}
    floor.publish({"type": "station", "n": "next"})
    assert q.get_nowait()["n"] == "next"
