"""The station's session clock, on explicit instants."""

from __future__ import annotations

from agent.timer import (
    End,
    IdleClear,
    IdlePrompt,
    LocalSession,
    Warn,
    due,
    mark_warned,
    next_deadline,
)
from espace import protocol as p

RULES = p.Rules(session_minutes=60, warn_minutes=[10, 5, 1], idle_prompt_s=600, idle_grace_s=120)
T0 = 1_800_000_000.0


def session(**kw) -> LocalSession:
    return LocalSession(session_id="s1", start=T0, end=T0 + 3600, **kw)


def test_nothing_is_due_early_in_a_session():
    assert due(session(), T0 + 60, 0, RULES) == []


def test_warnings_come_at_10_5_and_1_minutes_each_once():
    s = session()
    seen = []
    for t in range(0, 3600, 15):
        for a in due(s, T0 + t, 0, RULES):
            assert isinstance(a, Warn)
            mark_warned(s, a, RULES)
            seen.append((t, a.minutes))
    assert seen == [(3000, 10), (3300, 5), (3540, 1)]


def test_warnings_passed_together_give_one_warning_the_nearest():
    s = session()
    actions = due(s, T0 + 3600 - 200, 0, RULES)  # 3 min 20 s left: 10 and 5 both passed
    assert actions == [Warn(5, "time")]
    mark_warned(s, actions[0], RULES)
    assert sorted(s.warned) == [5, 10]


def test_a_session_cut_at_closing_warns_as_last_call_and_ends_as_closing():
    s = session(cause="closing")
    assert due(s, T0 + 3600 - 30, 0, RULES) == [Warn(1, "last_call")]
    assert due(s, T0 + 3600, 0, RULES) == [End("closing")]
    assert due(session(cause="booking"), T0 + 3601, 0, RULES) == [End("booking")]
    assert due(session(), T0 + 3600, 0, RULES) == [End("time")]


def test_idle_prompt_then_end_after_the_grace_period():
    s = session()
    assert due(s, T0 + 700, 599, RULES) == []
    assert due(s, T0 + 701, 600, RULES) == [IdlePrompt(120)]
    s.idle_prompted = True
    assert due(s, T0 + 760, 660, RULES) == []
    assert due(s, T0 + 821, 720, RULES) == [End("idle")]


def test_input_after_the_prompt_withdraws_it():
    s = session(idle_prompted=True)
    assert due(s, T0 + 800, 3, RULES) == [IdleClear()]


def test_next_deadline_is_the_next_warning_or_the_end():
    s = session()
    assert next_deadline(s, T0, RULES) == T0 + 3000
    s.warned = [10, 5, 1]
    assert next_deadline(s, T0 + 3550, RULES) == T0 + 3600


def test_local_session_round_trips_through_its_dict():
    s = session(warned=[10], help_id="h1", pages=3)
    assert LocalSession.from_dict(s.as_dict()) == s
