"""Backend calls made ahead of the items that need them, concurrently within a bound per backend.

pytest still runs and reports items one by one, in order; an item's setup only waits for the
answer its call already fetched. The bound is per backend (the smaller of ``--llm-concurrency``
and the backend's ``concurrency:``; an in-process model answers one call at a time), so two
backends side by side run at the same time. After a stop (``-x``, ``--maxfail``, Ctrl-C) no
queued call starts; calls in flight finish and are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class CallScheduler:
    """Thread pools keyed by backend, and one future per item (by node id)."""

    def __init__(self) -> None:
        self._pools: dict[Hashable, ThreadPoolExecutor] = {}
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, nodeid: str, pool: Hashable, workers: int, call: Callable[[], T]) -> None:
        """Queue ``call`` for ``nodeid`` on ``pool`` (``workers`` calls at once); once per node, none after a stop."""
        with self._lock:
            if not self._stopped and nodeid not in self._futures:
                self._futures[nodeid] = self._pool(pool, workers).submit(call)

    def result(self, nodeid: str, pool: Hashable, workers: int, call: Callable[[], T]) -> T:
        """The answer fetched for ``nodeid``, waiting for it. One never queued is queued now, on the same
        pool: a backend's calls all go through its bound (an in-process model must never answer two at once)."""
        with self._lock:
            future = self._futures.pop(nodeid, None) or self._pool(pool, workers).submit(call)
        return future.result()

    def _pool(self, pool: Hashable, workers: int) -> ThreadPoolExecutor:
        """The thread pool of ``pool``, made on first use (again after a stop, for the item still running)."""
        if pool not in self._pools:
            self._pools[pool] = ThreadPoolExecutor(max(1, workers), thread_name_prefix=f"llmgate-{pool}")
        return self._pools[pool]

    def stop(self) -> None:
        """Start no queued call (cancel them); calls in flight finish and are dropped."""
        with self._lock:
            self._stopped = True
            pools, self._pools = list(self._pools.values()), {}
            self._futures.clear()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop, then wait for the calls in flight so their backends can be closed safely."""
        with self._lock:
            pools = list(self._pools.values())
        self.stop()
        for pool in pools:
            pool.shutdown(wait=True)
