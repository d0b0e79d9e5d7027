"""The controller behind Debian's nginx configured by ``deploy/controller/nginx-espace.conf``, TLS on.

Main, behind this proxy: the session cookie was not Secure (X-Forwarded-Proto ignored) and
``/ws/floor`` answered 403 (the ``/ws/`` location passed no Host), so the floor never went live.
Here the deploy file runs as written, but for its listen address, certificate paths and upstream
port (loopback, a certificate made by the test); a steward logs in in Chromium through it and
watches a real agent, itself connected through the proxy with its pin, come online and start a
session on the live floor.
"""

from __future__ import annotations

import os
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

pytestmark = [needs_chromium, pytest.mark.skipif(not os.path.exists(NGINX), reason="needs Debian's nginx")]


def nginx_conf(tmp: Path, port: int, upstream: int, cert: Path, key: Path) -> Path:
    site = (ROOT / "deploy" / "controller" / "nginx-espace.conf").read_text()
    for old, new in (
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/espace/tls/controller.pem", str(cert)),
        ("/etc/espace/tls/controller.key", str(key)),
        ("http://127.0.0.1:8080;", f"http://127.0.0.1:{upstream};"),
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
error_log {tmp}/nginx-error.log info;
events {{ worker_connections 256; }}
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
