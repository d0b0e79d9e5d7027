"""Password checks on their own small, bounded pool of threads.

argon2 is slow on purpose (tens of milliseconds of a core, and memory). Run on
the store's reader threads, a flood of logins used to queue every ``/healthz``,
floor read and station hello behind it. Here it has its own threads
(:data:`WORKERS`), and at most :data:`MAX_WAITING` checks may wait for one:
past that, :meth:`HashPool.check` raises :class:`Overloaded` at once and the
login is answered 503, while everything else keeps its latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WORKERS = 1  # the controller's host has a couple of cores; stations and the floor keep the other
MAX_WAITING = 8  # checks queued behind the running ones; about a second of argon2 at most


class Overloaded(RuntimeError):
    """Too many password checks are waiting; try again in a moment."""


class HashPool:
    def __init__(self, workers: int = WORKERS, max_waiting: int = MAX_WAITING) -> None:
        self.workers = workers
        self.max_waiting = max_waiting
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._busy = 0  # running + waiting

    @property
    def busy(self) -> int:
        return self._busy

    def reserve(self) -> None:
        """Take a place in the pool's queue, or :class:`Overloaded` when it is full; :meth:`run` then :meth:`release`."""
        if self._busy >= self.workers + self.max_waiting:
            raise Overloaded("too many password checks waiting")
        self._busy += 1

    def release(self) -> None:
        self._busy -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the pool (after :meth:`reserve`)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
