"""The client's address and scheme, believed from ``X-Forwarded-*`` only when a trusted proxy says them.

Behind the documented nginx (``deploy/controller/nginx-espace.conf``) every
connection comes from 127.0.0.1; the proxy says who the client is in
``X-Forwarded-For`` and whether it spoke https in ``X-Forwarded-Proto``. The
``trusted_proxies`` setting lists the proxies whose word is taken; from any
other peer these headers are ignored (anyone can send them). The
``X-Forwarded-For`` chain is read from the right, skipping trusted proxies:
the first address that is not one is the client (what a client wrote itself,
further left, is never believed).

Hand-written rather than aiohttp-remotes: its strict variant wants a fixed
number of hops per proxy, its relaxed one believes any peer; this is the
dozen lines between the two.

The middleware replaces the request by ``request.clone(remote=…, scheme=…)``,
so ``request.remote`` (throttle, logs), ``request.secure`` (the cookie's
``Secure``) and the origin checks all see the client as the proxy saw it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TRUSTED = web.AppKey("trusted_proxies", tuple)


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


@functools.lru_cache(maxsize=4096)  # the same few peers and proxies, request after request
def _trusted(addr: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_of(peer: str, forwarded_for: list[str], nets: tuple[Network, ...]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then the right-most untrusted hop."""
    if not _trusted(peer, nets):
        return peer
    client = peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",")]
    for hop in reversed(hops):
        try:
            client = str(ipaddress.ip_address(hop))
        except ValueError:  # garbage in the chain: nothing left of it is believed
            break
        if not _trusted(client, nets):
            break
    return client


@web.middleware
async def forwarded_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    nets: tuple[Network, ...] = request.app[TRUSTED]
    peer = request.remote or ""
    if nets and _trusted(peer, nets):
        changes: dict[str, Any] = {"remote": client_of(peer, request.headers.getall("X-Forwarded-For", []), nets)}
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            changes["scheme"] = proto
        request = request.clone(**changes)
    return await handler(request)


def setup(app: web.Application, trusted: Iterable[str]) -> None:
    """First of the middlewares: every later one sees the client as the proxy saw it."""
    app[TRUSTED] = networks(trusted)
    app.middlewares.append(forwarded_middleware)
