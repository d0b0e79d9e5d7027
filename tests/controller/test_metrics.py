"""/metrics: counters, gauges and the collector's pauses, Prometheus text format."""

from __future__ import annotations

import gc

import aiohttp
from aiohttp import web

from controller.app import create_app
from controller.settings import make_settings
from espace.clock import ScaledClock, parse_instant
from tests.support.procs import free_port


def _parse(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


async def test_metrics_show_the_collectors_pauses(tmp_path):
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    app = create_app(make_settings(database=str(tmp_path / "c.db")), clock)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        gc.collect()  # at least one full collection while the app runs
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
            assert r.status == 200
            m = _parse(await r.text())
        assert m["espace_gc_collections_gen2"] >= 1
        assert m["espace_gc_pause_seconds_max"] > 0
        assert m["espace_gc_pause_seconds_total"] >= m["espace_gc_pause_seconds_max"]
        assert m["espace_stations_connected"] == 0
    finally:
        await runner.cleanup()
    from controller.web import keys

    assert app[keys.METRICS].gc._callback not in gc.callbacks  # the watch leaves with the app
