"""The pure rules of time slots: opening hours, bookings, grants, extensions, the queue.

No I/O, no clock reads, no asyncio: every function takes explicit instants
(UTC epoch seconds) and returns frozen dataclasses. The controller's handlers
call into them. Each module's docstring lists its API:

* :mod:`.hours` — :class:`OpeningHours`, :func:`parse_hours`
* :mod:`.stations` — :class:`Station`, the accessible-station rule
* :mod:`.bookings` — :class:`Booking`, :class:`Occurrence`, expansion, assignment, holds
* :mod:`.slots` — :func:`decide_grant` -> :class:`Grant` | :class:`Refusal`
* :func:`decide_extension` -> :class:`Extension` | :class:`ExtensionRefused`, from :mod:`espace.grant`
  (the one copy of the grant and extension arithmetic, shared with the stations)
* :mod:`.queue` — :class:`TicketQueue` and its tickets, calls and wait records
"""

from espace.grant import Extension, ExtensionRefused, decide_extension

from .bookings import (
    Booking,
    BookingError,
    Occurrence,
    Recurrence,
    assign,
    assignment_due,
    next_booking_start,
    occurrences,
    release_unclaimed,
    reserved_stations,
)
from .hours import BRUSSELS, OpeningHours, parse_hours, parse_range
from .queue import Call, NoShow, Ticket, TicketQueue, WaitRecord, normalise_code
from .slots import Grant, Refusal, decide_grant
from .stations import (
    DEFAULT_ACCESSIBLE,
    Station,
    accessible_rule_allows,
    pick_station,
    station_sort_key,
)

__all__ = [
    "BRUSSELS",
    "DEFAULT_ACCESSIBLE",
    "Booking",
    "BookingError",
    "Call",
    "Extension",
    "ExtensionRefused",
    "Grant",
    "NoShow",
    "Occurrence",
    "OpeningHours",
    "Recurrence",
    "Refusal",
    "Station",
    "Ticket",
    "TicketQueue",
    "WaitRecord",
    "accessible_rule_allows",
    "assign",
    "assignment_due",
    "decide_extension",
    "decide_grant",
    "next_booking_start",
    "normalise_code",
    "occurrences",
    "parse_hours",
    "parse_range",
    "pick_station",
    "release_unclaimed",
    "reserved_stations",
    "station_sort_key",
]
