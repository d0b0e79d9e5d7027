"""The station state machine, as pure code.

A station's *facts* (connected, session, idle time, help, lock, reset, hold)
are kept in :class:`StationLive`; its *state* — what the floor map shows — is
derived from them by :func:`derive_state`, never stored, so it cannot drift.
Precedence, highest first: offline, locked, help, resetting, idle, ending,
in_session, reserved, free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.settings import StationSpec
from espace.protocol import Health, SessionInfo


class State(StrEnum):
    OFFLINE = "offline"
    FREE = "free"
    RESERVED = "reserved"
    IN_SESSION = "in_session"
    ENDING = "ending"
    IDLE = "idle"
    HELP = "help"
    RESETTING = "resetting"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Thresholds:
    ending_s: float = 10 * 60  # last minutes of a session
    idle_s: float = 5 * 60  # no input for this long shows "idle" to the stewards


@dataclass(slots=True)
class HelpFlag:
    id: str
    since: float
    taken_by: str | None = None
    taken_at: float | None = None
    repeats: list[str] = field(default_factory=list)  # later help ids of the station folded into this one (recent)


ESCAPE_SHOWN_S = 30 * 60  # an escape stays on the floor this long after the last one (site clock), or until dismissed


@dataclass(slots=True)
class EscapeFlag:
    """The station's lock-screen escapes since a steward last dismissed them, folded into one problem."""

    what: str  # the last one's (espace.protocol.ESCAPES)
    action: str  # what the station did about it
    at: float  # when the last one happened
    first: float
    count: int = 1

    def shown(self, now: float) -> bool:
        return now < self.at + ESCAPE_SHOWN_S

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "action": self.action, "at": self.at, "first": self.first, "count": self.count}


@dataclass(slots=True)
class StationLive:
    spec: StationSpec
    connected: bool = False
    last_seen: float | None = None
    session: SessionInfo | None = None
    idle_s: float = 0.0
    help: HelpFlag | None = None
    locked: str | None = None
    resetting: bool = False
    reserved_for: str | None = None  # a booking label or "ticket ABC4"
    health: Health | None = None
    extensions: int = 0
    pages: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # station problems (a code of the floor's catalog, ``floor.problem.<code>`` -> detail for IT):
    # ``reported`` is what the agent's last heartbeat listed; ``problems`` what the controller saw itself
    reported: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    escape: EscapeFlag | None = None

    def all_problems(self) -> dict[str, str]:
        return {**self.reported, **self.problems}


def derive_state(live: StationLive, now: float, th: Thresholds = Thresholds()) -> State:
    if not live.connected:  # the WebSocket's own ping/pong closes a dead link, in real time
        return State.OFFLINE
    if live.locked is not None:
        return State.LOCKED
    if live.help is not None:
        return State.HELP
    if live.resetting:
        return State.RESETTING
    if live.session is not None:
        if live.idle_s >= th.idle_s:
            return State.IDLE
        if live.session.end - now <= th.ending_s:
            return State.ENDING
        return State.IN_SESSION
    if live.reserved_for is not None:
        return State.RESERVED
    return State.FREE


@dataclass(frozen=True, slots=True)
class StationView:
    """What the dashboard shows of one station."""

    id: str
    kind: str
    accessible: bool
    zone: str
    x: int
    y: int
    state: State
    session_start: float | None
    session_end: float | None
    idle_s: int
    help_since: float | None
    help_taken_by: str | None
    locked: str | None
    reserved_for: str | None
    extensions: int
    pages: int
    battery: float | None
    problems: tuple[str, ...] = ()  # "code: detail" (or "code"): the station's health's, then the agent's and the controller's
    escape: EscapeFlag | None = None  # lock-screen escapes not yet dismissed nor expired

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "accessible": self.accessible,
            "zone": self.zone,
            "x": self.x,
            "y": self.y,
            "state": self.state.value,
            "session_start": self.session_start,
            "session_end": self.session_end,
            "idle_s": self.idle_s,
            "help_since": self.help_since,
            "help_taken_by": self.help_taken_by,
            "locked": self.locked,
            "reserved_for": self.reserved_for,
            "extensions": self.extensions,
            "pages": self.pages,
            "battery": self.battery,
            "problems": list(self.problems),
            "escape": self.escape.as_dict() if self.escape else None,
        }


def _problems(live: StationLive) -> tuple[str, ...]:
    """Every problem of the station, each once by code: its health's (probes), then the agent's and the controller's."""
    merged = {pr.partition(":")[0]: pr for pr in (live.health.problems if live.health else ())}
    for code, detail in sorted(live.all_problems().items()):
        merged.setdefault(code, f"{code}: {detail}" if detail else code)
    return tuple(merged.values())


def view(live: StationLive, now: float, th: Thresholds = Thresholds()) -> StationView:
    s = live.spec
    idle_bucket = int(live.idle_s // 60) * 60  # minute steps: no update storm from idle counters
    return StationView(
        id=s.id,
        kind=s.kind,
        accessible=s.accessible,
        zone=s.zone,
        x=s.x,
        y=s.y,
        state=derive_state(live, now, th),
        session_start=live.session.start if live.session else None,
        session_end=live.session.end if live.session else None,
        idle_s=idle_bucket if live.session else 0,
        help_since=live.help.since if live.help else None,
        help_taken_by=live.help.taken_by if live.help else None,
        locked=live.locked,
        reserved_for=live.reserved_for,
        extensions=live.extensions,
        pages=live.pages,
        battery=live.health.battery_percent if live.health else None,
        problems=_problems(live),
        escape=EscapeFlag(**live.escape.as_dict()) if live.escape and live.escape.shown(now) else None,  # a copy: views compare by value
    )
