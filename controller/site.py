"""The site's live rule state: opening hours, bookings, reservations, the ticket queue.

The pure rules (:mod:`controller.rules`) decide; this module keeps what they
need between calls, applies their answers to the floor and the store, and runs
one sweeper on the injected clock (every virtual minute):

* **bookings** come from the store (``bookings``, not cancelled) and are
  expanded over today and tomorrow. A "N of a kind" occurrence gets concrete
  stations at :func:`~controller.rules.assignment_due` (lead + session length
  before its start), so every walk-up grant made afterwards is cut to it.
  Assignments, releases and claims are kept in ``booking_holds`` and survive
  a restart.
* **reservations**: ``floor.live[s].reserved_for`` is the booking's label from
  ``booking_lead_minutes`` before its start to its end, or ``"ticket ABC4"``
  while a station is held for a called ticket. A session started on a station
  its booking holds is a session *of* the booking (origin ``booking``): that
  is how a booking is claimed. ``booking_release_minutes`` after the start,
  stations nobody claimed are released (and go to the queue or walk-ups).
  A walk-up session still running on a station when its booking starts (the
  booking was made at the last minute) is ended with reason ``booking``.
* **the queue**: a :class:`~controller.rules.TicketQueue`, rebuilt from
  ``queue_tickets`` at start-up; after every change the live tickets are
  written back and finished tickets go to ``queue_waits`` (no code). A station
  that becomes free is offered to the next ticket it may serve (the
  accessible rule), held ``queue_hold_minutes``; no-shows move on. At closing
  every ticket is forgotten.
* **last call**: ``last_call_minutes`` before closing every station in session
  gets a message (in the session's language) and an audit row
  ``site.last_call``; grants made that late already end at closing (cause
  ``closing``), so the agent also warns them as ``last_call``.

:func:`extension_for` is what the dashboard's "extend" button calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Coroutine, Iterable
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any

from controller.floor.floor import Floor
from controller.floor.state import State, StationView, derive_state
from controller.rules import (
    Booking,
    BookingError,
    Call,
    Extension,
    ExtensionRefused,
    Grant,
    Occurrence,
    Refusal,
    Station,
    TicketQueue,
    assign,
    assignment_due,
    decide_extension,
    decide_grant,
    next_booking_start,
    occurrences,
    release_unclaimed,
    reserved_stations,
    station_sort_key,
)
from controller.rules.queue import Ticket
from controller.settings import Settings
from controller.station_rules import fit_rules, hours_of, rules_for
from controller.store import Store
from espace import protocol as p
from espace.clock import Clock

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0  # virtual
GRANT_PENDING_S = 5.0  # real: a grant's session_started comes back within this


def booking_from_row(row: dict[str, Any]) -> Booking:
    return Booking(
        id=row["id"], label=row["label"] or "", start=row["start"], end=row["end"],
        stations=tuple(json.loads(row["stations"] or "[]")), kind=row["kind"], zone=row["zone"],
        count=row["count"] or 0, recurrence=row["recurrence"], until=row.get("until"),
    )  # fmt: skip


def booking_dict(b: Booking) -> dict[str, Any]:
    return {
        "id": b.id, "label": b.label, "start": b.start, "end": b.end, "stations": list(b.stations),
        "kind": b.kind, "zone": b.zone, "count": b.count, "recurrence": b.recurrence, "until": b.until,
    }  # fmt: skip


def _log_failed_write(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("site write failed: %s", fut.exception())


def _write_queue(db: Any, changed: list[Ticket], gone: list[str], records: list[Any], forget_all: bool) -> None:
    """The queue's changes since the last write (not the whole queue: thousands of tickets stay cheap)."""
    conn = db.conn
    if forget_all:
        conn.execute("DELETE FROM queue_tickets")
    conn.executemany("DELETE FROM queue_tickets WHERE code = ?", [(c,) for c in gone])
    conn.executemany(
        "INSERT OR REPLACE INTO queue_tickets (code, issued, accessible, called, station, kind) VALUES (?,?,?,?,?,?)",
        [(t.code, t.issued, int(t.accessible), t.called, t.station, t.kind) for t in changed],
    )
    conn.executemany(
        "INSERT INTO queue_waits (issued, served, outcome) VALUES (?,?,?)",
        [(r.issued, r.served, r.outcome) for r in records],
    )


class Site:
    """The live rules of one site; everything runs on the event loop."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: Store,
        floor: Floor,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.floor = floor
        self.hours = hours_of(settings)
        self.catalog = [Station(s.id, s.kind, s.zone, s.accessible) for s in settings.stations]
        self.by_id = {s.id: s for s in self.catalog}
        self.bookings: dict[str, Booking] = {}
        self.assigned: dict[str, tuple[str, ...]] = {}  # occurrence key -> stations
        self.released: set[tuple[str, str]] = set()  # (occurrence key, station)
        self.claimed: dict[str, set[str]] = {}  # occurrence key -> stations
        self.queue = TicketQueue(settings.queue_hold_minutes, rng)
        self._rng = rng
        self._queue_used = False  # tickets given since the last closing
        self._queue_dirty = False
        self._forget_all = False  # closing: delete every stored ticket
        self._queue_records: list[Any] = []  # wait records of the closing, to write
        self._version = 0
        self._occ_cache: tuple[tuple[Any, int], list[Occurrence]] | None = None
        self._assign_failed: set[str] = set()
        self._cut_sessions: set[str] = set()
        self._last_calls: set[float] = set()
        self._rules_day: date | None = None
        self._starting: dict[
            str, float
        ] = {}  # station -> monotonic deadline of a grant not yet started
        self._last_write: asyncio.Future[Any] | None = None  # the store applies writes in order
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # ================================================================ lifetime

    async def start(self, sweeper: bool = True) -> None:
        """Load bookings, holds and tickets from the store; listen to the floor; sweep."""
        rows = await self.store.read(
            lambda db: list(db.query("SELECT * FROM bookings WHERE cancelled IS NULL"))
        )
        for row in rows:
            try:
                self.bookings[row["id"]] = booking_from_row(row)
            except ValueError as exc:
                log.error("booking %s ignored: %s", row["id"], exc)
        holds = await self.store.read(lambda db: list(db.query("SELECT * FROM booking_holds")))
        assigned: dict[str, list[str]] = {}
        for h in holds:
            if h["state"] == "assigned":
                assigned.setdefault(h["occurrence"], []).append(h["station"])
            elif h["state"] == "released":
                self.released.add((h["occurrence"], h["station"]))
            elif h["state"] == "claimed":
                self.claimed.setdefault(h["occurrence"], set()).add(h["station"])
        self.assigned = {k: tuple(sorted(v, key=station_sort_key)) for k, v in assigned.items()}
        tickets = await self.store.read(
            lambda db: list(db.query("SELECT * FROM queue_tickets ORDER BY issued, rowid"))
        )
        self.queue = TicketQueue.from_tickets(
            [
                Ticket(t["code"], t["issued"], bool(t["accessible"]), t["called"], t["station"], t["kind"])
                for t in tickets
            ],
            self.settings.queue_hold_minutes, self._rng,
        )  # fmt: skip
        self._queue_used = bool(tickets)
        self.floor.listeners.append(self._on_view)
        await self.sweep()
        if sweeper:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="site-sweeper")

    async def stop(self) -> None:
        if self._on_view in self.floor.listeners:
            self.floor.listeners.remove(self._on_view)
        tasks = [t for t in (self._sweeper, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(Exception):
            await self.flush()

    async def _sweep_forever(self) -> None:
        while True:
            await self.clock.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception:  # one bad sweep must not stop the next ones
                log.exception("site sweep failed")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ================================================================ bookings

    def occurrences(self, now: float) -> list[Occurrence]:
        """Today's and tomorrow's occurrences (local days), with their assigned stations."""
        day = self.hours.local_date(now)
        key = (day, self._version)
        if self._occ_cache is None or self._occ_cache[0] != key:
            tz = self.hours.tz
            start = datetime.combine(day, time(0), tz).timestamp()
            end = datetime.combine(day + timedelta(days=2), time(0), tz).timestamp()
            occs = [
                o.assigned(self.assigned[o.key])
                if o.needs_assignment and o.key in self.assigned
                else o
                for o in occurrences(self.bookings.values(), start, end, tz)
            ]
            self._occ_cache = (key, occs)
        return self._occ_cache[1]

    def _changed_bookings(self) -> None:
        self._version += 1

    def held_by_booking(self, now: float) -> dict[str, Occurrence]:
        return reserved_stations(
            self.occurrences(now), now, self.settings.booking_lead_minutes, self.released
        )

    def next_booking(self, station: str, now: float) -> tuple[float, str] | None:
        return next_booking_start(station, self.occurrences(now), now, self.released)

    def station_bookings(self, station: str, now: float) -> list[Occurrence]:
        """Occurrences ahead on ``station`` (not over, not released there), by start."""
        return [
            o for o in self.occurrences(now)
            if station in o.stations and o.end > now and (o.key, station) not in self.released
        ]  # fmt: skip

    def reserved_for(self, station: str, now: float) -> str | None:
        """What holds ``station`` now: a booking's label, or ``"ticket CODE"``."""
        occ = self.held_by_booking(now).get(station)
        if occ is not None:
            return occ.label or occ.booking_id
        call = self.queue.held_stations().get(station)
        return None if call is None else f"ticket {call.code}"

    def walkup_grant(
        self, station: str, now: float, *, reserved_for: str | None
    ) -> Grant | Refusal:
        live = self.floor.live[station]
        return decide_grant(
            now, station,
            session_minutes=self.settings.session_minutes, hours=self.hours,
            next_booking=self.next_booking(station, now), reserved_for=reserved_for,
            locked=live.locked is not None, busy=live.session is not None,
            min_minutes=self.settings.min_session_minutes,
        )  # fmt: skip

    def check_booking(self, b: Booking, now: float) -> None:
        """:class:`BookingError` when ``b`` cannot be held, with its code and params.

        ``unknown_stations`` (stations), ``too_few_stations`` (available, asked),
        ``over``, ``station_booked`` (stations, label, booking_id: a clash with
        another booking), ``not_enough_free`` (free, asked, start, end: too few
        stations of the kind left by the other bookings; start and end are
        epoch seconds, the clashing occurrence's).
        """
        unknown = [s for s in b.stations if s not in self.by_id]
        if unknown:
            names = ", ".join(unknown)
            raise BookingError("unknown_stations", f"unknown station(s): {names}", stations=names)
        if b.count:
            fits = [
                s
                for s in self.catalog
                if (b.kind is None or s.kind == b.kind) and (b.zone is None or s.zone == b.zone)
            ]
            if len(fits) < b.count:
                raise BookingError(
                    "too_few_stations",
                    f"only {len(fits)} stations match kind {b.kind!r} zone {b.zone!r}",
                    available=len(fits), asked=b.count,
                )  # fmt: skip
        if b.end <= now and b.recurrence is None:
            raise BookingError("over", "the booking is over already")
        # from the booking's own start (not from today: one far ahead must not expand every recurring
        # booking until then, on the event loop) to two months past it: no clash in that window
        since = max(b.start, now)
        horizon = max(b.end, now) + 62 * 86400
        mine = occurrences([b], since, horizon, self.hours.tz)
        others = occurrences(self.bookings.values(), since, horizon, self.hours.tz)
        fit_ids = {
            s.id
            for s in self.catalog
            if (b.kind is None or s.kind == b.kind) and (b.zone is None or s.zone == b.zone)
        }
        for o in mine:
            overlapping = [x for x in others if x.start < o.end and o.start < x.end]
            held: set[str] = set()
            counted = 0  # stations of other "N of a kind" bookings not assigned yet
            for x in overlapping:
                stations = set(x.stations or self.assigned.get(x.key, ()))
                clash = set(o.stations) & stations
                if clash:
                    names = ", ".join(sorted(clash, key=station_sort_key))
                    raise BookingError(
                        "station_booked", f"{names} already booked by {x.booking_id!r} ({x.label})",
                        stations=names, label=x.label or x.booking_id, booking_id=x.booking_id,
                    )  # fmt: skip
                held |= stations
                if not stations and x.count and (x.kind in (None, b.kind) or b.kind is None):
                    counted += x.count
            if o.count and len(fit_ids - held) - counted < o.count:
                free = max(0, len(fit_ids - held) - counted)
                raise BookingError(
                    "not_enough_free",
                    f"only {free} matching stations are not booked "
                    f"from {self._local(o.start)} to {self._local(o.end)}; {o.count} asked",
                    free=free, asked=o.count, start=o.start, end=o.end,
                )  # fmt: skip

    def _local(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.hours.tz).strftime("%Y-%m-%d %H:%M")

    async def add_booking(self, b: Booking, created_by: str | None = None) -> None:
        now = self.clock.now()
        self.check_booking(b, now)
        row = {
            **booking_dict(b),
            "stations": json.dumps(list(b.stations)),
            "created_by": created_by,
        }
        await self.store.write(lambda db: db.table("bookings").insert(row))
        self.bookings[b.id] = b
        self._changed_bookings()
        await self.sweep()
        self.push_rules(b.stations)

    async def cancel_booking(self, booking_id: str) -> bool:
        b = self.bookings.pop(booking_id, None)
        if b is None:
            return False
        now = self.clock.now()
        stations = set(b.stations)
        for o in self.occurrences(now):
            if o.booking_id == booking_id:
                stations |= set(o.stations)
        await self.store.write(
            lambda db: db.execute(
                "UPDATE bookings SET cancelled = ? WHERE id = ?", [now, booking_id]
            )
        )
        self._changed_bookings()
        await self.sweep()
        self.push_rules(stations)
        return True

    def _hold(self, occ_key: str, stations: Iterable[str], state: str, now: float) -> None:
        rows = [(occ_key, s, state, now) for s in stations]
        if rows:
            self.write(
                lambda db: db.conn.executemany(
                    "INSERT OR IGNORE INTO booking_holds (occurrence, station, state, at) VALUES (?,?,?,?)",
                    rows,
                )
            )

    def _assign_due(self, now: float) -> None:
        lead, length = self.settings.booking_lead_minutes, self.settings.session_minutes
        for occ in self.occurrences(now):
            if not occ.needs_assignment or occ.key in self._assign_failed:
                continue
            if not (
                assignment_due(occ, lead_minutes=lead, session_minutes=length) <= now < occ.end
            ):
                continue
            busy_until = {
                sid: live.session.end
                for sid, live in self.floor.live.items()
                if live.session is not None
            }
            taken = {sid for sid, live in self.floor.live.items() if live.locked is not None}
            for other in self.occurrences(now):
                if other.key != occ.key and other.start < occ.end and occ.start < other.end:
                    taken |= {s for s in other.stations if (other.key, s) not in self.released}
            try:
                stations = assign(occ, self.catalog, busy_until, taken)
            except ValueError as exc:
                log.error("booking %s cannot be assigned: %s", occ.key, exc)
                self._assign_failed.add(occ.key)
                continue
            log.info("booking %s (%s) holds %s", occ.key, occ.label, ", ".join(stations))
            self.assigned[occ.key] = stations
            self._hold(occ.key, stations, "assigned", now)
            self._changed_bookings()
            self.push_rules(stations)

    def _release_unclaimed(self, now: float) -> None:
        for occ in self.occurrences(now):
            if not occ.stations:
                continue
            gone = release_unclaimed(
                occ, self.claimed.get(occ.key, set()), now, self.settings.booking_release_minutes
            )
            new = {s for s in gone if (occ.key, s) not in self.released}
            if new:
                log.info(
                    "booking %s: %s unclaimed, released",
                    occ.key,
                    ", ".join(sorted(new, key=station_sort_key)),
                )
                self.released |= {(occ.key, s) for s in new}
                self._hold(occ.key, new, "released", now)
                self.push_rules(new)

    def _cut_for_bookings(self, now: float) -> None:
        """End walk-up sessions still running on a station whose booking has started."""
        lead = self.settings.booking_lead_minutes * 60
        for station, occ in self.held_by_booking(now).items():
            s = self.floor.live[station].session
            if (
                s is None
                or now < occ.start
                or s.start >= occ.start - lead
                or s.session_id in self._cut_sessions
            ):
                continue
            self._cut_sessions.add(s.session_id)
            log.warning(
                "%s: session %s runs into booking %s; ending it", station, s.session_id, occ.key
            )
            self._spawn(
                self.floor.command(
                    station, p.EndSession(cmd=p.new_id(), session_id=s.session_id, reason="booking")
                )
            )

    def granted(self, station: str) -> None:
        """A grant went out: the station counts as taken until its session_started arrives.

        The event comes back through the agent's outbox a moment later; until
        then no other grant and no ticket call may take the station. The wait is
        transport latency, hence real seconds (``GRANT_PENDING_S``).
        """
        self._starting[station] = monotonic() + GRANT_PENDING_S

    def starting(self, station: str) -> bool:
        deadline = self._starting.get(station)
        if deadline is None:
            return False
        if monotonic() >= deadline:
            del self._starting[station]
            return False
        return True

    def _on_session_started(self, station: str, start: float) -> None:
        self._starting.pop(station, None)
        occ = self.held_by_booking(start).get(station)
        if occ is not None and station not in self.claimed.get(occ.key, set()):
            self.claimed.setdefault(occ.key, set()).add(station)
            self._hold(occ.key, [station], "claimed", start)

    def holds_for(self, station: str) -> list[p.Slot]:
        """A called queue ticket holding ``station``: the station refuses a local walk-up while it runs."""
        call = self.queue.held_stations().get(station)
        return [] if call is None else [p.Slot(start=call.called, end=call.hold_until, label=f"ticket {call.code}")]

    def push_rules(self, stations: Iterable[str]) -> None:
        """Send fresh rules (this station's bookings) to connected stations."""
        now = self.clock.now()
        for s in stations:
            if s in self.floor.conns:
                rules = fit_rules(rules_for(self.settings, self.station_bookings(s, now), now, self.holds_for(s)), s)
                self._spawn(self.floor.command(s, p.RulesUpdate(cmd=p.new_id(), rules=rules)))

    # ================================================================ the queue

    def kinds(self) -> list[str]:
        """The kinds of station on this site (``pc``, ``tablet``), in the settings' order."""
        return list(dict.fromkeys(s.kind for s in self.catalog))

    def issue_ticket(self, accessible: bool = False, kind: str | None = None) -> Ticket:
        """A ticket for a station of ``kind`` (``None``: any), accessible or not."""
        if kind is not None and kind not in self.kinds():
            raise ValueError(f"no station of kind {kind!r} here (kinds: {', '.join(self.kinds())})")
        now = self.clock.now()
        ticket = self.queue.issue(now, accessible, kind=kind)
        self._queue_used = self._queue_dirty = True
        self.offer_free(now)
        return ticket

    def cancel_ticket(self, code: str) -> Ticket | None:
        now = self.clock.now()
        ticket = self.queue.cancel(code, now)
        if ticket is not None:
            self._queue_dirty = True
            self.sync_reserved(now)
            self.offer_free(now)
        return ticket

    def claim_ticket(self, code: str, station: str, now: float) -> bool:
        ok = self.queue.claim(code, station, now)
        if ok:
            self._queue_dirty = True
            self._spawn(self.flush())
        return ok

    def _is_free(self, station: str, now: float) -> bool:
        live = self.floor.live[station]
        return (
            derive_state(live, now, self.floor.th) in (State.FREE, State.RESERVED)
            and live.session is None
            and not self.starting(station)
            and (self.reserved_for(station, now) is None)
        )

    def offer(self, station: str, now: float) -> Call | None:
        """Call the next ticket to ``station`` if it is free and would still grant a session at the hold's end."""
        if not self.queue.waiting() or not self._is_free(station, now):
            return None
        # the visitor may come at the end of the hold: a grant then must still be worth it
        latest = now + self.queue.hold_minutes * 60
        if not isinstance(self.walkup_grant(station, latest, reserved_for=None), Grant):
            return None
        spec = self.by_id[station]
        other_free_kinds = (
            {s.kind for s in self.catalog if not s.accessible and s.id != station and self._is_free(s.id, now)}
            if spec.accessible
            else set()
        )
        call = self.queue.station_freed(
            station, now, accessible_station=spec.accessible, station_kind=spec.kind,
            other_free_kinds=other_free_kinds,
        )  # fmt: skip
        if call is not None:
            self._queue_dirty = True
            live = self.floor.live[station]
            live.reserved_for = f"ticket {call.code}"
            self.floor.changed(station)
            self.push_rules([station])  # the hold reaches the station's cached rules: held even if the link drops
        return call

    def offer_free(self, now: float) -> None:
        """Offer every free station to the queue: ordinary ones first, then accessible ones."""
        if not self.queue.waiting():
            return
        order = sorted(self.catalog, key=lambda s: (s.accessible, station_sort_key(s.id)))
        for s in order:
            if not self.queue.waiting():
                break
            self.offer(s.id, now)

    def _on_view(self, station: str, new: StationView, old: StationView | None) -> None:
        if new.session_start is not None and (
            old is None or old.session_start != new.session_start
        ):
            self._on_session_started(station, new.session_start)
        if (
            new.state == State.FREE
            and (old is None or old.state != State.FREE)
            and self.queue.waiting()
        ):
            asyncio.get_running_loop().call_soon(self._freed, station)

    def _freed(self, station: str) -> None:
        if self.offer(station, self.clock.now()) is not None:
            self._spawn(self.flush())

    def _expire(self, now: float) -> None:
        gone = self.queue.expire(now)
        if gone:
            self._queue_dirty = True
            log.info("queue: %d no-show(s): %s", len(gone), ", ".join(g.station for g in gone))

    def _close_if_closed(self, now: float) -> None:
        if self.hours.is_open(now) or not self._queue_used:
            return
        live = len(self.queue.tickets())
        self._queue_records = self.queue.close(now)
        self._queue_used = False
        self._forget_all = True
        self._queue_dirty = True
        log.info("closing: %d ticket(s) forgotten", live)

    def _submit_queue(self) -> None:
        if not self._queue_dirty:
            return
        self._queue_dirty = False
        forget_all = self._forget_all
        records = self._queue_records + self.queue.take_records()
        self._forget_all, self._queue_records = False, []
        changed, gone = self.queue.take_changes()
        self.write(lambda db: _write_queue(db, changed, gone, records, forget_all))

    def write(self, fn: Callable[[Any], Any]) -> None:
        """Queue a store write; :meth:`flush` waits for it (and every one before it)."""
        fut = self.store.submit(fn)
        fut.add_done_callback(_log_failed_write)
        self._last_write = fut

    async def flush(self) -> None:
        """Write what changed (tickets, wait records, holds); return once all of it is committed."""
        self._submit_queue()
        last = self._last_write
        if last is not None:
            with contextlib.suppress(Exception):  # logged by _log_failed_write
                await asyncio.shield(last)

    # ================================================================ the floor

    def sync_reserved(self, now: float) -> None:
        """Set every station's ``reserved_for`` from the bookings and the calls."""
        held = self.held_by_booking(now)
        calls = self.queue.held_stations()
        for sid, live in self.floor.live.items():
            occ = held.get(sid)
            want = (occ.label or occ.booking_id) if occ is not None else None
            if want is None and sid in calls:
                want = f"ticket {calls[sid].code}"
            if live.reserved_for != want:
                live.reserved_for = want
                self.floor.changed(sid)

    def _last_call(self, now: float) -> None:
        closing = self.hours.closing_after(now)
        if closing is None or closing in self._last_calls:
            return
        if now < closing - self.settings.last_call_minutes * 60:
            return
        self._last_calls.add(closing)
        running = {
            sid: live.session for sid, live in self.floor.live.items() if live.session is not None
        }
        if running:
            self._spawn(self._send_last_call(running, closing))

    async def _send_last_call(self, running: dict[str, p.SessionInfo], closing: float) -> None:
        from espace.i18n import format_time, translator

        ids = [s.session_id for s in running.values()]
        marks = ",".join("?" * len(ids))
        langs = dict(
            await self.store.read(
                lambda db: db.execute(
                    f"SELECT id, lang FROM sessions WHERE id IN ({marks})", ids
                ).fetchall()
            )
        )
        now = self.clock.now()
        rows = []
        for station, s in running.items():
            lang = langs.get(s.session_id, "fr")
            text = translator(lang)(
                "queue.last_call", time=format_time(closing, lang, self.settings.timezone)
            )
            self._spawn(self.floor.command(station, p.Message(cmd=p.new_id(), text=text)))
            rows.append({
                "id": p.new_id(), "station": station, "seq": None, "type": "site.last_call", "at": now,
                "received": now, "session_id": s.session_id, "actor": None,
                "body": json.dumps({"closing": closing, "lang": lang}),
            })  # fmt: skip
        await self.store.write(lambda db: db.table("events").insert_all(rows))
        log.info("last call sent to %d station(s)", len(rows))

    async def sweep(self) -> None:
        """One pass of every time-based rule at the clock's now; then write what changed."""
        now = self.clock.now()
        self._assign_due(now)
        self._release_unclaimed(now)
        self._expire(now)
        self._close_if_closed(now)
        self.sync_reserved(now)
        self._cut_for_bookings(now)
        self.offer_free(now)
        self._last_call(now)
        self._new_day(now)
        await self.flush()

    def _new_day(self, now: float) -> None:
        """At the first sweep of a new day, every station gets its next two days of hours and bookings."""
        day = self.hours.local_date(now)
        if self._rules_day is not None and day != self._rules_day:
            self.push_rules(self.by_id)
        self._rules_day = day


def extension_for(
    site: Site, station: str, now: float, override: bool = False, actor: str | None = None
) -> Extension | ExtensionRefused:
    """Should the session on ``station`` be extended at ``now``? The rule's answer.

    For the dashboard's "extend" button (``controller/web/actions.py``). Reads
    the session and its extension count from the floor, the queue length (any
    waiting ticket counts), the next booking on the station and the closing
    time, and returns :func:`controller.rules.decide_extension`'s decision
    (``ExtensionRefused("ended")`` when no session runs). A steward's
    ``override`` lifts only the ``limit`` and ``queue`` rules, never closing or
    a booking. When an override was needed (``Extension.bypassed``), a row
    ``site.extension_override`` with ``actor`` and the bypassed rules is queued
    to the audit trail (``events``); the caller still sends the ``Extend``
    command and audits the action itself. Must run on the event loop.
    """
    live = site.floor.live.get(station)
    if live is None or live.session is None:
        return ExtensionRefused("ended")
    nxt = site.next_booking(station, now)
    decision = decide_extension(
        now, live.session.end,
        extensions_done=live.extensions, max_extensions=site.settings.max_extensions,
        extension_minutes=site.settings.extension_minutes, queue_waiting=len(site.queue.waiting()),
        next_booking_start=None if nxt is None else nxt[0], closing=site.hours.closing_after(now),
        override=override,
    )  # fmt: skip
    if isinstance(decision, Extension) and decision.bypassed:
        row = {
            "id": p.new_id(), "station": station, "seq": None, "type": "site.extension_override", "at": now,
            "received": now, "session_id": live.session.session_id, "actor": actor,
            "body": json.dumps({"bypassed": list(decision.bypassed), "end": decision.end}),
        }  # fmt: skip
        site.write(lambda db: db.table("events").insert(row))
        site._spawn(site.flush())
    return decision
