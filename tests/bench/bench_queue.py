"""Benchmark: the desk's queue with thousands of live tickets.

Run from the repository root: ``python tests/bench/bench_queue.py [counts...]``. For each count
(the desk caps live tickets at 500; the bench lifts the cap to see the shape): the queue view the
desk polls every 5 s (``GET /api/queue``: waiting tickets with their positions, in one pass), and
one more ticket issued and written to a real SQLite store through the site's own incremental
write (``controller.site._write_queue``; main rewrote the whole table for every change). It prints
``queue<N>_view_ms`` and ``queue<N>_issue_write_ms``. Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from controller.rules import TicketQueue  # noqa: E402
from controller.site import _write_queue  # noqa: E402
from controller.store import Store  # noqa: E402

COUNTS = (500, 2000, 5900)  # a day's codes number 6,000 (CODE_SPACE): the last figure near them all


def figure(name: str, value: float, unit: str) -> None:
    print(f"bench {name}: {value:.3g} {unit}", flush=True)


def view(q: TicketQueue) -> list[dict[str, object]]:
    """What desk.queue_view computes for the waiting list."""
    positions = q.positions()
    return [{"code": t.code, "issued": t.issued, "accessible": t.accessible, "position": positions.get(t.code)} for t in q.waiting()]


async def bench(n: int, folder: Path) -> None:
    q = TicketQueue(rng=random.Random(n), max_live=n + 100)
    for i in range(n):
        q.issue(float(i), accessible=i % 9 == 0)
    store = Store(folder / f"q{n}.db")
    await store.open()
    try:
        changed, gone = q.take_changes()
        await store.write(lambda db: _write_queue(db, changed, gone, [], False))
        reps = 10
        t0 = time.perf_counter()
        for _ in range(reps):
            view(q)
        figure(f"queue{n}_view_ms", (time.perf_counter() - t0) / reps * 1000, "ms")
        t0 = time.perf_counter()
        for i in range(reps):
            q.issue(float(n + i))
            changed, gone = q.take_changes()
            await store.write(lambda db, c=changed, g=gone: _write_queue(db, c, g, [], False))
        figure(f"queue{n}_issue_write_ms", (time.perf_counter() - t0) / reps * 1000, "ms")
    finally:
        await store.close()


async def main(counts: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="espace-bench-queue-") as tmp:
        for n in counts:
            await bench(n, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or list(COUNTS)))
