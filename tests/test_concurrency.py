"""The adaptive concurrency limit on its own (no network): a stand-in server that takes N calls at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_llmgate.answers.scheduler import Bound, ConcurrencyLimit
from pytest_llmgate.backends.base import BackendError, Overloaded, current_admission


class Slots:
    """A server with ``capacity`` slots: a call arriving with all taken fails with ``sign``, as HTTP 429 does.
    It hands the failure to the call's admission first, as the openai backend does."""

    def __init__(self, capacity: int, sign: str = "http 429", service_s: float = 0.004):
        self.capacity = capacity
        self.sign = sign
        self.service_s = service_s
        self.active = 0
        self.most = 0  # the most calls it served at once
        self.refused = 0
        self._lock = threading.Lock()

    def call(self, value: int) -> int:
        with self._lock:
            over = self.active >= self.capacity
            self.refused += over
            self.active += not over
            self.most = max(self.most, self.active)
        if over:
            admission = current_admission()
            if admission is not None and admission.overloaded(self.sign):
                raise Overloaded("overloaded", sign=self.sign)
            raise BackendError("refused for overload", cause=self.sign)
        time.sleep(self.service_s)
        with self._lock:
            self.active -= 1
        return value


def run_all(limit: ConcurrencyLimit, server: Slots, calls: int) -> list[int]:
    """Every call through ``limit``, from as many threads as its ceiling (as the scheduler's pool has)."""
    with ThreadPoolExecutor(limit.ceiling) as pool:
        futures = [pool.submit(limit.run, lambda v=value: server.call(v)) for value in range(calls)]
        return [future.result() for future in futures]


def test_a_server_of_one_slot_brings_the_limit_to_one_with_every_call_answered() -> None:
    limit, server = ConcurrencyLimit("smollm2-api", Bound(8)), Slots(1, "interrupted")
    assert run_all(limit, server, 40) == list(range(40))
    assert limit.bound == limit.settled == 1
    assert limit.note() is not None
    assert limit.note().startswith("smollm2-api: interrupted streams at ")
    assert "; settled at 1 (of 8;" in limit.note()


def test_a_rate_limit_of_four_settles_near_four() -> None:
    limit, server = ConcurrencyLimit("api", Bound(16)), Slots(4)
    assert run_all(limit, server, 200) == list(range(200))
    assert 3 <= limit.settled <= 5  # the cap is judged from the calls in flight, one of which may be done
    assert server.most <= 4
    assert "HTTP 429 (rate limited)" in (limit.note() or "")


def test_a_server_that_keeps_up_never_lowers_the_limit() -> None:
    limit, server = ConcurrencyLimit("api", Bound(8)), Slots(8)
    run_all(limit, server, 80)
    assert limit.bound == 8 and limit.note() is None and server.refused == 0
    assert server.most == 8


def test_a_fixed_bound_is_kept_and_a_refusal_is_the_callers_error() -> None:
    limit, server = ConcurrencyLimit("api", Bound(4, fixed=True)), Slots(2)
    with pytest.raises(BackendError, match="refused for overload"):
        run_all(limit, server, 20)
    assert limit.bound == 4 and limit.note() is None


def test_an_overloaded_call_is_charged_one_attempt_however_often_it_is_queued_again() -> None:
    charged: list[int] = []
    offered = 0

    def call() -> str:
        nonlocal offered
        admission = current_admission()
        assert admission is not None
        charged.append(admission.attempts_charged)
        if offered < 3:
            offered += 1
            raise Overloaded("overloaded", sign="http 503")
        return "answered"

    assert ConcurrencyLimit("api", Bound(4)).run(call) == "answered"
    assert charged == [0, 1, 1, 1]


def test_one_call_alone_is_never_queued_again_there_is_nothing_to_lower() -> None:
    limit = ConcurrencyLimit("api", Bound(8))

    def call() -> None:
        admission = current_admission()
        assert admission is not None and not admission.overloaded("timeout")

    limit.run(call)
    assert limit.bound == 8 and limit.note() is None


def test_calls_are_admitted_in_the_order_they_were_queued() -> None:
    limit, order = ConcurrencyLimit("api", Bound(1)), []
    with ThreadPoolExecutor(4) as pool:
        for value in range(12):
            pool.submit(limit.run, lambda v=value: order.append(v) or time.sleep(0.002))
            time.sleep(0.001)  # queued one after another, as prefetch does
    assert order == sorted(order)


def test_the_limit_grows_back_after_the_overload_is_gone() -> None:
    limit, server = ConcurrencyLimit("api", Bound(8), probe_after=5), Slots(2)
    run_all(limit, server, 60)
    lowered = limit.bound
    server.capacity = 8
    run_all(limit, server, 400)
    assert lowered <= 2 < limit.bound
