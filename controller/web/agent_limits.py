"""Per-station limits on what an agent's link may send, and what a malformed event costs.

A station's link is read at most ``rate`` events a second, after a burst of
``burst`` (a replay after a long outage passes at once). Beyond that the
controller reads the link more slowly — TCP pushes back, the agent's outbox
waits, nothing is lost — tells the station why once, and logs once per change
of state (over the limit, back under it with the count held back), never once
per event.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass

from espace import protocol as p

log = logging.getLogger(__name__)

_EVENT_TAGS = frozenset(t.__struct_config__.tag for t in p.EVENT_TYPES)
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(slots=True)
class EventBudget:
    """A token bucket in real (monotonic) seconds: events are transport, not policy."""

    rate: float
    burst: float
    tokens: float = -1.0  # -1: not started (a full burst at the first event)
    stamp: float = 0.0
    limited: bool = False
    held_back: int = 0

    def delay(self, now: float | None = None) -> float:
        """Take one event's token; the real seconds to wait before reading it (0: at once)."""
        now = time.monotonic() if now is None else now
        if self.tokens == -1.0 and self.stamp == 0.0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def note(self, station: str, over: bool) -> str | None:
        """Log the change of state once; returns the reason to tell the station, when it goes over."""
        if over:
            self.held_back += 1
            if not self.limited:
                self.limited = True
                reason = f"over {self.rate:g} events/s after a burst of {self.burst:g}: read more slowly"
                log.warning("%s: %s", station, reason)
                return reason
        elif self.limited and self.tokens >= self.burst - 1:  # a whole burst again: hysteresis, no flapping
            log.info("%s: back under the event rate (%d events were read slowly)", station, self.held_back)
            self.limited, self.held_back = False, 0
        return None


def malformed_event(data: str) -> tuple[str, int] | None:
    """(id, seq) of a frame that is an event the protocol refuses (a bad field), if it can be told.

    Such an event is answered ``event_reject`` (kept aside by the station, its seq consumed) instead
    of closing the link: a closed link would make the station send it again at every reconnect."""
    try:
        raw = json.loads(data)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or raw["type"] not in _EVENT_TAGS:
        return None
    event_id, seq = raw.get("id"), raw.get("seq")
    if not isinstance(event_id, str) or not _ID.match(event_id) or type(seq) is not int or seq < 1:
        return None
    return event_id, seq


def consume_malformed(db, station: str, seq: int, received: float, incarnation: str = "") -> str:  # type: ignore[no-untyped-def]
    """In the writer: consume ``seq`` if it is the next one of the station's current incarnation.

    Returns ``next``, ``past`` or ``gap`` (also for a link of an incarnation no longer current: that
    link is on its way out, and its station sends the event again on its next one)."""
    row = db.conn.execute("SELECT last_seq, incarnation FROM stations WHERE id = ?", (station,)).fetchone()
    if row is not None and row[1] != incarnation:
        return "gap"
    last = row[0] if row else 0
    if seq <= last:
        return "past"
    if seq > last + 1:
        return "gap"
    db.conn.execute("UPDATE stations SET last_seq = ?, last_seen = ? WHERE id = ?", (seq, received, station))
    return "next"
