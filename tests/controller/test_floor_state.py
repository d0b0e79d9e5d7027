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


def _escape(seq: int, at: float, what: str = "screen_closed", action: str = "logged_off"):
    from espace import protocol as p

    return p.EscapeAttempt(id=f"x{seq}", seq=seq, at=at, what=what, action=action)


def _floor():
    from controller.floor.floor import Floor
    from controller.settings import make_settings
    from espace.clock import ManualClock

    clock = ManualClock(NOW)
    floor = Floor(make_settings(), clock)
    return floor, clock, floor.subscribe()


def _published(q) -> list[dict]:
    out = []
    while not q.empty():
        m = q.get_nowait()
        if m["type"] == "station":
            out.append(m["station"])
    return out


async def test_escapes_show_on_the_station_fold_into_one_with_a_count_and_are_logged_once_each(caplog):
    floor, clock, q = _floor()
    with caplog.at_level("WARNING", logger="controller.floor.floor"):
        floor.event("PC-01", _escape(1, NOW - 5))
        first = _published(q)
        assert first[-1]["id"] == "PC-01"
        assert first[-1]["escape"] == {"what": "screen_closed", "action": "logged_off", "at": NOW - 5, "first": NOW - 5, "count": 1}
        await clock.advance(120)
        for seq in range(2, 40):  # a flood from one station: one problem, one count
            floor.event("PC-01", _escape(seq, NOW + 100, what="focus_lost", action="refocused"))
    esc = floor.snapshot()["stations"][0]["escape"]
    assert esc == {"what": "focus_lost", "action": "refocused", "at": NOW + 100, "first": NOW - 5, "count": 39}
    assert [v["escape"] for v in floor.snapshot()["stations"][1:]] == [None] * (len(floor.live) - 1)
    said = [r for r in caplog.records if "escape" in r.getMessage()]
    assert len(said) == 39
    assert all(r.levelname == "WARNING" and "PC-01" in r.getMessage() for r in said)
    assert "screen_closed" in said[0].getMessage()
    assert "focus_lost" in said[-1].getMessage()


def test_a_dismissed_escape_leaves_the_floor_and_the_next_one_starts_a_new_count():
    floor, clock, q = _floor()
    floor.event("PC-02", _escape(1, NOW))
    floor.event("PC-02", _escape(2, NOW))
    assert floor.dismiss_escape("PC-02") == 2
    assert _published(q)[-1]["escape"] is None
    assert floor.dismiss_escape("PC-02") == 0  # nothing left: no change
    assert _published(q) == []
    floor.event("PC-02", _escape(3, NOW + 1, what="grab_failed", action="none"))
    assert floor.live["PC-02"].escape is not None
    assert floor.live["PC-02"].escape.count == 1


async def test_an_escape_leaves_the_floor_after_30_minutes_of_the_site_clock():
    floor, clock, q = _floor()
    floor.event("PC-01", _escape(1, NOW))
    await clock.advance(20 * 60)
    floor.event("PC-01", _escape(2, NOW + 20 * 60))  # a later one keeps it up from its own instant
    await clock.advance(29 * 60)
    floor.tick()
    assert floor.snapshot()["stations"][0]["escape"]["count"] == 2
    _published(q)
    await clock.advance(61)
    floor.tick()
    assert _published(q)[-1]["escape"] is None
    assert floor.live["PC-01"].escape is None


def test_an_escape_replayed_long_after_it_happened_does_not_come_up_on_the_floor():
    floor, clock, q = _floor()
    floor.event("PC-01", _escape(1, NOW - 3 * 3600))  # sent again after an outage of the link
    assert floor.snapshot()["stations"][0]["escape"] is None
