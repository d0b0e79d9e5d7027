"""Printer status: the classification table, the poller on a manual clock, a real cupsd over IPP."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from controller.printers import (
    PrinterConfig,
    PrinterPoller,
    PrinterStatus,
    as_reasons,
    classify,
    needs_steward,
    poll_printer,
)
from espace.clock import ManualClock

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # tests.support, without a conftest
from tests.support.cups import CupsInstance, cups_missing_reason, private_cups, tiny_pdf  # noqa: E402


@pytest.mark.parametrize(
    ("printer_state", "reasons", "levels", "expected"),
    [
        ("idle", None, (), "ok"),
        ("processing", "none", (80,), "ok"),
        ("idle", "media-empty-error", (), "empty"),
        ("idle", ["media-needed"], (), "empty"),
        ("stopped", ["media-empty", "paused"], (), "empty"),
        ("idle", "media-jam", (), "jam"),
        ("processing", ["toner-low-report", "media-jam-error"], (), "jam"),
        ("idle", "door-open", (), "jam"),
        ("idle", "cover-open-warning", (), "jam"),
        ("stopped", "paused", (), "jam"),  # a stopped queue is an alert
        ("stopped", None, (), "jam"),
        ("stopped", "toner-low-report", (), "jam"),
        ("idle", "toner-low-report", (), "low"),
        ("idle", "marker-supply-low-warning", (), "low"),
        ("idle", "media-low", (), "low"),
        ("idle", None, (42, 7), "low"),  # a level at or under 10 %
        ("idle", None, (42, -1, -3), "ok"),  # negative: unknown
        ("idle", None, (0,), "low"),  # 0 alone is not "empty" (waste tanks report 0)
        ("idle", "offline-report", (), "offline"),
        ("processing", ["shutdown"], (), "offline"),
        (None, None, (), "offline"),  # unreachable
        ("idle", "some-vendor-thing", (), "ok"),
    ],
)
def test_classify(
    printer_state: str | None, reasons: object, levels: tuple[int, ...], expected: str
) -> None:
    assert classify(printer_state, reasons, levels) == expected  # type: ignore[arg-type]


def test_reasons_come_as_str_or_list() -> None:
    assert as_reasons("toner-low-report") == ("toner-low-report",)
    assert as_reasons(["a", "b"]) == ("a", "b")
    assert as_reasons("none") == ()
    assert as_reasons(None) == ()


def test_needs_steward_when_paper_or_jam_problem_appears() -> None:
    ok, low = PrinterStatus("ok"), PrinterStatus("low")
    jam, empty, off = PrinterStatus("jam"), PrinterStatus("empty"), PrinterStatus("offline")
    assert needs_steward(ok, jam)
    assert needs_steward(low, empty)
    assert needs_steward(jam, empty)
    assert needs_steward(None, jam)  # already jammed when the controller starts
    assert not needs_steward(jam, PrinterStatus("jam", message="still"))
    assert not needs_steward(ok, low)
    assert not needs_steward(ok, off)
    assert not needs_steward(jam, ok)


def test_status_as_dict() -> None:
    s = PrinterStatus("low", ("toner-low-report",), "", (("Cyan", 7, "#00FFFF"),), "idle")
    assert s.as_dict() == {
        "state": "low",
        "reasons": ["toner-low-report"],
        "message": "",
        "markers": [{"name": "Cyan", "level": 7, "color": "#00FFFF"}],
        "printer_state": "idle",
    }


# ------------------------------------------------------------------ the poller


async def test_poller_reports_changes_only_on_its_clock() -> None:
    clock = ManualClock(1000.0)
    script = {
        "hall": [PrinterStatus("ok"), PrinterStatus("ok"), PrinterStatus("jam", ("media-jam",))]
    }
    polled: list[str] = []

    async def fake_poll(
        cfg: PrinterConfig, _session: aiohttp.ClientSession | None
    ) -> PrinterStatus:
        polled.append(cfg.id)
        if cfg.id == "broken":
            raise RuntimeError("boom")
        seq = script[cfg.id]
        return seq.pop(0) if len(seq) > 1 else seq[0]

    changes: list[tuple[str, str]] = []

    async def on_change(printer_id: str, status: PrinterStatus) -> None:
        changes.append((printer_id, status.state))
        if printer_id == "broken":
            raise ValueError("a faulty callback must not stop the poller")

    poller = PrinterPoller(
        [PrinterConfig("hall", "127.0.0.1"), PrinterConfig("broken", "127.0.0.1")],
        on_change,
        clock=clock,
        interval=30,
        poll=fake_poll,
    )
    await poller.start()
    try:
        for _ in range(100):  # the first poll runs at start, before any sleep
            if len(changes) >= 2:
                break
            await asyncio.sleep(0)
        assert sorted(changes) == [("broken", "offline"), ("hall", "ok")]
        await clock.advance(29)
        assert len(polled) == 2  # not yet
        await clock.advance(1)
        assert len(polled) == 4
        assert len(changes) == 2  # hall still ok, broken still offline: no call
        await clock.advance(30)
        assert changes[-1] == ("hall", "jam")
        assert poller.statuses["hall"].reasons == ("media-jam",)
    finally:
        await poller.stop()
    await clock.advance(300)
    assert len(polled) == 6  # stopped: no more polls


async def test_poller_in_an_aiohttp_cleanup_ctx() -> None:
    from aiohttp import web

    clock = ManualClock()
    seen: list[str] = []

    async def fake_poll(cfg: PrinterConfig, _s: aiohttp.ClientSession | None) -> PrinterStatus:
        return PrinterStatus("ok")

    async def on_change(pid: str, status: PrinterStatus) -> None:
        seen.append(pid)

    poller = PrinterPoller(
        [PrinterConfig("p", "127.0.0.1")], on_change, clock=clock, poll=fake_poll
    )
    app = web.Application()
    app.cleanup_ctx.append(poller.cleanup_ctx)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0)
        assert seen == ["p"]
    finally:
        await runner.cleanup()
    assert poller._task is None


async def test_unreachable_printer_is_offline() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = await poll_printer("127.0.0.1", port, "/printers/none", request_timeout=5)
    assert status.state == "offline"
    assert status.message


# ------------------------------------------------------------------ a real cupsd


@pytest.fixture
def cups_with_markers(tmp_path: Path) -> Iterator[CupsInstance]:
    reason = cups_missing_reason()
    if reason:
        pytest.skip(reason)
    markers = [("Black", 42, "#000000"), ("Cyan", 7, "#00FFFF")]
    with private_cups(tmp_path, markers=markers) as instance:
        yield instance


async def _poll(cups: CupsInstance) -> PrinterStatus:
    return await poll_printer("127.0.0.1", cups.port, f"/printers/{cups.printer}", tls=False)


async def test_real_cups_idle_then_stopped_with_a_message(cups: CupsInstance) -> None:
    status = await _poll(cups)
    assert (status.state, status.printer_state, status.reasons) == ("ok", "idle", ())
    cups.disable("paper jam")
    status = await _poll(cups)
    assert status.printer_state == "stopped"
    assert status.message == "paper jam"
    assert status.state == "jam"
    assert needs_steward(PrinterStatus("ok"), status)
    cups.enable()
    assert (await _poll(cups)).state == "ok"


async def test_real_cups_marker_levels_through_the_wrapper_backend(
    cups_with_markers: CupsInstance, tmp_path: Path
) -> None:
    cups = cups_with_markers
    assert (await _poll(cups)).markers == ()  # levels come with the first job
    cups.lp(tiny_pdf(tmp_path / "one.pdf", pages=1), title="levels")
    deadline = time.monotonic() + 30
    status = await _poll(cups)
    while not status.markers and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        status = await _poll(cups)
    assert status.markers == (("Black", 42, "#000000"), ("Cyan", 7, "#00FFFF")), cups.log_tail()
    assert "toner-low-report" in status.reasons
    assert status.state == "low"
