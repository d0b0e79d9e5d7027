"""Bookings: stations held for a workshop or a school visit.

A :class:`Booking` holds named stations (``stations=("PC-01", "PC-02")``) or
``count`` stations of a ``kind`` and/or ``zone`` (25 tablets for a school
visit), from ``start`` to ``end``, with a label shown to visitors. It may
recur: ``"daily"``, ``"weekly:tue"`` (or ``"weekly:mon,thu"``),
``"monthly:1:tue"`` (first Tuesday; ``-1`` is the last), up to ``until``.
A recurring booking keeps its local wall time (10:00-12:00) across DST.

The controller works on :class:`Occurrence` s, the bookings expanded over a
window. The life of one occurrence:

1. ``assignment_due(occ, ...)``: from then on a "N of a kind" occurrence gets
   concrete stations from :func:`assign`, once; keep the result with
   ``occ.assigned(stations)``. Assigning that early (``lead + session length``
   before the start) means every walk-up grant made afterwards is cut to the
   booking, and every session granted before ends before the reservation.
2. :func:`reserved_stations`: from ``lead_minutes`` before the start to the
   end, its stations show ``reserved`` and refuse walk-ups.
3. :func:`release_unclaimed`: ``grace_minutes`` after the start, stations
   nobody claimed are released (the caller keeps ``(occ.key, station)`` pairs
   and passes them back as ``released``).
4. :func:`next_booking_start`: what a walk-up grant on a station is cut to.

Every refusal is a :class:`BookingError` (a ``ValueError``) with a stable
``code`` and its details as ``params``, so that a screen can say it in the
reader's language (the catalog's ``err.bad_booking.<code>``); ``str(exc)`` is
the English text for logs and API clients.

API::

    BookingError(code, message, **params) .code -> str, .params -> dict[str, str | int | float]
    Booking(id, label, start, end, stations=(), kind=None, zone=None, count=0,
            recurrence=None, until=None)
    Occurrence(booking_id, label, start, end, stations=(), kind=None, zone=None, count=0)
        .key -> str, .assigned(stations) -> Occurrence, .needs_assignment -> bool
    occurrences(bookings, start, end, tz=BRUSSELS) -> list[Occurrence]
    assignment_due(occ, *, lead_minutes=15, session_minutes=60) -> float
    assign(occ, stations_catalog, busy_until, taken=()) -> tuple[str, ...]
    reserved_stations(occs, now, lead_minutes=15, released=()) -> dict[str, Occurrence]
    release_unclaimed(occ, claimed_stations, now, grace_minutes=15, whole_booking=False)
        -> frozenset[str]
    next_booking_start(station, occs, after, released=()) -> tuple[float, str] | None
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .hours import BRUSSELS, WEEKDAYS
from .stations import Station, station_sort_key


class BookingError(ValueError):
    """A booking that cannot be kept: ``code`` names the rule, ``params`` its details.

    Codes raised here: ``bad_recurrence`` (recurrence), ``ends_before_start``,
    ``stations_or_count``, ``negative_count``, ``too_long`` (days),
    ``recurring_too_long``. The site (:meth:`controller.site.Site.check_booking`)
    and the desk's validation (``controller/web/desk.py``) raise their own codes.
    """

    def __init__(self, code: str, message: str, **params: str | int | float) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A parsed recurrence rule: on which local dates a booking happens again."""

    weekdays: frozenset[int]  # 0 = Monday
    nth: int | None = None  # monthly: 1..5, or -1 for the last such weekday

    @classmethod
    def parse(cls, text: str) -> Recurrence:
        parts = text.strip().lower().split(":")
        try:
            if parts == ["daily"]:
                return cls(frozenset(range(7)))
            if parts[0] == "weekly" and len(parts) == 2:
                return cls(frozenset(WEEKDAYS.index(d.strip()) for d in parts[1].split(",")))
            if parts[0] == "monthly" and len(parts) == 3:
                nth = int(parts[1])
                if nth not in (1, 2, 3, 4, 5, -1):
                    raise ValueError
                return cls(frozenset({WEEKDAYS.index(parts[2].strip())}), nth)
        except ValueError:
            pass
        raise BookingError(
            "bad_recurrence",
            f"recurrence {text!r}: expected 'daily', 'weekly:tue', 'weekly:mon,thu' "
            "or 'monthly:N:tue' (N = 1 to 5, or -1 for the last)",
            recurrence=text,
        )

    def matches(self, day: date) -> bool:
        if day.weekday() not in self.weekdays:
            return False
        if self.nth is None:
            return True
        if self.nth == -1:
            return (day + timedelta(days=7)).month != day.month
        return (day.day - 1) // 7 + 1 == self.nth


MAX_PER_STATION_DAY = 24  # occurrences on one station in one local day (one each half hour, open 12 hours)
# what a label may not hold: control characters (JSON makes each six bytes, screens show nothing) and
# the bidirectional controls that reorder what a steward reads (U+202A-E, U+2066-9, marks)
LABEL_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_BOOKING_S = 31 * 86400  # a booking holds stations for hours or days; a month is past any workshop or visit


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    label: str
    start: float
    end: float
    stations: tuple[str, ...] = ()
    kind: str | None = None
    zone: str | None = None
    count: int = 0
    recurrence: str | None = None
    until: float | None = None  # recurring: no occurrence starts after this instant

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise BookingError("ends_before_start", f"booking {self.id!r}: ends before it starts")
        if bool(self.stations) == (self.count > 0):
            raise BookingError(
                "stations_or_count",
                f"booking {self.id!r}: give either named stations or a count of stations",
            )
        if self.count < 0:
            raise BookingError("negative_count", f"booking {self.id!r}: count must not be negative")
        if self.end - self.start > MAX_BOOKING_S:
            days = MAX_BOOKING_S // 86400
            raise BookingError(
                "too_long", f"booking {self.id!r}: lasts more than {days} days", days=days
            )
        if self.recurrence is not None:
            Recurrence.parse(self.recurrence)
            if self.end - self.start > 86400:
                raise BookingError(
                    "recurring_too_long",
                    f"booking {self.id!r}: a recurring booking lasts at most a day each time",
                )


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One sitting of a booking; ``stations`` is empty until a count booking is assigned."""

    booking_id: str
    label: str
    start: float
    end: float
    stations: tuple[str, ...] = ()
    kind: str | None = None
    zone: str | None = None
    count: int = 0

    @property
    def key(self) -> str:
        """Identifies the occurrence: the booking id and its start instant."""
        return f"{self.booking_id}@{round(self.start)}"

    @property
    def needs_assignment(self) -> bool:
        return self.count > 0 and not self.stations

    def assigned(self, stations: tuple[str, ...]) -> Occurrence:
        return replace(self, stations=tuple(stations))


def check_label(label: str) -> None:
    """:class:`BookingError` ``label_characters`` when the label holds a control or bidi-override character."""
    bad = LABEL_FORBIDDEN.search(label)
    if bad is not None:
        raise BookingError(
            "label_characters", f"label: character U+{ord(bad.group()):04X} is not allowed", char=f"U+{ord(bad.group()):04X}"
        )


def check_station_load(
    mine: Iterable[Occurrence],
    others: Iterable[Occurrence],
    stations_of: Callable[[Occurrence], Iterable[str]],
    tz: ZoneInfo = BRUSSELS,
    limit: int = MAX_PER_STATION_DAY,
) -> None:
    """:class:`BookingError` ``too_many_bookings`` when ``mine`` would put more than ``limit`` occurrences
    on one station in one local day. ``stations_of`` says which stations an occurrence may take (a count
    booking not yet assigned counts on every station it may be given: what a station's rules carry
    must stay bounded whichever it gets)."""
    per: Counter[tuple[str, date]] = Counter()
    for o in others:
        day = datetime.fromtimestamp(o.start, tz).date()
        for s in stations_of(o):
            per[s, day] += 1
    for o in mine:
        day = datetime.fromtimestamp(o.start, tz).date()
        for s in stations_of(o):
            per[s, day] += 1
            if per[s, day] > limit:
                raise BookingError(
                    "too_many_bookings", f"{s} would have more than {limit} bookings on {day.isoformat()}",
                    station=s, day=day.isoformat(), max=limit,
                )  # fmt: skip


def _occurrence(b: Booking, start: float, end: float) -> Occurrence:
    return Occurrence(b.id, b.label, start, end, b.stations, b.kind, b.zone, b.count)


def _expand(b: Booking, start: float, end: float, tz: ZoneInfo) -> Iterable[Occurrence]:
    if b.recurrence is None:
        if b.start < end and b.end > start:
            yield _occurrence(b, b.start, b.end)
        return
    rule = Recurrence.parse(b.recurrence)
    first = datetime.fromtimestamp(b.start, tz)
    wall_length = datetime.fromtimestamp(b.end, tz).replace(tzinfo=None) - first.replace(
        tzinfo=None
    )
    day = max(first.date(), datetime.fromtimestamp(start, tz).date() - wall_length - timedelta(1))
    last = datetime.fromtimestamp(end, tz).date()
    while day <= last:
        if rule.matches(day):
            wall_start = datetime.combine(day, first.time())
            occ_start = wall_start.replace(tzinfo=tz).timestamp()
            occ_end = (wall_start + wall_length).replace(tzinfo=tz).timestamp()
            if b.until is not None and occ_start > b.until:
                return
            if occ_start < end and occ_end > start and occ_end > occ_start:
                yield _occurrence(b, occ_start, occ_end)
        day += timedelta(days=1)


def occurrences(
    bookings: Iterable[Booking], start: float, end: float, tz: ZoneInfo = BRUSSELS
) -> list[Occurrence]:
    """Every occurrence overlapping ``[start, end)``, by start (then booking id)."""
    found = [occ for b in bookings for occ in _expand(b, start, end, tz)]
    return sorted(found, key=lambda o: (o.start, o.booking_id))


def assignment_due(
    occ: Occurrence, *, lead_minutes: float = 15, session_minutes: float = 60
) -> float:
    """When to :func:`assign` a count occurrence: ``lead + session`` before its start."""
    return occ.start - (lead_minutes + session_minutes) * 60


def assign(
    occ: Occurrence,
    stations_catalog: Iterable[Station],
    busy_until: Mapping[str, float],
    taken: Collection[str] = (),
) -> tuple[str, ...]:
    """Concrete stations for ``occ``, in natural order.

    Named stations come back as they are. For ``count`` of a kind/zone: only
    stations of that kind and zone and not in ``taken`` (held by an overlapping
    booking); ordinary stations before accessible ones (an accessible station
    is used only if needed); among those, stations free at the booking start
    (``busy_until`` = when the current session ends; absent = free), then the
    ones that free earliest, then by id. Raises :class:`ValueError` when too
    few stations match.
    """
    if occ.stations:
        return occ.stations
    candidates = [
        s
        for s in stations_catalog
        if (occ.kind is None or s.kind == occ.kind)
        and (occ.zone is None or s.zone == occ.zone)
        and s.id not in taken
    ]
    if len(candidates) < occ.count:
        what = " ".join(
            x for x in (occ.kind or "station", f"in zone {occ.zone}" if occ.zone else "") if x
        )
        raise ValueError(
            f"booking {occ.booking_id!r} needs {occ.count} {what}, only {len(candidates)} available"
        )

    def preference(s: Station) -> tuple[object, ...]:
        busy = busy_until.get(s.id, float("-inf"))
        return (s.accessible, busy > occ.start, busy, station_sort_key(s.id))

    chosen = sorted(candidates, key=preference)[: occ.count]
    return tuple(sorted((s.id for s in chosen), key=station_sort_key))


def reserved_stations(
    occs: Iterable[Occurrence],
    now: float,
    lead_minutes: float = 15,
    released: Collection[tuple[str, str]] = (),
) -> dict[str, Occurrence]:
    """Stations held at ``now``: from ``lead_minutes`` before an occurrence to its end.

    Maps station id to the (earliest) occurrence holding it; ``released``
    holds ``(occ.key, station)`` pairs given back by :func:`release_unclaimed`.
    Count occurrences not yet assigned hold nothing.
    """
    held: dict[str, Occurrence] = {}
    for occ in sorted(occs, key=lambda o: o.start):
        if occ.start - lead_minutes * 60 <= now < occ.end:
            for station in occ.stations:
                if (occ.key, station) not in released:
                    held.setdefault(station, occ)
    return held


def release_unclaimed(
    occ: Occurrence,
    claimed_stations: Collection[str],
    now: float,
    grace_minutes: float = 15,
    whole_booking: bool = False,
) -> frozenset[str]:
    """Stations of ``occ`` to release at ``now``.

    From ``grace_minutes`` after the start until the end, each station nobody
    claimed (no session started on it for the booking) is released. With
    ``whole_booking=True`` the stations go only if none was claimed at all
    (a workshop run from one station keeps the others).
    """
    if not (occ.start + grace_minutes * 60 <= now < occ.end):
        return frozenset()
    if whole_booking and any(s in claimed_stations for s in occ.stations):
        return frozenset()
    return frozenset(s for s in occ.stations if s not in claimed_stations)


def next_booking_start(
    station: str,
    occs: Iterable[Occurrence],
    after: float,
    released: Collection[tuple[str, str]] = (),
) -> tuple[float, str] | None:
    """``(start, label)`` of the earliest occurrence on ``station`` not over at ``after``.

    An occurrence already running at ``after`` counts (its start is then not
    after ``after``; :func:`~controller.rules.slots.decide_grant` refuses), so a
    grant can never overlap a booking. Released stations do not count.
    """
    best: tuple[float, str] | None = None
    for occ in occs:
        if occ.end > after and station in occ.stations and (occ.key, station) not in released:
            if best is None or occ.start < best[0]:
                best = (occ.start, occ.label)
    return best
