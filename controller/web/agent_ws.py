"""The agents' WebSocket endpoint.

The first frame must be ``hello`` with the station's token. Then: heartbeats
update the floor; start requests get a grant or a refusal; events are
committed (in order, group-committed by the store) and only then acknowledged;
command acks resolve the floor's waiting commands.

Bad input never reaches the store: a malformed frame, an unknown type, a
wrong token or an oversized frame closes the connection with a 44xx code
and a reason, and a log line says which station and why. An event that is
well-formed but wrong for this station (a sequence from the past, another
station's session) gets an ``event_reject`` and stays out of the store.

Agents send no ``Origin``; a browser always does. A WebSocket from a page of
another origin (any site a visitor opens on the LAN) is refused with 403 before
the upgrade; the kiosk page, served by this controller, has its own origin.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlite_utils
from aiohttp import WSMsgType, web

from controller import enrolment, sessions, stations
from controller.floor.floor import Connection
from controller.store import StoreError
from controller.store.apply import MAX_SESSION_S, EventRejected, Plausible, apply_event
from controller.web import keys
from controller.web.agent_limits import EventBudget, consume_malformed, malformed_event
from espace import protocol as p

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0

# close codes: named once in espace.protocol.CloseCode
BAD_MESSAGE = p.CloseCode.BAD_MESSAGE
UNAUTHORISED = p.CloseCode.UNAUTHORISED
REPLACED = p.CloseCode.REPLACED
PENDING = p.CloseCode.PENDING
PROTOCOL_MISMATCH = p.CloseCode.PROTOCOL_MISMATCH
STORE_DOWN = p.CloseCode.STORE_DOWN


def _foreign_origin(request: web.Request) -> str | None:
    """The request's Origin if it is a page of another origin than this controller's (the kiosk page's is its own)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    try:
        parts = urlsplit(origin)
    except ValueError:
        return origin
    return None if parts.scheme in ("http", "https") and parts.netloc == request.host else origin


async def _close(ws: web.WebSocketResponse, code: int, reason: str, peer: str) -> web.WebSocketResponse:
    log.warning("agent %s: closing (%d): %s", peer, code, reason)
    await ws.close(code=code, message=reason[:120].encode())
    return ws


async def agent_ws(request: web.Request) -> web.StreamResponse:
    app = request.app
    floor, store, clock, metrics = app[keys.FLOOR], app[keys.STORE], app[keys.CLOCK], app[keys.METRICS]
    settings = app[keys.SETTINGS]
    refused = _foreign_origin(request)
    if refused is not None:  # a web page elsewhere must not speak for a station (agents send no Origin)
        metrics.inc("agent_auth_failures")
        log.warning("agent %s: refused: WebSocket from a page of another origin (%s)", request.remote or "?", refused[:100].encode("unicode_escape").decode())
        return web.json_response({"error": "cross_origin", "message": "a station's link may not come from a page of another site"}, status=403)
    ws = web.WebSocketResponse(max_msg_size=p.MAX_FRAME_BYTES, heartbeat=settings.offline_after_seconds / 2, autoping=True)
    await ws.prepare(request)
    peer = request.remote or "?"

    try:
        first = await ws.receive(timeout=HELLO_TIMEOUT)
    except TimeoutError:
        return await _close(ws, BAD_MESSAGE, "no hello within 10 s", peer)
    if first.type != WSMsgType.TEXT:
        return await _close(ws, BAD_MESSAGE, "expected a hello text frame", peer)
    try:
        hello = p.decode_from_agent(first.data)
    except p.ProtocolError as exc:
        metrics.inc("agent_bad_messages")
        return await _close(ws, BAD_MESSAGE, str(exc), peer)
    if not isinstance(hello, p.Hello):
        return await _close(ws, BAD_MESSAGE, f"first message must be hello, not {type(hello).__name__}", peer)
    if hello.protocol != p.PROTOCOL_VERSION:
        return await _close(ws, PROTOCOL_MISMATCH, f"protocol {hello.protocol} not supported (want {p.PROTOCOL_VERSION})", peer)
    station = hello.station
    peer = f"{station}@{peer}"
    if station not in floor.live:
        metrics.inc("agent_auth_failures")
        return await _close(ws, UNAUTHORISED, f"unknown station {station}", peer)
    issued_token: str | None = None
    if not hello.token:
        if not settings.enrolment:
            return await _close(ws, UNAUTHORISED, "no token, and enrolment is closed", peer)
        if not hello.enrol_key:
            return await _close(ws, UNAUTHORISED, "missing token", peer)
        key, now = hello.enrol_key, clock.now()
        status = await store.write(
            lambda db: enrolment.request(db, station, key, hello.hostname, hello.platform, hello.mac, request.remote or "", now)
        )
        if status == "approved":
            issued_token = await store.write(lambda db: enrolment.complete(db, settings, station, key, now))
        if issued_token is None:
            if status == "rejected":
                return await _close(ws, UNAUTHORISED, "enrolment rejected", peer)
            code = enrolment.fingerprint(key)
            await ws.send_str(p.encode(p.Pending(station=station, fingerprint=code)))
            if status == "full":  # not recorded: an admin rejects the strangers, and the next attempt is listed
                return await _close(ws, PENDING, f"too many requests for {station} wait for an admin", peer)
            log.info("%s: enrolment %s (%s, code %s)", peer, status, hello.hostname[:100].encode("unicode_escape").decode(), code)
            # the admins' lists of new stations follow (controller.web.enrol_api)
            floor.publish({"type": "enrolment", "now": now, "station": station, "status": status})
            return await _close(ws, PENDING, "waiting for approval", peer)
        log.info("%s: enrolled", peer)
        floor.publish({"type": "enrolment", "now": now, "station": station, "status": "enrolled"})
    row = await store.read(lambda db: stations.station_row(db, station))
    token = issued_token or hello.token
    if row is None or row["status"] != "approved" or not stations.token_matches(token, row["token_hash"]):
        metrics.inc("agent_auth_failures")
        return await _close(ws, UNAUTHORISED, "wrong or revoked token", peer)

    # where the station's sequence stands: its incarnation made current, what it can no longer send recorded
    now = clock.now()
    try:
        link = await store.read(lambda db: stations.link_state(db, station, hello.incarnation, hello.held_from))
        if link is None:
            link = await store.write(lambda db: stations.begin_link(db, station, hello.incarnation, hello.held_from, now))
    except StoreError as exc:
        metrics.inc("store_errors")
        return await _close(ws, STORE_DOWN, f"store unavailable, try again later ({exc})"[:120], peer)
    if link.switched_from is not None:
        log.info("%s: agent incarnation %r replaces %r (its sequence stands at %d)", peer, hello.incarnation, link.switched_from, link.last_seq)
    if link.gap is not None:
        log.warning("%s: seqs %d-%d are recorded as lost: the store is behind what the station had and it no longer holds them", peer, *link.gap)
    limits = Plausible.from_settings(settings)

    send_lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with send_lock:
            await ws.send_str(text)

    conn = Connection(station=station, send=send, close=lambda code, msg: ws.close(code=code, message=msg.encode()))
    old = floor.attach(conn)
    if old is not None:
        log.info("%s: a new connection replaces the old one", peer)
        asyncio.ensure_future(old.close(REPLACED, "replaced by a new connection"))
    live = floor.live[station]
    live.locked = row["locked_reason"]
    if hello.session is not None and hello.session.start <= now + limits.future_s and hello.session.end <= now + MAX_SESSION_S:
        live.session = hello.session  # one from the future (a wrong clock) is not shown: its events wait in quarantine
    floor.changed(station)
    now = clock.now()
    await send(
        p.encode(
            p.Welcome(
                station=station,
                server_time=now,
                rules=sessions.build_rules(app[keys.SITE], station, now),
                last_seq=link.last_seq,
                locked=row["locked_reason"],
                session=live.session,
                token=issued_token,
            )
        )
    )
    log.info("%s: connected (last seq %d)", peer, link.last_seq)
    metrics.inc("agent_connections")

    acks: asyncio.Queue[tuple[p.Event | Malformed, asyncio.Future[str]] | None] = asyncio.Queue()
    acker = asyncio.create_task(_ack_in_order(acks, send, floor, station, metrics, ws, peer))
    budget = _budget(floor, station, settings)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await _close(ws, BAD_MESSAGE, "binary frames are not accepted", peer)
                break
            floor.seen(station)
            try:
                m = p.decode_from_agent(msg.data)
            except p.ProtocolError as exc:
                metrics.inc("agent_bad_messages")
                known = malformed_event(msg.data)
                if known is None:
                    await _close(ws, BAD_MESSAGE, str(exc), peer)
                    break
                # an event with a bad field: refused for good, its seq consumed in order; the link stays up
                # and the station sets it aside, so the events behind it flow (closing would loop for ever)
                bad = Malformed(known[0], known[1], str(exc)[:200])
                fut = store.submit(functools.partial(consume_malformed, station=station, seq=bad.seq, received=clock.now(), incarnation=hello.incarnation))
                acks.put_nowait((bad, fut))
                continue
            metrics.inc("agent_messages")
            if p.is_event(m):
                wait = budget.delay()
                reason = budget.note(station, wait > 0)
                if reason is not None:
                    await _safe_send(send, p.encode(p.Error(reason=reason)))
                if wait > 0:
                    await asyncio.sleep(wait)  # transport pacing, real time: TCP holds the rest on the station
            if isinstance(m, p.Heartbeat):
                floor.heartbeat(station, m)
                if m.time_probe:  # the agent measures its clock's offset from this answer
                    await _safe_send(send, p.encode(p.TimeSync(sent=m.sent, server_time=clock.now())))
            elif p.is_event(m):
                fut = store.submit(functools.partial(_apply, station=station, ev=m, received=clock.now(), incarnation=hello.incarnation, limits=limits))
                acks.put_nowait((m, fut))
            elif isinstance(m, p.StartRequest):
                decision = sessions.decide_start(app[keys.SITE], floor.live[station], m, clock.now())
                answer: p.Grant | p.Refuse | None = decision.grant or decision.refuse
                assert answer is not None  # decide_start always grants or refuses
                await send(p.encode(answer))
            elif isinstance(m, p.CommandAck):
                floor.command_acked(m)
            elif isinstance(m, p.Hello):
                await _close(ws, BAD_MESSAGE, "hello sent twice", peer)
                break
    finally:
        acks.put_nowait(None)
        try:
            await acker
        finally:
            floor.detach(conn)
            log.info("%s: disconnected (%s)", peer, ws.close_code)
    return ws


@dataclass(frozen=True, slots=True)
class Malformed:
    """An event frame the protocol refuses, identified by its id and seq (see :func:`malformed_event`)."""

    id: str
    seq: int
    reason: str


def _budget(floor, station: str, settings) -> EventBudget:  # type: ignore[no-untyped-def]
    """The station's event budget: kept across its connections (a reconnect does not refill it)."""
    live = floor.live[station]
    budget = live.extra.get("event_budget")
    if not isinstance(budget, EventBudget) or budget.rate != settings.station_events_per_second:
        budget = live.extra["event_budget"] = EventBudget(settings.station_events_per_second, settings.station_events_burst)
    return budget


def _apply(db: sqlite_utils.Database, *, station: str, ev: p.Event, received: float, incarnation: str, limits: Plausible) -> str:
    return apply_event(db, station, ev, received, incarnation, limits)


async def _ack_in_order(
    acks: asyncio.Queue[tuple[p.Event | Malformed, asyncio.Future[str]] | None],
    send, floor, station: str, metrics, ws: web.WebSocketResponse, peer: str,
) -> None:
    """Acknowledge events in the order they came, each only after its commit."""
    while (item := await acks.get()) is not None:
        ev, fut = item
        if isinstance(ev, Malformed):
            await _refuse_malformed(ev, fut, send, metrics, ws, peer)
            continue
        try:
            outcome = await fut
        except EventRejected as exc:
            metrics.inc("events_rejected")
            log.warning("%s: event %s seq %d not taken: %s", peer, ev.id, ev.seq, exc)
            await _safe_send(send, p.encode(p.EventReject(id=ev.id, seq=ev.seq, reason=str(exc)[:200], retry=exc.retry)))
            continue
        except StoreError as exc:
            metrics.inc("store_errors")
            # the store logs its failing once per change of state, with a count: not once per event and station
            log.debug("%s: event %s not committed: %s", peer, ev.id, exc)
            # nothing acknowledged: the agent keeps it and sends it again later, after a backoff (4503)
            if not ws.closed:
                await ws.close(code=STORE_DOWN, message=b"store unavailable, try again later")
            continue
        except Exception:
            log.exception("%s: event %s failed", peer, ev.id)
            await _close(ws, STORE_DOWN, "internal error", peer)
            continue
        if outcome.startswith("rejected"):
            metrics.inc("events_rejected")
            log.warning("%s: event %s seq %d %s", peer, ev.id, ev.seq, outcome)
            await _safe_send(send, p.encode(p.EventReject(id=ev.id, seq=ev.seq, reason=outcome[:200])))
            continue
        if outcome.startswith("quarantined"):  # safely stored, not counted: acknowledged, an admin decides
            metrics.inc("events_quarantined")
            log.warning("%s: event %s seq %d %s", peer, ev.id, ev.seq, outcome)
        elif outcome == "new":
            metrics.inc("events_committed")
            try:
                floor.event(station, ev)
            except Exception:  # the live view must never cost the ack of a committed event
                log.exception("%s: live update for event %s failed", peer, ev.id)
        else:
            metrics.inc("events_duplicate")
        await _safe_send(send, p.encode(p.EventAck(id=ev.id, seq=ev.seq)))


async def _refuse_malformed(bad: Malformed, fut: asyncio.Future[str], send, metrics, ws: web.WebSocketResponse, peer: str) -> None:  # type: ignore[no-untyped-def]
    try:
        where = await fut
    except Exception as exc:  # the store is down: nothing consumed; the station sends it again later
        log.error("%s: malformed event %s not recorded: %s", peer, bad.id, exc)
        await _close(ws, STORE_DOWN, "store unavailable, try again later", peer)
        return
    metrics.inc("events_rejected")
    if where == "gap":  # the earlier ones first, then this one is refused in its turn
        await _safe_send(send, p.encode(p.EventReject(id=bad.id, seq=bad.seq, reason="send the earlier events first", retry=True)))
        return
    log.warning("%s: event %s seq %d refused for good (malformed): %s", peer, bad.id, bad.seq, bad.reason)
    await _safe_send(send, p.encode(p.EventReject(id=bad.id, seq=bad.seq, reason=f"malformed: {bad.reason}"[:200])))


async def _safe_send(send, text: str) -> None:
    try:
        await send(text)
    except (ConnectionError, RuntimeError):
        pass  # the agent will replay; the event is committed and the replay is a duplicate
