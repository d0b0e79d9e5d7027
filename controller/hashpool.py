"""Password checks on their own small, bounded pool of threads.

argon2 is slow on purpose (tens of milliseconds of a core, and memory). Run on
the store's reader threads, a flood of logins used to queue every ``/healthz``,
floor read and station hello behind it. Here it has its own threads
(:data:`WORKERS`), and at most :data:`MAX_WAITING` checks may wait for one:
past that, :meth:`HashPool.reserve` raises :class:`Overloaded` at once and the
login is answered 503, while everything else keeps its latency.

One argon2 check costs about 24 ms of a core here (19 MiB, 2 passes, one lane:
see ``controller/staff.py``): a pool that is never idle would still take a
core of a small controller from the event loop. Its thread therefore runs at
the lowest CPU priority (``nice`` 19; on Linux a thread's priority is its own,
and any lane threads argon2 starts inherit it): the loop, the store's threads
and the stations come first, and password checks use what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WORKERS = 1  # the controller's host has a couple of cores; stations and the floor keep the other
MAX_WAITING = 8  # checks queued behind the running ones; about 0.2 s of argon2 at most


def _lowest_priority() -> None:
    """In each pool thread: the lowest CPU priority, for it and the threads it starts (Linux; elsewhere a no-op)."""
    with contextlib.suppress(AttributeError, OSError):  # no setpriority (Windows), or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class Overloaded(RuntimeError):
    """Too many password checks are waiting; try again in a moment."""


class HashPool:
    def __init__(self, workers: int = WORKERS, max_waiting: int = MAX_WAITING) -> None:
        self.workers = workers
        self.max_waiting = max_waiting
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2", initializer=_lowest_priority)
        self._busy = 0  # running + waiting

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def full(self) -> bool:
        return self._busy >= self.workers + self.max_waiting

    def reserve(self) -> None:
        """Take a place in the pool's queue, or :class:`Overloaded` when it is full; :meth:`run` then :meth:`release`."""
        if self.full:
            raise Overloaded("too many password checks waiting")
        self._busy += 1

    def release(self) -> None:
        self._busy -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the pool (after :meth:`reserve`)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
