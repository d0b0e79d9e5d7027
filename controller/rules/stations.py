"""What the rules need to know of a station, and the accessible-station rule.

The accessible PC and tablet (PC-45 and TAB-16 by default) go to a queue
ticket or a walk-up sent by the desk only when that visitor asks for one, or
when nothing else is free. A visitor who asks for an accessible station waits
for one: an ordinary station is no use to them.

API::

    Station(id, kind="pc", zone="", accessible=False)
    DEFAULT_ACCESSIBLE = ("PC-45", "TAB-16")
    accessible_rule_allows(*, wants_accessible, station_accessible, other_free) -> bool
    pick_station(free: Iterable[Station], *, wants_accessible=False, kind=None) -> Station | None
    station_sort_key(station_id) -> tuple   # PC-2 before PC-10
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_ACCESSIBLE: tuple[str, ...] = ("PC-45", "TAB-16")


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    kind: str = "pc"  # pc | tablet
    zone: str = ""
    accessible: bool = False


def station_sort_key(station_id: str) -> tuple[object, ...]:
    """Natural order of station ids: ``PC-2`` before ``PC-10``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", station_id)
        if part
    )


def accessible_rule_allows(
    *, wants_accessible: bool, station_accessible: bool, other_free: bool
) -> bool:
    """May this station go to this visitor?

    * an accessible station: yes if the visitor asks for one, or if no other
      (ordinary) station is free;
    * an ordinary station: yes unless the visitor asks for an accessible one.
    """
    if station_accessible:
        return wants_accessible or not other_free
    return not wants_accessible


def pick_station(
    free: Iterable[Station], *, wants_accessible: bool = False, kind: str | None = None
) -> Station | None:
    """The station the desk sends a visitor to, among ``free`` ones (of ``kind`` if given).

    Ordinary stations first for an ordinary need, the accessible one only when
    no ordinary station is free; only accessible stations for an accessible
    need. Ties go to the lowest id in natural order, so the choice is stable.
    """
    candidates = sorted(
        (s for s in free if kind is None or s.kind == kind),
        key=lambda s: station_sort_key(s.id),
    )
    ordinary_free = any(not s.accessible for s in candidates)
    allowed = [
        s
        for s in candidates
        if accessible_rule_allows(
            wants_accessible=wants_accessible,
            station_accessible=s.accessible,
            other_free=ordinary_free,
        )
    ]
    # prefer an ordinary station whenever the rule allows both
    allowed.sort(key=lambda s: (s.accessible != wants_accessible, station_sort_key(s.id)))
    return allowed[0] if allowed else None
