"""Counters and latency samples, exposed Prometheus-style at /metrics."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from espace.gcwatch import GcWatch


@dataclass
class Metrics:
    counters: Counter[str] = field(default_factory=Counter)
    commit_latency: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    gc: GcWatch = field(default_factory=GcWatch)  # installed for the app's lifetime by create_app

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def render(self, gauges: Mapping[str, float]) -> str:
        gauges = {**gauges, **self.gc.gauges()}  # a new dict: the caller's stays as it was
        lines = []
        for name, value in sorted(self.counters.items()):
            lines.append(f"# TYPE espace_{name} counter")
            lines.append(f"espace_{name} {value}")
        for name, level in sorted(gauges.items()):
            lines.append(f"# TYPE espace_{name} gauge")
            lines.append(f"espace_{name} {level}")
        return "\n".join(lines) + "\n"
