"""Backend calls made ahead of the items that need them, concurrently within an adaptive bound per backend.

pytest still runs and reports items one by one, in order; an item's setup only waits for the
answer its call already fetched. Each backend has a pool of threads (as many as its ceiling: the
smaller of ``--llm-concurrency`` and its ``concurrency:``) and a ConcurrencyLimit that admits its
calls, in the order they were queued. The limit adapts as TCP's congestion window does (additive
increase, multiplicative decrease): it starts at the ceiling, grows back by about one call per round
of successes, and halves on a sign of overload (HTTP 429 or 503, an interrupted stream, a reset, a
timeout), never growing again past the level where the overload was seen unless a long run of
successes probes one level higher. A call that failed that way is queued again, ahead of the calls
that came after it. In-process models share one pool of one call (they share the cores). After a
stop (``-x``, ``--maxfail``, Ctrl-C) no queued call starts; calls in flight finish and are dropped.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from ..backends.base import OVERLOAD_SIGNS, BackendError, Overloaded, admitted

T = TypeVar("T")

DECREASE = 0.5  # the share of the limit kept after a sign of overload
PROBE_AFTER = 20  # successes at the limit before one call more is tried past a level that overloaded
MAX_RETRY_AFTER_S = 8.0  # the longest Retry-After honoured before queueing a call again
MAX_REQUEUES = 8  # a call queued again this often is retried in place: a lasting fault is not overload


@dataclass(frozen=True)
class Bound:
    """How many calls a backend may have in flight: adapted between 1 and ``ceiling``, or ``ceiling`` when fixed."""

    ceiling: int
    fixed: bool = False


@dataclass(frozen=True)
class Reduction:
    """The first sign of overload that lowered a limit, and how many calls were in flight when it came."""

    sign: str
    in_flight: int


class ConcurrencyLimit:
    """An AIMD bound on one backend's calls in flight. Thread-safe; calls are admitted in queue order."""

    def __init__(self, name: str, bound: Bound, *, probe_after: int = PROBE_AFTER):
        self.name = name
        self.ceiling = max(1, bound.ceiling)
        self.fixed = bound.fixed
        self.reduction: Reduction | None = None
        self._limit = float(self.ceiling)
        self._cap = self.ceiling  # the most calls at once not seen to overload since the last probe
        self._probe_after = probe_after
        self._streak = 0  # successes at the limit since it last changed its cap
        self._epoch = 0  # counts decreases: the calls of one burst lower the limit once, not once each
        self._in_flight = 0
        self._waiting: list[int] = []  # tickets, the smallest admitted first
        self._tickets = itertools.count()
        self._cond = threading.Condition()

    @property
    def bound(self) -> int:
        """How many calls may be in flight now."""
        with self._cond:
            return self._bound()

    @property
    def settled(self) -> int:
        """The bound it works back to and holds: the most calls at once not seen to overload (after a halving
        the bound climbs back to it within a few rounds of successes)."""
        with self._cond:
            return self._cap

    def run(self, call: Callable[[], T]) -> T:
        """``call()`` once admitted; queued again, with its place kept, while it raises Overloaded."""
        ticket, requeues = next(self._tickets), 0
        while True:
            slot = self._acquire(ticket, requeues)
            try:
                with admitted(slot):
                    result = call()
            except Overloaded as overload:
                self._release(slot, success=False)
                if overload.retry_after_s:  # the server said when to come back; wait without holding a place
                    time.sleep(min(overload.retry_after_s, MAX_RETRY_AFTER_S))
                requeues += 1
                continue
            except BackendError as error:
                if error.cause in OVERLOAD_SIGNS:  # a backend that retried on its own, or one that cannot hand back
                    slot.overloaded(error.cause)
                self._release(slot, success=False)
                raise
            except BaseException:
                self._release(slot, success=False)
                raise
            self._release(slot, success=True)
            return result

    def note(self) -> str | None:
        """'api: interrupted streams at 8 in flight; settled at 1' when the limit was lowered, else None."""
        if self.reduction is None:
            return None
        return (
            f"{self.name}: {OVERLOAD_SIGNS[self.reduction.sign]} at {self.reduction.in_flight} in flight; "
            f"settled at {self.settled} (of {self.ceiling}; 'concurrency: {{fixed: N}}' in llmgate.yaml sets it)"
        )

    def _bound(self) -> int:
        return max(1, min(self._cap, math.floor(self._limit)))

    def _acquire(self, ticket: int, requeues: int) -> _Slot:
        with self._cond:
            heapq.heappush(self._waiting, ticket)
            while self._waiting[0] != ticket or self._in_flight >= self._bound():
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._in_flight += 1
            full = self._in_flight >= self._bound()
            self._cond.notify_all()  # the next ticket may fit too
            return _Slot(self, self._epoch, requeues, full)

    def _release(self, slot: _Slot, *, success: bool) -> None:
        with self._cond:
            self._in_flight -= 1
            if success and slot.full and not self.fixed:
                self._grow()
            self._cond.notify_all()

    def _grow(self) -> None:
        """One success with the limit in use: about one call more per round of successes, up to the cap;
        at the cap, after a long streak, try one call more than last overloaded."""
        self._streak += 1
        if self._limit < self._cap:
            self._limit = min(float(self._cap), self._limit + 1 / self._limit)
        elif self._cap < self.ceiling and self._streak >= self._probe_after:
            self._cap += 1
            self._limit = float(self._cap)
            self._streak = 0

    def _overloaded(self, slot: _Slot, sign: str) -> bool:
        with self._cond:
            in_flight = self._in_flight
            if self.fixed or in_flight <= 1:
                return False  # nothing to lower: the backend retries as for any transient fault
            if slot.epoch == self._epoch:  # the first sign since the last decrease
                self._cap = max(1, min(self._cap, in_flight - 1))
                self._limit = max(1.0, min(self._limit * DECREASE, float(self._cap)))
                self._epoch += 1
                self._streak = 0
                self._probe_after *= 2  # each overload makes the next probe rarer
                if self.reduction is None:
                    self.reduction = Reduction(sign, in_flight)
            return slot.requeues < MAX_REQUEUES


class _Slot:
    """One admitted call (the Admission a backend sees): when it started and how often it was queued again."""

    def __init__(self, limit: ConcurrencyLimit, epoch: int, requeues: int, full: bool):
        self._limit = limit
        self.epoch = epoch
        self.requeues = requeues
        self.full = full  # it took the last free place: its success says the limit could grow
        self.attempts_charged = min(1, requeues)  # overload costs a call one attempt at most

    def overloaded(self, sign: str) -> bool:
        """Lower the limit on a first sign of overload; True when the call should be queued again."""
        return self._limit._overloaded(self, sign)


class CallScheduler:
    """Thread pools and concurrency limits keyed by backend, and one future per item (by node id)."""

    def __init__(self) -> None:
        self._pools: dict[Hashable, ThreadPoolExecutor] = {}
        self._limits: dict[Hashable, ConcurrencyLimit] = {}
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, nodeid: str, pool: Hashable, workers: int, call: Callable[[], T]) -> None:
        """Queue ``call`` for ``nodeid`` on ``pool`` (``workers`` threads); once per node, none after a stop."""
        with self._lock:
            if not self._stopped and nodeid not in self._futures:
                self._futures[nodeid] = self._pool(pool, workers).submit(call)

    def resolve(self, nodeid: str, value: object) -> None:
        """Hold ``value`` as the answer of ``nodeid`` (found without a call); once per node, none after a stop."""
        with self._lock:
            if not self._stopped and nodeid not in self._futures:
                future: Future = Future()
                future.set_result(value)
                self._futures[nodeid] = future

    def result(self, nodeid: str, pool: Hashable, workers: int, call: Callable[[], T]) -> T:
        """The answer fetched for ``nodeid``, waiting for it. One never queued is queued now, on the same
        pool: a backend's calls all go through its bound (an in-process model must never answer two at once)."""
        with self._lock:
            future = self._futures.pop(nodeid, None) or self._pool(pool, workers).submit(call)
        return future.result()

    def limit(self, pool: Hashable, name: str, bound: Bound) -> ConcurrencyLimit:
        """The concurrency limit of ``pool``, made on first use: every call of the backend goes through it."""
        with self._lock:
            if pool not in self._limits:
                self._limits[pool] = ConcurrencyLimit(name, bound)
            return self._limits[pool]

    def notes(self) -> list[str]:
        """One line per backend whose limit was lowered: the sign, the calls in flight, the bound it settled at."""
        with self._lock:
            limits = list(self._limits.values())
        return [note for limit in limits if (note := limit.note()) is not None]

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
