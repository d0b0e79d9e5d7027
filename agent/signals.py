"""Stopping the agent's loop on a signal, on Linux and Windows (``cli`` and ``winservice`` both use it)."""

from __future__ import annotations

import asyncio
import signal
import sys


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM or SIGINT sets ``stop`` (Windows has no loop signal handlers: Ctrl+C there)."""
    loop = asyncio.get_running_loop()
    if sys.platform == "win32":
        signal.signal(signal.SIGINT, lambda _sig, _frame: loop.call_soon_threadsafe(stop.set))
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
