"""DNS-SD advertisement of the controller: ``<site>._espace._tcp.local.``.

One :class:`~zeroconf.asyncio.AsyncZeroconf` per process, owned by the app's
lifetime (:func:`zeroconf_ctx` is the first ``cleanup_ctx``, so it is closed
last and the goodbye packets go out after everything else has stopped). It is
bound only to ``settings.zeroconf_interfaces``: IPv4 addresses
(``"192.168.10.2"``) or interface names (``"eth0"``, resolved to their IPv4
addresses at start-up). The advertised address is the interface's own; the
port is ``settings.zeroconf_port`` when set (a reverse proxy in front, the
controller on 127.0.0.1), else ``settings.port``.

TXT record (every value is a short ASCII or UTF-8 string):

``v``
    the wire protocol version, :data:`espace.protocol.PROTOCOL_VERSION`;
``path``
    the agent WebSocket path, :data:`espace.protocol.WS_PATH`;
``tls``
    only when ``zeroconf_tls_cert`` (the proxy's certificate) or ``tls_cert`` is
    set: the SHA-256 fingerprint of the certificate
    (of its DER bytes), 64 lower-case hex digits without colons, as
    :func:`controller.tls.fingerprint` computes it and :func:`controller.tls.pin`
    takes it (``openssl x509 -noout -fingerprint -sha256`` prints the same
    digits, upper-case with colons). Agents pin it; its presence means ``wss://``;
``site``
    the site name (truncated to fit a TXT string).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import unicodedata
from collections.abc import AsyncIterator, Iterable

from aiohttp import web
from zeroconf import ServiceInfo

from controller import tls
from controller.web import keys
from espace import mdns
from espace import protocol as p

log = logging.getLogger(__name__)

SERVICE_TYPE = mdns.SERVICE_TYPE
_MAX_LABEL = 63  # bytes, RFC 6763 §4.1.1
_MAX_TXT_VALUE = 200  # a TXT string is at most 255 bytes, key and "=" included


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def instance_name(site_name: str) -> str:
    """A DNS-SD instance label from the site name: printable, no dots, at most 63 UTF-8 bytes.

    Dots would split the label (python-zeroconf does not escape them), so they
    become spaces, as do control characters and backslashes.
    """
    cleaned = "".join(
        " " if ch in ".\\" or unicodedata.category(ch).startswith("C") else ch for ch in site_name
    )
    cleaned = re.sub(r"\s+", " ", unicodedata.normalize("NFC", cleaned)).strip()
    return _truncate_utf8(cleaned, _MAX_LABEL).strip() or "Espace"


def txt_record(site_name: str, tls_fingerprint: str | None = None) -> dict[str, str]:
    """The TXT properties the controller advertises (see the module doc)."""
    txt = {"v": str(p.PROTOCOL_VERSION), "path": p.WS_PATH}
    if tls_fingerprint:
        txt["tls"] = tls_fingerprint
    txt["site"] = _truncate_utf8(site_name, _MAX_TXT_VALUE)
    return txt


def interface_addresses(interfaces: Iterable[str]) -> list[str]:
    """IPv4 addresses of ``settings.zeroconf_interfaces`` (addresses kept as they are, names resolved)."""
    return mdns.interface_addresses(interfaces, "zeroconf_interfaces")


def service_info(site_name: str, port: int, addresses: list[str], tls_fingerprint: str | None = None) -> ServiceInfo:
    label = instance_name(site_name)
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "espace"
    return ServiceInfo(
        SERVICE_TYPE,
        f"{label}.{SERVICE_TYPE}",
        port=port,
        properties=txt_record(site_name, tls_fingerprint),
        server=f"{host}.local.",
        parsed_addresses=addresses,
    )


def _prepare(interfaces: list[str], tls_cert: str) -> tuple[list[str], str | None]:
    """The blocking part (interface lookup, reading the certificate), run off the loop."""
    return interface_addresses(interfaces), (tls.fingerprint(tls_cert) if tls_cert else None)


async def zeroconf_ctx(app: web.Application) -> AsyncIterator[None]:
    """Advertise ``_espace._tcp.local.`` for the app's lifetime (only when settings.zeroconf is on)."""
    settings = app[keys.SETTINGS]
    cert = settings.zeroconf_tls_cert or settings.tls_cert
    addresses, fingerprint = await asyncio.to_thread(_prepare, list(settings.zeroconf_interfaces), cert)
    port = settings.zeroconf_port or settings.port  # behind a proxy: the proxy's port, and its certificate
    if not settings.zeroconf_port and settings.host not in ("0.0.0.0", "", *addresses):
        log.warning("zeroconf: advertising %s but listening on %s only: agents may not reach it", addresses, settings.host)
    info = service_info(settings.site_name, port, addresses, fingerprint)
    aiozc = mdns.bound_zeroconf(addresses)

    async def advertise() -> None:
        # probing takes ~1.5 s: done in the background so the HTTP server is not held up
        announced = await aiozc.async_register_service(info, allow_name_change=True)
        await announced
        log.info("zeroconf: advertising %r on %s port %d%s", info.name, ", ".join(addresses), port, " (TLS)" if fingerprint else "")

    task = asyncio.create_task(advertise(), name="zeroconf-advertise")
    try:
        yield
    finally:
        task.cancel()  # nothing happens if it is done
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if outcome is None:
            goodbyes = await aiozc.async_unregister_service(info)
            await goodbyes  # sent before the sockets close: agents drop this address at once
            log.info("zeroconf: withdrew %r", info.name)
        elif not isinstance(outcome, asyncio.CancelledError):
            log.error("zeroconf: advertising failed: %r", outcome)
        await aiozc.async_close()
