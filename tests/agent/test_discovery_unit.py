"""Discovery without a network: the TXT record the controller writes, and the URL the agent picks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from zeroconf import ServiceStateChange

from agent.discovery import (
    Advert,
    ControllerFinder,
    advert_from_record,
    choose,
    normalise_fingerprint,
)
from controller import tls
from controller.discovery import instance_name, service_info, txt_record
from espace import protocol as p

FP = "ab" * 32


# ---------------------------------------------------------------- controller side


def test_txt_record_without_tls() -> None:
    assert txt_record("Cité des métiers") == {"v": str(p.PROTOCOL_VERSION), "path": p.WS_PATH, "site": "Cité des métiers"}


def test_txt_record_with_tls_carries_the_fingerprint() -> None:
    assert txt_record("S", FP)["tls"] == FP


def test_txt_site_is_cut_to_fit_a_txt_string() -> None:
    site = txt_record("é" * 300)["site"]
    assert site == "é" * 100
    assert len(f"site={site}".encode()) <= 255


def test_tls_fingerprint_matches_openssl(tmp_path: Path) -> None:
    if subprocess.run(["which", "openssl"], capture_output=True).returncode:
        pytest.skip("openssl is not installed")
    cert = tmp_path / "cert.pem"
    fp = tls.make_self_signed(cert, tmp_path / "key.pem", ["127.0.0.1"])
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().split("=", 1)[1].replace(":", "").lower() == fp
    assert txt_record("S", fp)["tls"] == fp


@pytest.mark.parametrize(
    ("site", "label"),
    [
        ("Cité des métiers — Beroepenpunt Brussels", "Cité des métiers — Beroepenpunt Brussels"),
        ("Espace v2.1 (Liège)", "Espace v2 1 (Liège)"),
        ("tab\tand\nnewline\\", "tab and newline"),
        ("...", "Espace"),
    ],
)
def test_instance_name_is_one_printable_label(site: str, label: str) -> None:
    assert instance_name(site) == label


def test_instance_name_fits_63_bytes_without_splitting_a_character() -> None:
    label = instance_name("é" * 40)
    assert len(label.encode()) <= 63
    assert label == "é" * 31


def test_service_info_advertises_the_port_and_address() -> None:
    info = service_info("Site", 8443, ["127.0.0.1"], FP)
    assert info.name == "Site._espace._tcp.local."
    assert info.port == 8443
    assert info.parsed_addresses() == ["127.0.0.1"]
    assert info.decoded_properties["tls"] == FP


# ---------------------------------------------------------------- agent side


def _txt(**kw: str) -> dict[bytes, bytes]:
    base = {"v": str(p.PROTOCOL_VERSION), "path": p.WS_PATH, "site": "S"}
    base.update(kw)
    return {k.encode(): v.encode() for k, v in base.items()}


def test_plain_advert_gives_ws_url() -> None:
    a = advert_from_record("S._espace._tcp.local.", ["127.0.0.1"], 8080, _txt())
    assert a is not None
    assert a.url == "ws://127.0.0.1:8080/ws/agent"
    assert a.fingerprint is None


def test_tls_advert_gives_wss_url_and_the_pin() -> None:
    colons = ":".join(FP[i : i + 2] for i in range(0, 64, 2)).upper()
    a = advert_from_record("S", ["10.0.0.5"], 8443, _txt(tls=colons))
    assert a is not None
    assert a.url == "wss://10.0.0.5:8443/ws/agent"
    assert a.fingerprint == FP


def test_ipv4_is_preferred_and_ipv6_is_bracketed() -> None:
    a = advert_from_record("S", ["fe80::1", "fd00::5", "192.168.1.9"], 1, _txt())
    assert a is not None
    assert a.host == "192.168.1.9"
    b = advert_from_record("S", ["fe80::1", "fd00::5"], 1, _txt())
    assert b is not None
    assert b.url == "ws://[fd00::5]:1/ws/agent"


@pytest.mark.parametrize(
    ("addresses", "port", "txt"),
    [
        (["127.0.0.1"], 8080, _txt(v=str(p.PROTOCOL_VERSION + 1))),  # another protocol
        (["127.0.0.1"], 8080, {b"path": b"/ws/agent"}),  # no version: not ours
        (["127.0.0.1"], 8080, _txt(path="ws/agent?x=1")),  # not a path
        (["127.0.0.1"], 8080, _txt(tls="not-a-fingerprint")),  # TLS without a readable pin
        ([], 8080, _txt()),  # no address
        (["fe80::1"], 8080, _txt()),  # link-local only (no scope to reach it)
        (["127.0.0.1"], 0, _txt()),  # no port
    ],
)
def test_unusable_adverts_are_ignored(addresses: list[str], port: int, txt: dict[bytes, bytes]) -> None:
    assert advert_from_record("S", addresses, port, txt) is None


def test_missing_path_defaults_to_the_protocol_path() -> None:
    a = advert_from_record("S", ["127.0.0.1"], 1, {b"v": str(p.PROTOCOL_VERSION).encode()})
    assert a is not None
    assert a.path == p.WS_PATH


@pytest.mark.parametrize(
    ("text", "expected"),
    [(FP.upper(), FP), (":".join([FP[i : i + 2] for i in range(0, 64, 2)]), FP), ("ab" * 31, None), ("", None), (None, None)],
)
def test_normalise_fingerprint(text: str | None, expected: str | None) -> None:
    assert normalise_fingerprint(text) == expected


def _advert(name: str, port: int, seen: int, site: str = "S") -> Advert:
    return Advert(name, "127.0.0.1", port, p.WS_PATH, p.PROTOCOL_VERSION, None, site, seen)


def test_choose_takes_the_newest_of_the_site() -> None:
    old, new, other = _advert("a", 1, 1), _advert("b", 2, 2), _advert("c", 3, 3, site="Elsewhere")
    assert choose([old, new, other]) == other
    assert choose([old, new, other], site="S") == new
    assert choose([other], site="S") is None
    assert choose([]) is None


# The finder with no interface never opens a socket: its selection logic is exercised by
# putting adverts where the browser would (the browser itself is covered by tests/e2e/test_zeroconf.py).


async def test_url_falls_back_when_nothing_is_discovered() -> None:
    finder = ControllerFinder([], "ws://fallback:8080/ws/agent")
    assert await finder.url() == "ws://fallback:8080/ws/agent"
    assert finder.expected_fingerprint() is None
    await finder.async_close()


async def test_url_is_none_with_no_discovery_and_no_fallback() -> None:
    finder = ControllerFinder(None, None)  # no interface: discovery off, never "all interfaces"
    await finder.start()
    assert await finder.url() is None


async def test_discovered_controller_comes_first_and_is_followed() -> None:
    finder = ControllerFinder([], "ws://fallback:8080/ws/agent")
    finder.adverts["S._espace._tcp.local."] = _advert("S._espace._tcp.local.", 8080, 1)
    assert await finder.url() == "ws://127.0.0.1:8080/ws/agent"
    # re-advertised on another port (the browser's "updated")
    finder.adverts["S._espace._tcp.local."] = _advert("S._espace._tcp.local.", 9090, 2)
    assert await finder.url() == "ws://127.0.0.1:9090/ws/agent"
    # withdrawn (goodbye): back to the fallback
    finder._on_change(None, "_espace._tcp.local.", "S._espace._tcp.local.", ServiceStateChange.Removed)  # type: ignore[arg-type]
    assert await finder.url() == "ws://fallback:8080/ws/agent"


async def test_expected_fingerprint_is_the_chosen_controllers() -> None:
    finder = ControllerFinder([], None)
    finder.adverts["T"] = Advert("T", "10.0.0.5", 8443, p.WS_PATH, p.PROTOCOL_VERSION, FP, "S", 1)
    assert await finder.url() == "wss://10.0.0.5:8443/ws/agent"
    assert finder.expected_fingerprint() == FP


async def test_site_filter_ignores_other_sites() -> None:
    finder = ControllerFinder([], "ws://fallback/ws/agent", site="Brussels")
    finder.adverts["x"] = _advert("x", 1, 1, site="Liège")
    assert await finder.url() == "ws://fallback/ws/agent"
