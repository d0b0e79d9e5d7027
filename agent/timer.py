"""The session clock on the station, as pure code.

Given the session the station holds, the time, the input idleness and the
rules, :func:`due` says what must happen now: warnings, the idle prompt (or
its withdrawal when the visitor moves again), the end. The agent calls it on
every tick of its injected clock; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from espace import protocol as p


@dataclass(slots=True)
class LocalSession:
    """The grant the station enforces, and what it has done about it."""

    session_id: str
    start: float
    end: float
    cause: str = "length"
    origin: str = "walkup"
    lang: str = "fr"
    warned: list[int] = field(default_factory=list)
    idle_prompted: bool = False
    help_id: str | None = None
    pages: int = 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, d: dict) -> LocalSession:
        return cls(**{k: d[k] for k in cls.__slots__ if k in d})  # type: ignore[attr-defined]

    def info(self) -> p.SessionInfo:
        return p.SessionInfo(session_id=self.session_id, start=self.start, end=self.end, cause=self.cause)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Warn:
    minutes: int
    kind: Literal["time", "last_call"]


@dataclass(frozen=True, slots=True)
class IdlePrompt:
    seconds_left: int


@dataclass(frozen=True, slots=True)
class IdleClear:
    pass


@dataclass(frozen=True, slots=True)
class End:
    reason: p.EndReason


Action = Warn | IdlePrompt | IdleClear | End

_CAUSE_REASON: dict[str, p.EndReason] = {"length": "time", "closing": "closing", "booking": "booking"}


def due(s: LocalSession, now: float, idle_s: float, rules: p.Rules) -> list[Action]:
    """What to do now. Mutates nothing; the caller applies the actions and marks them done."""
    remaining = s.end - now
    if remaining <= 0:
        return [End(_CAUSE_REASON.get(s.cause, "time"))]
    if idle_s >= rules.idle_prompt_s + rules.idle_grace_s:
        return [End("idle")]
    actions: list[Action] = []
    # the smallest threshold already reached and not yet warned: several passed at once give one warning
    reached = [m for m in rules.warn_minutes if remaining <= m * 60 and m not in s.warned]
    if reached:
        actions.append(Warn(min(reached), "last_call" if s.cause == "closing" else "time"))
    if idle_s >= rules.idle_prompt_s and not s.idle_prompted:
        left = rules.idle_prompt_s + rules.idle_grace_s - idle_s
        actions.append(IdlePrompt(int(left)))
    elif idle_s < rules.idle_prompt_s and s.idle_prompted:
        actions.append(IdleClear())
    return actions


def next_deadline(s: LocalSession, now: float, rules: p.Rules) -> float:
    """The next instant at which :func:`due` changes its answer because of time alone."""
    times = [s.end] + [s.end - m * 60 for m in rules.warn_minutes if m not in s.warned and s.end - m * 60 > now]
    return min(times)


def mark_warned(s: LocalSession, w: Warn, rules: p.Rules) -> None:
    """A warning at ``w.minutes`` also covers every larger threshold."""
    for m in rules.warn_minutes:
        if m >= w.minutes and m not in s.warned:
            s.warned.append(m)
