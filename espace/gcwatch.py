"""Garbage-collector pauses: measured, and kept short in long-running processes.

CPython's cyclic collector stops the event loop while it runs. A full
(generation 2) collection walks every tracked object, so its pause grows with
the heap: with thousands of stations, their connections and live facts, a
single pass took over a second in the swarm and showed up as latency on every
station at once. Two remedies, both from CPython's own toolbox:

* :func:`settle` — after start-up, collect once and ``gc.freeze()`` what is
  left: the settings, the station table, imported modules. Those objects live
  as long as the process and are never scanned again.
* :class:`GcWatch` — times every collection through ``gc.callbacks`` so the
  pauses are visible (the controller's ``/metrics``, the benchmarks).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any


def settle() -> int:
    """Collect, then move every surviving object to the permanent generation. Returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@dataclass
class GcWatch:
    """Times the collector's pauses (seconds). ``install()`` once per process; ``uninstall()`` to stop."""

    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    pause_total_s: float = 0.0
    pause_max_s: float = 0.0
    pauses: list[float] = field(default_factory=list)  # the last ones, for percentiles
    keep: int = 10_000
    _t0: float = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        pause = time.perf_counter() - self._t0
        self.collections[info["generation"]] += 1
        self.pause_total_s += pause
        self.pause_max_s = max(self.pause_max_s, pause)
        self.pauses.append(pause)
        if len(self.pauses) > 2 * self.keep:
            del self.pauses[: self.keep]

    def install(self) -> GcWatch:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        return self

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def reset(self) -> None:
        self.collections = [0, 0, 0]
        self.pause_total_s = self.pause_max_s = 0.0
        self.pauses.clear()

    def gauges(self) -> dict[str, float]:
        return {
            "gc_collections_gen0": self.collections[0],
            "gc_collections_gen1": self.collections[1],
            "gc_collections_gen2": self.collections[2],
            "gc_pause_seconds_total": round(self.pause_total_s, 6),
            "gc_pause_seconds_max": round(self.pause_max_s, 6),
            "gc_frozen_objects": gc.get_freeze_count(),
        }
