"""The anonymous ticket queue of the welcome desk, as a pure state object.

The desk issues a ticket when every station is busy: a short random code
(a letter and three digits, ``K473``), never a name. The code is called out loud
across the room in French and Dutch: its letter is one of six whose names sound
unlike each other in both (A, F, K, R, X, Z: no B/D/P/T/V/W "é"/"ee" rhymes, no
M/N, no H that drops in speech), and no letter looks like a digit (no O, I, L, S, B).
When a station frees, the controller calls :meth:`TicketQueue.station_freed`:
the next waiting ticket is called to it and the station is held for
``hold_minutes`` (5). The code shows on the public "now serving" page; the
visitor types it on that station's lock screen (:meth:`claim`). A ticket not
claimed in time is a no-show (:meth:`expire`): it leaves the queue, and the
caller offers the station again with :meth:`station_freed`. At closing,
:meth:`close` forgets every ticket; what the reports keep is a
:class:`WaitRecord` (issued, served, outcome) without the code.

Order: tickets are served strictly in issue order within each need (a kind
of station and accessibility). The desk says which kind a ticket wants (a PC
or a tablet; ``None``: either, as tickets written before kinds had): it is
called only to a station of that kind, so a visitor who needs a PC is never
sent to a tablet because the PCs are full. A ticket that asks for an
accessible station waits for one of its kind; an accessible station goes to
an ordinary ticket only when no other station of that ticket's kind is free
(see :mod:`controller.rules.stations`). A station is held for at most one
ticket.

No clock is read: every method takes ``now``. Randomness comes from ``rng``
(``secrets.SystemRandom`` unless a seeded ``random.Random`` is given).

API::

    TicketQueue(hold_minutes=5, rng=None)
    TicketQueue.from_tickets(tickets, hold_minutes=5, rng=None)  # after a restart
    q.issue(now, accessible=False, rng=None, kind=None) -> Ticket
    q.station_freed(station, now, *, accessible_station=False, station_kind=None,
                    other_free_stations_exist=True,
                    other_free_kinds=None) -> Call | None
    q.claim(code, station, now) -> bool
    q.expire(now) -> list[NoShow]
    q.cancel(code, now) -> Ticket | None   # the visitor left; if it was called, offer its station again
    q.now_serving() -> list[tuple[str, str]]   # (code, station), oldest call first
    q.waiting() -> list[Ticket]             # not yet called, in issue order
    q.position(code) -> int | None          # 1 = next of its need (kind and accessibility)
    q.positions() -> dict[str, int]         # every waiting ticket's position, in one pass
    q.take_changes() -> tuple[list[Ticket], list[str]]  # tickets changed, codes gone, since the last take
    q.held_stations() -> dict[str, Call]
    q.tickets() -> list[Ticket]             # live tickets, for the queue_tickets table
    q.take_records() -> list[WaitRecord]    # finished tickets since the last take
    q.close(now) -> list[WaitRecord]        # forget everything; all records not yet taken
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from .stations import accessible_rule_allows

CODE_LETTERS = "AFKRXZ"  # names unlike each other in French and Dutch, none like a digit
CODE_DIGITS = "0123456789"  # no letter O or I in the codes: every digit can be read as one
CODE_DIGIT_COUNT = 3
CODE_SPACE = len(CODE_LETTERS) * len(CODE_DIGITS) ** CODE_DIGIT_COUNT

MAX_LIVE_TICKETS = 500  # a desk hands out dozens at a time; thousands is a stuck button or a script

Outcome = Literal["claimed", "no_show", "closed", "cancelled"]


class QueueFull(RuntimeError):
    """As many tickets as :data:`MAX_LIVE_TICKETS` are live: no more until some are served or cancelled."""


def normalise_code(text: str) -> str:
    """What the visitor typed, as a code: upper case, spaces and dashes dropped, and a letter O or I
    typed among the digits read as the digit it looks like (codes have neither letter)."""
    code = "".join(ch for ch in text.upper() if ch not in " -")
    return code[:1] + code[1:].translate(_LOOK_ALIKES)


_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


@dataclass(frozen=True, slots=True)
class Ticket:
    code: str
    issued: float
    accessible: bool = False
    called: float | None = None
    station: str | None = None  # the station it is called to
    kind: str | None = None  # the kind of station it wants ("pc", "tablet"); None: any kind

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Call:
    code: str
    station: str
    called: float
    hold_until: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NoShow:
    code: str
    station: str  # now free to offer again
    issued: float
    called: float


@dataclass(frozen=True, slots=True)
class WaitRecord:
    """What the reports keep of a ticket (table ``queue_waits``): no code."""

    issued: float
    served: float | None  # claimed at; None unless the ticket was claimed
    outcome: Outcome

    @property
    def wait_seconds(self) -> float | None:
        return None if self.served is None else self.served - self.issued

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class TicketQueue:
    def __init__(
        self, hold_minutes: float = 5, rng: random.Random | None = None, max_live: int = MAX_LIVE_TICKETS
    ) -> None:
        self.hold_minutes = hold_minutes
        self.max_live = max_live
        self._rng = rng or secrets.SystemRandom()
        self._live: dict[str, Ticket] = {}  # insertion order is issue order
        self._used: set[str] = set()  # codes given out since the last close
        self._records: list[WaitRecord] = []
        self._changed: dict[str, Ticket | None] = {}  # since the last take_changes: code -> ticket, None: gone

    def _set(self, ticket: Ticket) -> None:
        self._live[ticket.code] = ticket
        self._changed[ticket.code] = ticket

    def _drop(self, code: str) -> Ticket | None:
        ticket = self._live.pop(code, None)
        if ticket is not None:
            self._changed[code] = None
        return ticket

    @classmethod
    def from_tickets(
        cls, tickets: Iterable[Ticket], hold_minutes: float = 5, rng: random.Random | None = None
    ) -> TicketQueue:
        """Rebuild the queue from stored live tickets (any order)."""
        queue = cls(hold_minutes, rng)
        for t in sorted(tickets, key=lambda t: t.issued):
            queue._live[t.code] = t
            queue._used.add(t.code)
        return queue

    # ------------------------------------------------------------ desk

    def _new_code(self, rng: random.Random) -> str:
        if len(self._used) >= CODE_SPACE:
            raise RuntimeError("every ticket code is in use; close the queue first")
        while True:
            code = rng.choice(CODE_LETTERS) + "".join(rng.choice(CODE_DIGITS) for _ in range(CODE_DIGIT_COUNT))
            if code not in self._used:
                return code

    def issue(
        self,
        now: float,
        accessible: bool = False,
        rng: random.Random | None = None,
        kind: str | None = None,
    ) -> Ticket:
        if len(self._live) >= self.max_live:
            raise QueueFull(f"{len(self._live)} tickets are live already (at most {self.max_live})")
        ticket = Ticket(self._new_code(rng or self._rng), now, accessible, kind=kind)
        self._set(ticket)
        self._used.add(ticket.code)
        return ticket

    def cancel(self, code: str, now: float) -> Ticket | None:
        """The desk drops a ticket; returns it (its ``station``, if called, is free again)."""
        ticket = self._drop(normalise_code(code))
        if ticket is not None:
            self._records.append(WaitRecord(ticket.issued, None, "cancelled"))
        return ticket

    # ------------------------------------------------------------ calls

    def _call_of(self, ticket: Ticket) -> Call:
        assert ticket.station is not None
        assert ticket.called is not None
        return Call(
            ticket.code, ticket.station, ticket.called, ticket.called + self.hold_minutes * 60
        )

    def held_stations(self) -> dict[str, Call]:
        return {t.station: self._call_of(t) for t in self._live.values() if t.station is not None}

    def station_freed(
        self,
        station: str,
        now: float,
        *,
        accessible_station: bool = False,
        station_kind: str | None = None,
        other_free_stations_exist: bool = True,
        other_free_kinds: Iterable[str] | None = None,
    ) -> Call | None:
        """Call the next ticket that may have ``station``; ``None`` if none (or already held).

        ``station_kind``: the station's kind; a ticket that wants another kind is passed
        over (``None``: every ticket may have it). For an accessible station only:
        ``other_free_kinds``, the kinds of which an ordinary station is free besides this
        one (an ordinary ticket of such a kind is sent there instead); without it,
        ``other_free_stations_exist`` says the same for every kind at once.
        """
        if station in self.held_stations():
            return None
        free_kinds = None if other_free_kinds is None else set(other_free_kinds)
        waiting = [
            t for t in self.waiting() if t.kind is None or station_kind is None or t.kind == station_kind
        ]
        if accessible_station:
            # a waiting accessible ticket first, whatever its place in the queue: an ordinary
            # ticket issued earlier can use any station, that one only this kind of station
            waiting.sort(key=lambda t: not t.accessible)
        for ticket in waiting:
            if free_kinds is None:
                other_free = other_free_stations_exist
            elif ticket.kind is None:
                other_free = bool(free_kinds)
            else:
                other_free = ticket.kind in free_kinds
            if accessible_rule_allows(
                wants_accessible=ticket.accessible,
                station_accessible=accessible_station,
                other_free=other_free,
            ):
                called = replace(ticket, called=now, station=station)
                self._set(called)
                return self._call_of(called)
        return None

    def claim(self, code: str, station: str, now: float) -> bool:
        """The visitor typed ``code`` on ``station``: valid only there, before the hold ends."""
        ticket = self._live.get(normalise_code(code))
        if ticket is None or ticket.station != station:
            return False
        if now >= self._call_of(ticket).hold_until:
            return False
        self._drop(ticket.code)
        self._records.append(WaitRecord(ticket.issued, now, "claimed"))
        return True

    def expire(self, now: float) -> list[NoShow]:
        """Drop the called tickets whose hold is over; their stations are free again."""
        gone: list[NoShow] = []
        for ticket in list(self._live.values()):
            if ticket.station is not None and now >= self._call_of(ticket).hold_until:
                assert ticket.called is not None
                self._drop(ticket.code)
                self._records.append(WaitRecord(ticket.issued, None, "no_show"))
                gone.append(NoShow(ticket.code, ticket.station, ticket.issued, ticket.called))
        return gone

    # ------------------------------------------------------------ views

    def now_serving(self) -> list[tuple[str, str]]:
        calls = sorted(self.held_stations().values(), key=lambda c: c.called)
        return [(c.code, c.station) for c in calls]

    def waiting(self) -> list[Ticket]:
        return [t for t in self._live.values() if t.station is None]

    def position(self, code: str) -> int | None:
        """Place among the waiting tickets of the same need, kind and accessibility (1 = next);
        ``None`` if not waiting."""
        ticket = self._live.get(normalise_code(code))
        if ticket is None or ticket.station is not None:
            return None
        return self.positions()[ticket.code]

    def positions(self) -> dict[str, int]:
        """Every waiting ticket's :meth:`position`, in one pass over the queue."""
        counts: dict[tuple[str | None, bool], int] = {}
        out: dict[str, int] = {}
        for t in self._live.values():
            if t.station is None:
                need = (t.kind, t.accessible)
                counts[need] = out[t.code] = counts.get(need, 0) + 1
        return out

    def tickets(self) -> list[Ticket]:
        return list(self._live.values())

    def take_changes(self) -> tuple[list[Ticket], list[str]]:
        """Tickets issued or called, and codes gone (claimed, cancelled, no-show), since the last take:
        what the ``queue_tickets`` table needs, instead of the whole queue again."""
        changed, self._changed = self._changed, {}
        return [t for t in changed.values() if t is not None], [c for c, t in changed.items() if t is None]

    # ------------------------------------------------------------ records

    def take_records(self) -> list[WaitRecord]:
        records, self._records = self._records, []
        return records

    def close(self, now: float) -> list[WaitRecord]:
        """Closing time: forget every ticket and code; return the records not yet taken."""
        for ticket in self._live.values():
            self._records.append(WaitRecord(ticket.issued, None, "closed"))
        self._live.clear()
        self._used.clear()
        self._changed.clear()  # the caller forgets the whole table
        return self.take_records()
