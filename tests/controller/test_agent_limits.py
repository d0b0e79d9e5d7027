"""Per-station bounds on the agents' link: the event budget, the malformed-event parser, one open help request."""

from __future__ import annotations

import logging

import pytest

from controller.floor.state import StationLive, view
from controller.settings import StationSpec
from controller.web.agent_limits import EventBudget, malformed_event
from espace import protocol as p


def test_the_budget_lets_a_burst_through_then_paces_and_says_so_once(caplog: pytest.LogCaptureFixture):
    budget = EventBudget(rate=10, burst=5)
    caplog.set_level(logging.INFO)
    t = 100.0
    assert [budget.delay(t) for _ in range(5)] == [0.0] * 5  # the burst, at once
    waits = [budget.delay(t) for _ in range(3)]
    assert waits == pytest.approx([0.1, 0.2, 0.3])  # then 10 a second
    reasons = [budget.note("PC-01", True) for _ in range(3)]
    assert reasons[0] is not None
    assert "10 events/s" in reasons[0]
    assert reasons[1:] == [None, None]
    assert budget.delay(t + 10) == 0.0  # refilled after a quiet while
    budget.note("PC-01", False)
    over = [r for r in caplog.records if "over 10 events/s" in r.getMessage()]
    back = [r for r in caplog.records if "back under" in r.getMessage()]
    assert (len(over), len(back)) == (1, 1)  # once per change of state
    assert "3 events" in back[0].getMessage()


@pytest.mark.parametrize(
    ("frame", "known"),
    [
        ('{"type": "print_job", "id": "e1", "seq": 4, "pages": -1}', ("e1", 4)),
        ('{"type": "help_requested", "id": "e2", "seq": 1}', ("e2", 1)),
        # an escape this controller does not know (a newer agent's): refused by id and seq, the link goes on
        ('{"type": "escape_attempt", "id": "e4", "seq": 2, "at": 1, "what": "teleported"}', ("e4", 2)),
        ('{"type": "escape_attempt", "id": "e5", "seq": 3, "at": 1, "what": "focus_lost", "action": "shrugged"}', ("e5", 3)),
        ('{"type": "heartbeat", "idle_s": -1}', None),  # not an event: the link closes as before
        ('{"type": "print_job", "id": "bad id\\n", "seq": 4}', None),  # no id to answer with
        ('{"type": "print_job", "id": "e3", "seq": true}', None),
        ('{"type": "print_job", "id": "e3", "seq": 0}', None),
        ('{"type": {"a": 1}, "id": "e3", "seq": 1}', None),
        ("[1, 2]", None),
        ("not json", None),
    ],
)
def test_a_malformed_event_is_told_by_its_id_and_seq(frame: str, known):
    assert malformed_event(frame) == known


def test_station_problems_from_the_agent_and_the_controller_show_in_the_view():
    live = StationLive(spec=StationSpec(id="PC-01", kind="pc"), connected=True)
    live.reported = {"disk_full": "database or disk is full"}
    live.problems = {"pin_changed": "sha256 AB…"}
    d = view(live, 0.0).as_dict()
    assert d["problems"] == ["disk_full: database or disk is full", "pin_changed: sha256 AB…"]
    assert view(StationLive(spec=live.spec), 0.0).as_dict()["problems"] == []


def test_problem_codes_are_checked_on_the_wire():
    hb = p.Heartbeat(problems=[p.Problem(code="Disk Full\n")])
    with pytest.raises(p.ProtocolError):
        p.decode_from_agent(p.encode(hb))
    ok = p.decode_from_agent(p.encode(p.Heartbeat(problems=[p.Problem(code="disk_full", detail="x")], time_probe=True)))
    assert isinstance(ok, p.Heartbeat)
    assert ok.problems == [p.Problem(code="disk_full", detail="x")]
    assert p.decode_from_agent(p.encode(p.Heartbeat())).problems is None  # an older agent: nothing said


def test_a_flood_of_escapes_from_one_station_is_paced_by_its_budget_and_folds_into_one_floor_problem():
    from controller.floor.floor import Floor
    from controller.settings import make_settings
    from espace.clock import ManualClock

    budget = EventBudget(rate=10, burst=20)
    waits = [budget.delay(500.0) for _ in range(200)]  # 200 escapes at once: the same budget as any event
    assert waits[:20] == [0.0] * 20
    assert waits[-1] == pytest.approx(18.0)
    floor = Floor(make_settings(), ManualClock(1_800_000_000.0))
    q = floor.subscribe()
    for seq in range(1, 201):
        floor.event("PC-01", p.EscapeAttempt(id=f"x{seq}", seq=seq, at=1_800_000_000.0, what="focus_lost", action="refocused"))
    problems = {v.id: v.escape for v in floor.views() if v.escape is not None}
    assert list(problems) == ["PC-01"]
    assert problems["PC-01"].count == 200
    assert q.qsize() == 200  # one update a commit (the count); the dashboards' queue holds 1000 before a resync
