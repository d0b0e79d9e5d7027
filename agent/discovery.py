"""Finding the controller by DNS-SD (``_espace._tcp.local.``), with a configured URL as fallback.

:class:`ControllerFinder` owns the agent process's one
:class:`~zeroconf.asyncio.AsyncZeroconf`, bound to the configured interfaces
(IPv4 addresses, or interface names resolved to their IPv4 addresses), and an
:class:`~zeroconf.asyncio.AsyncServiceBrowser` that keeps the advertised
controllers up to date: added, updated (new address or port: the agent follows
on its next connection attempt), removed (goodbye packet).

``await finder.url()`` is meant to be called before each connection attempt:
the discovered controller's ``ws://host:port/path`` (``wss://`` when its TXT
record carries a TLS fingerprint), else the fallback URL, else ``None``. Which
advertisement is taken is :func:`choose`'s rule: the pinned certificate's only,
else ``wss://`` before ``ws://``, never merely the most recent (a laptop on the
LAN advertising a plain ``ws://`` controller after the real one wins nothing).

The TXT record is written by ``controller/discovery.py``: ``v`` protocol
version, ``path`` WebSocket path, ``tls`` SHA-256 fingerprint of the
certificate's DER bytes (64 hex digits; colons and upper case are accepted
too), ``site`` site name.
Controllers that speak another protocol version are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from espace import mdns
from espace import protocol as p
from espace.tls import normalise_fingerprint

__all__ = ["Advert", "ControllerFinder", "advert_from_record", "choose", "normalise_fingerprint"]

log = logging.getLogger(__name__)

SERVICE_TYPE = mdns.SERVICE_TYPE
_RESOLVE_MS = 3000
_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")


@dataclass(frozen=True, slots=True)
class Advert:
    """One controller as advertised by mDNS."""

    name: str
    host: str  # an IP address
    port: int
    path: str
    version: int
    fingerprint: str | None  # 64 lower-case hex digits (controller.tls.pin takes it)
    site: str
    seen: int = 0  # order of arrival: among adverts of equal standing the newest wins (see choose)

    @property
    def url(self) -> str:
        scheme = "wss" if self.fingerprint else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.path}"


def _text(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _pick_address(addresses: Iterable[str]) -> str | None:
    """An IPv4 address first; a global or unique-local IPv6 address otherwise (link-local needs a scope)."""
    v6: list[str] = []
    for a in addresses:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue
        if ip.version == 4:
            return str(ip)
        if not ip.is_link_local:
            v6.append(str(ip))
    return v6[0] if v6 else None


def advert_from_record(
    name: str, addresses: Iterable[str], port: int | None, properties: Mapping[Any, Any], seen: int = 0
) -> Advert | None:
    """An :class:`Advert` from a resolved service, or None if it is not one this agent can use."""
    txt = {_text(k): _text(v) for k, v in properties.items()}
    host = _pick_address(addresses)
    if host is None or not port:
        return None
    try:
        version = int(txt.get("v") or "")
    except ValueError:
        return None
    if version != p.PROTOCOL_VERSION:
        return None
    path = txt.get("path") or p.WS_PATH
    if not _PATH.match(path):
        return None
    tls = txt.get("tls")
    fingerprint = normalise_fingerprint(tls)
    if tls and fingerprint is None:
        return None  # a TLS controller whose pin cannot be read must not be reached in clear
    return Advert(name, host, int(port), path, version, fingerprint, txt.get("site") or "", seen)


def choose(adverts: Iterable[Advert], site: str | None = None, pin: str | None = None) -> Advert | None:
    """The controller to use, of the given site if one is set; never the newest advertisement blindly.

    - A station that holds a pin takes only an advertisement of that certificate.
    - Otherwise a ``wss://`` advertisement with a fingerprint beats any ``ws://`` one;
      several with different certificates and no pin to tell them apart: none (the
      station waits for an administrator's ``tls_fingerprint`` or ``site``).
    - Among adverts of equal standing (one controller re-advertised after a restart)
      the most recent wins, so the station follows it.
    """
    usable = [a for a in adverts if site is None or a.site == site]
    if pin is not None:
        usable = [a for a in usable if a.fingerprint == pin]
    elif any(a.fingerprint for a in usable):
        usable = [a for a in usable if a.fingerprint]
        if len({a.fingerprint for a in usable}) > 1:
            return None
    return max(usable, key=lambda a: a.seen, default=None)


def interface_addresses(interfaces: Iterable[str]) -> list[str]:
    """IPv4 addresses of the configured interfaces (addresses as they are, names resolved)."""
    return mdns.interface_addresses(interfaces, "discovery")


class ControllerFinder:
    """Keeps the advertised controllers up to date; :meth:`url` gives the one to connect to.

    ``interfaces`` empty or None: discovery is off (no socket is opened, never all
    interfaces by default), only the fallback URL.
    ``site``: only controllers whose TXT ``site`` is this one (several sites on one LAN).
    ``settle_s``: on the very first :meth:`url` call, how long to wait for a first
    answer before settling for the fallback (mDNS answers take about a second).
    """

    def __init__(
        self,
        interfaces: Iterable[str] | None,
        fallback_url: str | None,
        service_type: str = SERVICE_TYPE,
        *,
        site: str | None = None,
        settle_s: float = 3.0,
        pins: Any = None,
    ) -> None:
        self.interfaces = list(interfaces or [])
        self.fallback_url = fallback_url or None
        self.service_type = service_type
        self.site = site
        self.settle_s = settle_s
        self.pins = pins  # agent.pins.Pins: only the pinned certificate's adverts count
        self._ignored: tuple[str, ...] = ()
        self.adverts: dict[str, Advert] = {}
        self.current: Advert | None = None
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._settled = False
        self._counter = itertools.count(1)
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._start_lock:
            if self._aiozc is not None:
                return
            if not self.interfaces:
                if not self._settled:
                    log.warning("discovery: no interface configured; using only the fallback URL %s", self.fallback_url)
                return
            addresses = await asyncio.to_thread(interface_addresses, self.interfaces)
            self._aiozc = mdns.bound_zeroconf(addresses)
            self._browser = AsyncServiceBrowser(self._aiozc.zeroconf, self.service_type, handlers=[self._on_change])
            log.info("discovery: browsing %s on %s", self.service_type, ", ".join(addresses))

    async def url(self) -> str | None:
        """The URL for the next connection attempt: discovered first, else the fallback, else None."""
        try:
            await self.start()
        except (OSError, ValueError) as exc:
            log.warning("discovery: cannot browse: %s", exc)
        if not self._settled:
            self._settled = True
            if not self.adverts and self._aiozc is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.settle_s)
        pin = self.pins.current() if self.pins is not None else None
        chosen = choose(self.adverts.values(), self.site, pin)
        ignored = tuple(sorted(a.url for a in self.adverts.values() if chosen is None or a.url != chosen.url))
        if ignored != self._ignored and ignored:  # once per change, not per attempt
            why = "not the pinned certificate" if pin else "plain ws://, or several certificates and no pin"
            log.warning("discovery: not using %s (%s)", ", ".join(ignored), why)
        self._ignored = ignored
        if (chosen and chosen.url) != (self.current and self.current.url):
            log.info("discovery: controller %s", f"{chosen.name} at {chosen.url}" if chosen else f"none; fallback {self.fallback_url}")
        self.current = chosen
        return chosen.url if chosen is not None else self.fallback_url

    def expected_fingerprint(self) -> str | None:
        """The TLS fingerprint advertised by the controller :meth:`url` last chose (64 hex digits), for pinning."""
        return self.current.fingerprint if self.current is not None else None

    async def async_close(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
        for task in self._resolving.values():
            task.cancel()
        await asyncio.gather(*self._resolving.values(), return_exceptions=True)
        self._resolving.clear()
        if self._aiozc is not None:
            await self._aiozc.async_close()
        self._aiozc = self._browser = None

    async def __aenter__(self) -> ControllerFinder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.async_close()

    # ---------------------------------------------------------------- browser events (on the loop)

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        old = self._resolving.pop(name, None)
        if old is not None:
            old.cancel()
        if state_change is ServiceStateChange.Removed:
            if self.adverts.pop(name, None) is not None:
                log.info("discovery: %s went away", name)
            self._changed.set()
            return
        self._resolving[name] = asyncio.create_task(self._resolve(service_type, name), name=f"resolve {name}")

    async def _resolve(self, service_type: str, name: str) -> None:
        assert self._aiozc is not None
        info = AsyncServiceInfo(service_type, name)
        try:
            if not await info.async_request(self._aiozc.zeroconf, _RESOLVE_MS):
                log.debug("discovery: %s did not resolve", name)
                return
        finally:
            if self._resolving.get(name) is asyncio.current_task():
                del self._resolving[name]
        advert = advert_from_record(name, info.parsed_addresses(), info.port, info.properties, next(self._counter))
        if advert is None:
            log.info("discovery: ignoring %s (incompatible or incomplete advertisement)", name)
            self.adverts.pop(name, None)
        else:
            log.debug("discovery: %s at %s", name, advert.url)
            self.adverts[name] = advert
        self._changed.set()
