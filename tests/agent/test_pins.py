"""No downgrade: a station that holds the controller's pin never speaks in clear, and a rogue advertisement wins nothing.

The rogue is what a laptop on the floor's LAN would advertise next to the real
controller: a plain ``ws://`` service, or a ``wss://`` one with its own certificate,
newer than the real one. The advertisements are real zeroconf ``ServiceInfo``
objects (the controller's own ``service_info`` for the real one) read through
the agent's parser; the links are real WebSockets on loopback, TLS with a real
self-signed certificate. On the main branch of 2026-12-01 the agent took the
newest advertisement (the rogue ``ws://``), and a pinned agent given a ``ws://``
URL sent its hello, token included, in clear.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from zeroconf import ServiceInfo

from agent.core import Agent
from agent.discovery import ControllerFinder, advert_from_record, choose
from agent.outbox import Outbox
from agent.pins import PinRefused, Pins
from controller import stations, tls
from controller.app import create_app
from controller.discovery import service_info
from controller.settings import make_settings
from controller.web import keys
from espace import protocol as p
from espace.tls import pin
from tests.support.procs import wait_for
from tests.support.served import served

REAL_FP = "5e" * 32
ROGUE_FP = "0b" * 32


def advert(info: ServiceInfo, seen: int):  # type: ignore[no-untyped-def]
    a = advert_from_record(info.name, info.parsed_addresses(), info.port, info.properties, seen)
    assert a is not None
    return a


def rogue(port: int, fingerprint: str | None = None) -> ServiceInfo:
    props = {"v": str(p.PROTOCOL_VERSION), "path": p.WS_PATH, "site": "Espace"}
    if fingerprint:
        props["tls"] = fingerprint
    return ServiceInfo("_espace._tcp.local.", "Espace (2)._espace._tcp.local.", port=port, properties=props,
                       server="laptop.local.", parsed_addresses=["127.0.0.1"])


def test_a_rogue_ws_advertisement_after_the_real_wss_one_is_not_chosen() -> None:
    real = advert(service_info("Espace", 8443, ["127.0.0.1"], REAL_FP), seen=1)
    evil = advert(rogue(8080), seen=2)  # the newer one
    assert (real.url, evil.url) == ("wss://127.0.0.1:8443/ws/agent", "ws://127.0.0.1:8080/ws/agent")
    assert choose([real, evil]) == real
    assert choose([evil, real], site="Espace") == real


def test_with_a_pin_only_that_certificate_counts_and_two_unpinned_certificates_are_not_guessed_between() -> None:
    real = advert(service_info("Espace", 8443, ["127.0.0.1"], REAL_FP), seen=1)
    evil_tls = advert(rogue(9443, ROGUE_FP), seen=2)
    assert choose([real, evil_tls], pin=REAL_FP) == real
    assert choose([evil_tls], pin=REAL_FP) is None  # nothing pinned in sight: the fallback, not the stranger
    assert choose([real, evil_tls]) is None  # first use, two certificates: no blind pick
    again = advert(service_info("Espace", 8444, ["127.0.0.1"], REAL_FP), seen=3)
    assert choose([real, again], pin=REAL_FP) == again  # the real controller re-advertised after a restart: followed


async def test_the_finder_gives_the_wss_url_and_its_fingerprint_and_says_once_what_it_ignores(caplog) -> None:
    finder = ControllerFinder(None, "ws://fallback.invalid/ws/agent", settle_s=0)
    finder.adverts = {"real": advert(service_info("Espace", 8443, ["127.0.0.1"], REAL_FP), 1), "evil": advert(rogue(8080), 2)}
    with caplog.at_level(logging.WARNING, logger="agent.discovery"):
        for _ in range(3):
            assert await finder.url() == "wss://127.0.0.1:8443/ws/agent"
    assert finder.expected_fingerprint() == REAL_FP
    assert [r.getMessage() for r in caplog.records if "not using" in r.getMessage()] == [
        "discovery: not using ws://127.0.0.1:8080/ws/agent (plain ws://, or several certificates and no pin)"
    ]


def test_a_pin_is_learned_once_kept_on_disk_and_never_given_up(tmp_path: Path) -> None:
    path = tmp_path / "state" / "controller.pin"
    pins = Pins(path)
    assert pins.check("ws://10.0.0.5:8080/ws/agent", None) is None  # nothing held yet: a plain site still works
    pins.learn(REAL_FP.upper())
    assert path.read_text().strip() == REAL_FP
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    pins.learn(ROGUE_FP)  # a later advertisement changes nothing
    again = Pins(path)  # the service restarted
    assert again.current() == REAL_FP
    assert again.check("wss://10.0.0.5:8443/ws/agent", REAL_FP) == REAL_FP
    with pytest.raises(PinRefused, match="in clear"):
        again.check("ws://10.0.0.5:8080/ws/agent", None)
    with pytest.raises(PinRefused, match="not the pinned"):
        again.check("wss://10.0.0.6:8443/ws/agent", ROGUE_FP)
    configured = Pins(path, configured=ROGUE_FP)  # the administrator's word comes first
    assert configured.current() == ROGUE_FP


def recording_server(seen: list[str]) -> web.Application:
    """A rogue controller: it records every frame a station sends it."""

    async def ws(request: web.Request) -> web.WebSocketResponse:
        seen.append("connection")
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            seen.append(msg.data)
        return sock

    app = web.Application()
    app.router.add_get(p.WS_PATH, ws)
    return app


@pytest.mark.parametrize("how", ["configured", "learned"])
async def test_a_pinned_station_given_a_ws_url_sends_nothing_not_even_its_hello(tmp_path: Path, how: str, caplog) -> None:
    seen: list[str] = []
    async with served(recording_server(seen)) as evil:
        if how == "configured":
            agent = Agent("PC-07", "the-station-token", evil.ws_url, Outbox(":memory:"), ssl=pin(REAL_FP))
        else:
            pins = Pins(tmp_path / "controller.pin")
            pins.learn(REAL_FP)
            agent = Agent("PC-07", "the-station-token", evil.ws_url, Outbox(":memory:"), pins=Pins(tmp_path / "controller.pin"))
        with caplog.at_level(logging.ERROR, logger="agent.core"):
            await agent.start()
            try:
                await wait_for(lambda: agent.pin_problem is not None, within=15, what="the refusal")
                first = agent.connects
                await wait_for(lambda: len([r for r in caplog.records if "nothing sent" in r.getMessage()]) >= 1, within=5, what="the log line")
            finally:
                await agent.stop()
    assert seen == []  # no connection at all: the token never left the station
    assert first == 0
    assert "in clear" in (agent.pin_problem or "")


async def test_first_use_pins_the_advertised_certificate_and_a_changed_one_is_refused(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    fp = tls.make_self_signed(cert, key, ["127.0.0.1"])
    app = create_app(make_settings(database=str(tmp_path / "c.db")))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    url = f"wss://127.0.0.1:{port}{p.WS_PATH}"
    try:
        token = await app[keys.STORE].write(lambda db: stations.set_token(db, app[keys.SETTINGS].station("PC-07"), 0.0))
        advertised = {"fp": fp}
        pin_file = tmp_path / "state" / "controller.pin"
        agent = Agent("PC-07", token, url, Outbox(":memory:"), pins=Pins(pin_file), advertised=lambda: advertised["fp"])
        await agent.start()
        try:
            await wait_for(agent.connected.is_set, within=30, what="the first TLS link")
        finally:
            await agent.stop()
        assert pin_file.read_text().strip() == fp  # trusted on first use, and kept

        # the controller now presents another certificate (a rogue in its place, or a new one nobody told the station about)
        fp2 = tls.make_self_signed(cert, key, ["127.0.0.1"])
        ctx.load_cert_chain(cert, key)
        for told in (fp, fp2):  # advertised as before (the handshake tells), or advertised anew
            advertised["fp"] = told
            again = Agent("PC-07", token, url, Outbox(":memory:"), pins=Pins(pin_file), advertised=lambda: advertised["fp"])
            await again.start()
            try:
                await wait_for(lambda a=again: a.pin_problem is not None, within=30, what="the refusal")
                assert not again.connected.is_set()
                assert again.connects == 0
            finally:
                await again.stop()
        assert pin_file.read_text().strip() == fp  # the pin is kept
    finally:
        await runner.cleanup()


async def test_the_wss_link_with_a_pin_carries_it(tmp_path: Path) -> None:
    # a pin refuses nothing it should not: wss:// with the pinned certificate advertised is the pin itself
    agent = Agent("PC-07", "t", "wss://127.0.0.1:1/ws/agent", Outbox(":memory:"), pins=Pins(None, configured=REAL_FP), advertised=lambda: REAL_FP)
    ssl_value, first_use = agent._link_security("wss://127.0.0.1:1/ws/agent")
    assert isinstance(ssl_value, aiohttp.Fingerprint)
    assert ssl_value.fingerprint.hex() == REAL_FP
    assert first_use is None
