"""A steward opens a session from the floor: it is recorded in the language the station's screen shows."""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp

from tests.support.procs import _env, wait_for

PASSWORD = "steward-password-0123"


async def test_a_session_a_steward_opens_is_recorded_in_the_screens_language(make_floor):
    floor = make_floor(60.0)
    ctl = floor.controller
    await asyncio.to_thread(
        subprocess.run, [*ctl._args(), "staff", "add", "marie", "--role", "steward", "--password-stdin", "--database", str(ctl.db)],
        input=PASSWORD + "\n", check=True, capture_output=True, text=True, env=_env(), timeout=60,
    )  # fmt: skip
    await asyncio.to_thread(ctl.start)
    agent = await floor.add_agent("PC-07")
    await wait_for(lambda: _connected(agent), what="connection")
    refused = await agent.call("lang", lang="xx")  # checked against the protocol's languages
    assert not refused["ok"], refused
    assert "lang" in refused["error"], refused
    assert (await agent.call("lang", lang="nl"))["ok"]  # the visitor chose Nederlands on the lock screen

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(ctl.url + "/login", json={"login": "marie", "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
            csrf = (await r.json())["me"]["csrf"]
        async with http.post(ctl.url + "/api/stations/PC-07/open", json={}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()
            opened = await r.json()

    await wait_for(lambda: ctl.rows("SELECT lang, origin FROM sessions WHERE id = ?", opened["session_id"]), what="the session stored")
    row = ctl.rows("SELECT lang, origin FROM sessions WHERE id = ?", opened["session_id"])[0]
    assert (row["lang"], row["origin"]) == ("nl", "steward")


async def _connected(agent) -> bool:
    return (await agent.call("status"))["connected"]
