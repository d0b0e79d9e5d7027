"""The wire format between agent and controller — the only thing that crosses.

Versioned JSON over a WebSocket. Every message is a typed ``msgspec.Struct``
with a ``type`` tag; :func:`decode_from_agent` and :func:`decode_from_controller`
reject anything else with a :class:`ProtocolError` that says why, before any
of it is applied.

Events (agent → controller) carry a unique ``id`` and a per-station ``seq``;
they wait in the agent's durable outbox until the controller answers
:class:`EventAck` after committing them. Commands (controller → agent) carry a
``cmd`` id that the agent answers with :class:`CommandAck`.

Instants are UTC epoch seconds (float).
"""

from __future__ import annotations

import enum
import re
import uuid
from typing import Annotated, Literal, TypeGuard, TypeVar

import msgspec

PROTOCOL_VERSION = 1
WS_PATH = "/ws/agent"
MAX_FRAME_BYTES = 64 * 1024

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
StationId = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Seq = Annotated[int, msgspec.Meta(ge=1)]
Instant = Annotated[float, msgspec.Meta(ge=0, le=4_102_444_800)]  # up to 2100-01-01
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
StaffText = Annotated[str, msgspec.Meta(max_length=500)]
Lang = Literal["fr", "nl", "en"]
# Names a station's OS gives (printer and host names): they reach staff screens and the back
# office's spreadsheets. Printable text, no control or bidirectional-override character, not
# starting like a spreadsheet formula (= + - @) or with blank space. Agents clean them with
# os_name() before sending, so a real station never has an event refused for its printer's name.
OS_NAME_FORBIDDEN = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
OS_NAME_PATTERN = f"^(?![=+\\-@\\s])[^{OS_NAME_FORBIDDEN}]*$"
PrinterName = Annotated[str, msgspec.Meta(max_length=127, pattern=OS_NAME_PATTERN)]  # CUPS' own limit
HostName = Annotated[str, msgspec.Meta(max_length=253, pattern=OS_NAME_PATTERN)]  # DNS' limit
ProblemCode = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]

EndReason = Literal[
    "time",  # the granted length ran out
    "closing",  # the space closes
    "booking",  # a booking starts on this station
    "visitor",  # the visitor pressed "end my session"
    "idle",  # no input, and no answer to the idle prompt
    "steward",  # a steward ended it
    "station_restart",  # the agent came back and found a session it could not vouch for
    "screen",  # the session screen (the visitor's own process) went away during the session
]
END_REASONS: tuple[str, ...] = EndReason.__args__  # type: ignore[attr-defined]

GrantCause = Literal["length", "closing", "booking"]
Origin = Literal["walkup", "ticket", "booking", "steward"]
LANGS: tuple[Lang, ...] = Lang.__args__  # type: ignore[attr-defined]
Kind = Literal["pc", "tablet"]  # a station's kind (settings, bookings, reports)
KINDS: tuple[Kind, ...] = Kind.__args__  # type: ignore[attr-defined]


class CloseCode(enum.IntEnum):
    """Why the controller closes a WebSocket (4000-4999 are the application's; as aiohttp's WSCloseCode).

    Agents, the kiosk page (``dashboard/static/kiosk.js``) and the floor page
    (``floor.js``) act on them; ``tests/espace/test_vocabulary.py`` checks the
    pages use these values.
    """

    BAD_MESSAGE = 4400  # malformed, oversized, out of order: the link is dropped, nothing applied
    UNAUTHORISED = 4401  # unknown station, wrong or revoked token; a staff session logged out
    PENDING = 4403  # an enrolment waiting for an admin's approval
    REPLACED = 4409  # the same station connected again
    PROTOCOL_MISMATCH = 4426  # the agent speaks another protocol version
    STORE_DOWN = 4503  # the store cannot take the event now: try again later


M = TypeVar("M", bound=msgspec.Struct)


def new_id() -> str:
    return uuid.uuid4().hex


def os_name(text: str, limit: int) -> str:
    """``text`` as a :data:`PrinterName`/:data:`HostName` accepts it: forbidden characters dropped,
    leading formula signs and blanks stripped, at most ``limit`` characters."""
    cleaned = re.sub(r"^[=+\-@\s]+", "", re.sub(f"[{OS_NAME_FORBIDDEN}]", "", text))
    return cleaned[:limit]


class _Msg(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


# ---------------------------------------------------------------- shared pieces


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    cpu_percent: Annotated[float, msgspec.Meta(ge=0, le=100 * 256)] = 0.0
    mem_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.0
    disk_free_mb: Annotated[int, msgspec.Meta(ge=0)] = 0
    uptime_s: Annotated[int, msgspec.Meta(ge=0)] = 0
    battery_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    plugged: bool | None = None
    # what keeps the station from doing its job, "code: detail" (print_log_off, idle_source)
    problems: Annotated[list[Annotated[str, msgspec.Meta(max_length=240)]], msgspec.Meta(max_length=10)] = msgspec.field(default_factory=list)


class Slot(msgspec.Struct, kw_only=True, omit_defaults=True):
    start: Instant
    end: Instant
    label: ShortText = ""


class Rules(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a station needs to enforce sessions on its own."""

    session_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 60
    warn_minutes: list[Annotated[int, msgspec.Meta(ge=1, le=600)]] = msgspec.field(
        default_factory=lambda: [10, 5, 1]
    )
    idle_prompt_s: Annotated[int, msgspec.Meta(ge=10)] = 600
    idle_grace_s: Annotated[int, msgspec.Meta(ge=5)] = 120
    extension_minutes: Annotated[int, msgspec.Meta(ge=0)] = 30
    last_call_minutes: Annotated[int, msgspec.Meta(ge=0)] = 15
    print_quota_pages: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0: no quota
    timezone: ShortText = "Europe/Brussels"
    open_slots: list[Slot] = msgspec.field(default_factory=list)  # opening hours, from today
    slots_until: Instant = 0.0  # open_slots are complete up to here: no slot then means closed
    bookings: list[Slot] = msgspec.field(default_factory=list)  # this station's, ahead
    # holds on this station (a called queue ticket): no local walk-up grant while one runs
    holds: list[Slot] = msgspec.field(default_factory=list)

    min_session_minutes: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] = 5  # shorter: no session (espace/grant.py)


class SessionInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    session_id: Id
    start: Instant
    end: Instant
    cause: GrantCause = "length"


# ---------------------------------------------------------------- agent → controller


class Hello(_Msg, tag="hello", kw_only=True):
    station: StationId
    token: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    enrol_key: Annotated[str, msgspec.Meta(min_length=16, max_length=200)] | None = None  # with no token: asks to enrol
    protocol: int = PROTOCOL_VERSION
    agent_version: ShortText = ""
    capabilities: list[ShortText] = msgspec.field(default_factory=list)
    hostname: HostName = ""
    platform: ShortText = ""
    mac: ShortText = ""
    session: SessionInfo | None = None  # the session the agent is enforcing now, if any
    # The station's event sequence belongs to an *incarnation* of its agent, chosen at install (a random id
    # kept in the outbox): a re-installed agent starts again at seq 1 under a new one, never colliding with
    # the old numbers. "" is the incarnation of agents that predate it (and of the kiosk page).
    incarnation: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")] = ""
    # The lowest seq the station still holds (pending or kept after its ack), or its next seq when it
    # holds none; 0: not said. A controller whose last committed seq is lower (a store restored from a
    # backup) records the seqs in between as lost and takes the rest, instead of waiting for them forever.
    held_from: Annotated[int, msgspec.Meta(ge=0)] = 0


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Something wrong on a station that a steward or IT should know (shown on the floor).

    ``code`` is a key of the floor's catalog (``floor.problem.<code>``); ``detail`` is for IT,
    in the log and the station's sheet, never a visitor's text."""

    code: ProblemCode
    detail: ShortText = ""


class Heartbeat(_Msg, tag="heartbeat", kw_only=True):
    idle_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    health: Health | None = None
    sent: Instant = 0.0  # agent's clock, for latency figures
    # added in 0.2 (defaults keep older agents and controllers talking):
    problems: Annotated[list[Problem], msgspec.Meta(max_length=20)] | None = None  # None: not reported (older agent)
    time_probe: bool = False  # asks for a TimeSync answer (the agent measures its clock's offset)
    clock_offset_s: float = 0.0  # the offset the agent applies: controller's clock minus the station's


class StartRequest(_Msg, tag="start_request", kw_only=True):
    """The visitor pressed "start my session" (optionally with a queue ticket)."""

    request: Id
    lang: Lang = "fr"
    ticket: Annotated[str, msgspec.Meta(max_length=12)] | None = None
    dry_run: bool = False  # only ask what the grant would be, to show it before starting


class CommandAck(_Msg, tag="command_ack", kw_only=True):
    cmd: Id
    ok: bool = True
    error: ShortText = ""


class _Event(_Msg, kw_only=True):
    id: Id
    seq: Seq
    at: Instant


class SessionStarted(_Event, tag="session_started", kw_only=True):
    session_id: Id
    start: Instant
    end: Instant
    cause: GrantCause = "length"
    origin: Origin = "walkup"
    lang: Lang = "fr"
    offline: bool = False  # granted by the agent from cached rules while the controller was away


class SessionWarned(_Event, tag="session_warned", kw_only=True):
    session_id: Id
    minutes_left: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)]
    kind: Literal["time", "idle", "last_call"] = "time"


class SessionExtended(_Event, tag="session_extended", kw_only=True):
    session_id: Id
    end: Instant


class SessionEnded(_Event, tag="session_ended", kw_only=True):
    session_id: Id
    reason: EndReason


class StationReset(_Event, tag="station_reset", kw_only=True):
    session_id: Id | None = None
    ok: bool = True
    files_removed: Count = 0
    processes_ended: Count = 0
    error: ShortText = ""


class HelpRequested(_Event, tag="help_requested", kw_only=True):
    help_id: Id
    session_id: Id | None = None


class HelpCancelled(_Event, tag="help_cancelled", kw_only=True):
    help_id: Id


class PrintJob(_Event, tag="print_job", kw_only=True):
    job: Annotated[str, msgspec.Meta(max_length=100)]  # the print system's job id
    printer: PrinterName
    pages: Count
    colour_pages: Count = 0
    session_id: Id | None = None
    source: Literal["cups", "windows", "fake"] = "fake"


EscapeWhat = Literal[
    "screen_missing",  # the visitor's logon had no lock screen connected within the grace period
    "screen_closed",  # the lock screen went away while no session ran
    "screen_closed_in_session",  # the session panel went away during a session
    "focus_lost",  # another program took the focus from the lock screen
    "grab_failed",  # the lock screen could not hold the keyboard and pointer (another program held them)
]
ESCAPES: tuple[str, ...] = EscapeWhat.__args__  # type: ignore[attr-defined]
EscapeAction = Literal[
    "logged_off",  # the service ended the visitor's logon (auto-login brings a fresh lock screen)
    "session_ended",  # the session was ended (reason "screen") and the station reset
    "refocused",  # the lock screen took the focus back
    "none",  # noticed only
]


class EscapeAttempt(_Event, tag="escape_attempt", kw_only=True):
    """A visitor's way around the lock screen that the station noticed (anonymous: what, when, what it did)."""

    what: EscapeWhat
    action: EscapeAction = "none"
    session_id: Id | None = None


Event = SessionStarted | SessionWarned | SessionExtended | SessionEnded | StationReset | HelpRequested | HelpCancelled | PrintJob | EscapeAttempt
EVENT_TYPES: tuple[type[_Event], ...] = Event.__args__  # type: ignore[attr-defined]

FromAgent = Hello | Heartbeat | StartRequest | CommandAck | Event


# ---------------------------------------------------------------- controller → agent


class Welcome(_Msg, tag="welcome", kw_only=True):
    station: StationId
    server_time: Instant
    rules: Rules
    last_seq: int = 0  # the highest sequence number committed for this station (its incarnation in the hello)
    token: Annotated[str, msgspec.Meta(max_length=200)] | None = None  # set once, on enrolment
    locked: ShortText | None = None  # reason, when the station is out of order
    session: SessionInfo | None = None  # what the controller believes is running


class Pending(_Msg, tag="pending", kw_only=True):
    """Enrolment asked; an admin must approve the station. The connection closes; ask again later."""

    station: StationId
    fingerprint: ShortText = ""  # shown on the station and on the admin's list, to match the two


class _Command(_Msg, kw_only=True):
    cmd: Id


class Grant(_Command, tag="grant", kw_only=True):
    request: Id | None = None  # the StartRequest it answers; None when a steward opens it
    session_id: Id
    start: Instant
    end: Instant
    cause: GrantCause = "length"
    origin: Origin = "walkup"
    label: ShortText = ""  # e.g. the workshop the session is cut for
    dry_run: bool = False


class Refuse(_Command, tag="refuse", kw_only=True):
    request: Id
    reason: Literal["closed", "reserved", "locked", "busy", "bad_ticket", "no_time"]
    until: Instant | None = None  # when the station becomes available, if known


class Extend(_Command, tag="extend", kw_only=True):
    session_id: Id
    end: Instant


class EndSession(_Command, tag="end_session", kw_only=True):
    session_id: Id
    reason: EndReason = "steward"


class Message(_Command, tag="message", kw_only=True):
    text: StaffText


class Lock(_Command, tag="lock", kw_only=True):
    reason: ShortText = ""


class Unlock(_Command, tag="unlock", kw_only=True):
    pass


class HelpUpdate(_Command, tag="help_update", kw_only=True):
    """A steward took the help request ("a steward is coming") or closed it."""

    help_id: Id
    state: Literal["taken", "done"]


class RulesUpdate(_Command, tag="rules", kw_only=True):
    rules: Rules


class EventAck(_Msg, tag="event_ack", kw_only=True):
    id: Id
    seq: Seq


class EventReject(_Msg, tag="event_reject", kw_only=True):
    """The event was not stored. ``retry``: keep it and send the earlier ones first (a gap);
    otherwise it is wrong for this station and will never be taken: drop it."""

    id: Id
    seq: int
    reason: ShortText
    retry: bool = False


class Error(_Msg, tag="error", kw_only=True):
    reason: ShortText


class TimeSync(_Msg, tag="time_sync", kw_only=True):
    """The answer to a heartbeat with ``time_probe``: the controller's clock, to measure the offset."""

    sent: Instant  # the heartbeat's ``sent``, echoed (the agent matches its round trip)
    server_time: Instant


Command = Grant | Refuse | Extend | EndSession | Message | Lock | Unlock | HelpUpdate | RulesUpdate
FromController = Welcome | Pending | Command | EventAck | EventReject | Error | TimeSync


# ---------------------------------------------------------------- codecs


class ProtocolError(ValueError):
    """A message that cannot be accepted; the text says why."""


_encoder = msgspec.json.Encoder()
_from_agent = msgspec.json.Decoder(FromAgent)
_from_controller = msgspec.json.Decoder(FromController)


def encode(msg: _Msg) -> str:
    return _encoder.encode(msg).decode()


def _decode(decoder: msgspec.json.Decoder, data: str | bytes) -> object:
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(data)} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"invalid message: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None


def decode_from_agent(data: str | bytes) -> FromAgent:
    return _decode(_from_agent, data)  # type: ignore[return-value]


def decode_from_controller(data: str | bytes) -> FromController:
    return _decode(_from_controller, data)  # type: ignore[return-value]


def checked(msg: M) -> M:
    """``msg`` as the other side will decode it, or :class:`ProtocolError` saying why.

    msgspec validates on decode only: a message built from unchecked values (a control-socket
    request, a probe's reading) is encoded as it is and refused by the other side. Round-tripping
    it through the decoder of its own type catches that before it leaves or is stored."""
    try:
        return msgspec.json.decode(_encoder.encode(msg), type=type(msg))
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"invalid {type(msg).__name__}: {exc}") from None


def is_event(msg: object) -> TypeGuard[Event]:
    return isinstance(msg, EVENT_TYPES)
