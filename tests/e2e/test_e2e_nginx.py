"""The controller behind Debian's nginx configured by ``deploy/controller/nginx-espace.conf``, TLS on.

Main, behind this proxy: the session cookie was not Secure (X-Forwarded-Proto ignored) and
``/ws/floor`` answered 403 (the ``/ws/`` location passed no Host), so the floor never went live.
Here the deploy file runs as written, but for its listen address, certificate paths and upstream
port (loopback, a certificate made by the test); a steward logs in in Chromium through it and
watches a real agent, itself connected through the proxy with its pin, come online and start a
session on the live floor. A burst of bad logins from many addresses, which the per-address limit
lets through, meets the site-wide cap: nginx answers most of it 429 itself.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from controller.tls import make_self_signed
from tests.support.browser import add_staff, chromium, needs_chromium, wait_js
from tests.support.procs import ROOT, AgentProc, ControllerProc, free_port, shared_clock, wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "correct horse battery"

needs_nginx = pytest.mark.skipif(not os.path.exists(NGINX), reason="needs Debian's nginx")


def nginx_conf(tmp: Path, port: int, upstream: int, cert: Path, key: Path, connections: int = 256, error_level: str = "info") -> Path:
    """The deploy file in an nginx.conf of its own under ``tmp`` (logs there too: ``nginx-error.log``
    at ``error_level``, ``access.log``). Debian's own nginx.conf logs errors at ``error`` level."""
    site = (ROOT / "deploy" / "controller" / "nginx-espace.conf").read_text()
    for old, new in (
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/espace/tls/controller.pem", str(cert)),
        ("/etc/espace/tls/controller.key", str(key)),
        ("http://127.0.0.1:8080;", f"http://127.0.0.1:{upstream};"),
        ("/var/log/nginx/access.log", str(tmp / "access.log")),
    ):
        assert old in site, f"the deploy file no longer says {old!r}: update this test"
        site = site.replace(old, new)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log {error_level};
worker_rlimit_nofile {4 * connections};
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
"""
    )
    return conf


def start_nginx(tmp: Path, conf: Path) -> subprocess.Popen[bytes]:
    """Debian's nginx in the foreground, its own process group; checked first (``nginx -t``)."""
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp), "-c", str(conf)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    return subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def wait_tls(port: int, within: float = 20.0) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + within
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, ctx.wrap_socket(raw):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@needs_chromium
@needs_nginx
async def test_the_floor_works_live_behind_the_documented_tls_proxy(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    fp = make_self_signed(cert, key, ["127.0.0.1"])
    site = tmp_path / "site.toml"
    site.write_text('trusted_proxies = ["127.0.0.1"]\n', encoding="utf-8")
    clock = shared_clock(speed=1.0)
    ctl = ControllerProc(tmp_path, clock, config=site)
    await add_staff(ctl.db, ("sam", PASSWORD, "steward", "fr"))
    token = ctl.add_station("PC-01")
    port = free_port()
    ctl.start()
    conf = nginx_conf(tmp_path, port, ctl.port, cert, key)
    nginx = start_nginx(tmp_path, conf)
    agent: AgentProc | None = None
    url = f"https://127.0.0.1:{port}"
    try:
        wait_tls(port)
        async with chromium() as browser:
            ctx = await browser.new_context(ignore_https_errors=True)  # the site's own certificate; agents pin it
            page = await ctx.new_page()
            await page.goto(url + "/login?next=/floor")
            await page.fill("#login", "sam")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(url + "/floor")
            await page.wait_for_selector("#conn:not(.down)")  # /ws/floor is live through the proxy
            cookie = next(c for c in await ctx.cookies() if c["name"] == "espace_staff")
            assert cookie["secure"]
            assert cookie["httpOnly"]
            assert await wait_js(page, "document.querySelector('[data-station=\"PC-01\"]')?.dataset.state") == "offline"

            agent = AgentProc(tmp_path, "PC-01", token, f"wss://127.0.0.1:{port}/ws/agent", clock, extra=["--tls-fingerprint", fp])
            await agent.start()
            await wait_js(page, "document.querySelector('[data-station=\"PC-01\"]').dataset.state === 'free'", within=30)
            assert (await agent.call("start"))["ok"]
            await wait_js(page, "document.querySelector('[data-station=\"PC-01\"]').dataset.state === 'in_session'", within=30)
            await ctx.close()
        await wait_for(lambda: "staff login: login='sam' client=127.0.0.1" in ctl.log.read_text(), what="the login in the log")
    finally:
        if agent is not None:
            await agent.kill()
        os.killpg(nginx.pid, signal.SIGTERM)
        nginx.wait(10)
        ctl.kill()


# what the deploy file says of the whole site's password posts (checked against it below)
SITE_RATE, SITE_BURST, SITE_AT_ONCE = 1, 10, 10
FLOOD = 60


async def _connect(port: int, ctx: ssl.SSLContext, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TLS connection to nginx from ``source``, a loopback address of its own."""
    return await asyncio.open_connection("127.0.0.1", port, ssl=ctx, local_addr=(source, 0))


async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> tuple[int, bool]:
    """``request`` on an open connection: its status, and whether the controller wrote it (JSON) or nginx."""
    reader, writer = conn
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 60)  # Connection: close
    finally:
        writer.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    return int(head.split()[1]), "content-type: application/json" in head


def _login_counters(ctl: ControllerProc) -> int:
    """Every refused or failed password post the controller counted (each one it received counts once)."""
    with ctl._urlopen("/metrics") as r:
        text = r.read().decode()
    return sum(int(v) for k, v in re.findall(r"^espace_(staff_login_\w+) (\d+)$", text, re.M) if k != "staff_login_ok")


async def _burst(tmp_path: Path, error_level: str = "info") -> tuple[list[tuple[int, bool]], list[tuple[int, bool]], float, int]:
    """FLOOD bad posts, each from its own address, with 20 visits of the login page: the answers to
    the posts and to the visits, how long they took, and what the controller counted."""
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    make_self_signed(cert, key, ["127.0.0.1"])
    site = tmp_path / "site.toml"
    site.write_text('trusted_proxies = ["127.0.0.1"]\n', encoding="utf-8")
    ctl = ControllerProc(tmp_path, shared_clock(speed=1.0), config=site)
    await add_staff(ctl.db, ("sam", PASSWORD, "steward", "fr"))
    port = free_port()
    ctl.start()
    nginx = start_nginx(tmp_path, nginx_conf(tmp_path, port, ctl.port, cert, key, error_level=error_level))
    try:
        wait_tls(port)
        ctx = ssl.create_default_context(cafile=str(cert))
        host = f"Host: 127.0.0.1:{port}\r\nConnection: close\r\n"

        def post(n: int) -> bytes:
            body = json.dumps({"login": f"guess{n}", "password": "wrong-guess"}).encode()
            return (f"POST /login HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

        page = f"GET /login HTTP/1.1\r\n{host}\r\n".encode()
        # each post from its own address (127.0.9.N), once: the per-address limit (burst 10) lets every one
        # through; 20 visits of the login page from other addresses at the same moment. All connected first.
        conns = await asyncio.gather(*(_connect(port, ctx, f"127.0.9.{n + 1}") for n in range(FLOOD + 20)))
        t0 = time.monotonic()
        answers = await asyncio.gather(*(_exchange(c, post(n) if n < FLOOD else page) for n, c in enumerate(conns)))
        elapsed = time.monotonic() - t0
        answers, visits = answers[:FLOOD], answers[FLOOD:]
        counted = _login_counters(ctl)
    finally:
        os.killpg(nginx.pid, signal.SIGTERM)
        nginx.wait(10)
        ctl.kill()
    return answers, visits, elapsed, counted


@needs_nginx
async def test_a_burst_of_bad_logins_from_many_addresses_is_cut_by_nginx_site_wide(tmp_path: Path) -> None:
    site_conf = (ROOT / "deploy" / "controller" / "nginx-espace.conf").read_text()
    for said in (f"espace_login_all:1m rate={SITE_RATE}r/s", f"zone=espace_login_all burst={SITE_BURST} nodelay", f"espace_login_conn {SITE_AT_ONCE};"):
        assert said in site_conf, f"the deploy file no longer says {said!r}: update this test"
    answers, visits, elapsed, counted = await _burst(tmp_path)
    cut = [a for a in answers if a == (429, False)]
    reached = [a for a in answers if a[1]]
    assert len(cut) + len(reached) == FLOOD, answers
    assert all(status in (401, 503) for status, _ in reached), reached  # checked, or shed by the controller's own bound
    # a token bucket of SITE_BURST + 1 filled at SITE_RATE a second: nothing more can have passed
    assert len(reached) <= SITE_BURST + 1 + math.ceil(SITE_RATE * elapsed), (len(reached), elapsed)
    assert len(cut) > FLOOD // 2, answers
    assert counted == len(reached)  # what passed nginx is all the controller saw
    log = (tmp_path / "nginx-error.log").read_text()
    assert re.search(r'limiting (requests|connections).* by zone "espace_login_(all|conn)"', log), log[-2000:]
    assert 'by zone "espace_login"' not in log  # not the per-address limit: the site-wide one
    assert [status for status, _ in visits] == [200] * 20  # the login page itself is not limited


@needs_nginx
async def test_at_debians_log_level_a_burst_refused_by_nginx_writes_no_line_per_refusal(tmp_path: Path) -> None:
    """Before: one error.log line and one access.log line per refused post (a flood: gigabytes an hour)."""
    answers, visits, _, counted = await _burst(tmp_path, error_level="error")  # Debian's nginx.conf: error_log at `error`
    cut = [a for a in answers if a == (429, False)]
    assert len(cut) > FLOOD // 2, answers
    assert "limiting" not in (tmp_path / "nginx-error.log").read_text()
    logged = (tmp_path / "access.log").read_text().splitlines()
    posts = [line for line in logged if '"POST /login ' in line]
    assert len(posts) == len(answers) - len(cut) == counted  # what reached the controller, which logs and counts it
    assert not [line for line in logged if '" 429 ' in line], logged
    assert len([line for line in logged if '"GET /login ' in line and '" 200 ' in line]) == len(visits) == 20
