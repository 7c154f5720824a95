"""The openai backend against a fault-injecting server: every fault is a one-line BackendError, never an answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from faultserver import FaultServer, label_reply
from llama_server import free_port

from pytest_llmgate.backends.base import BackendError, Completion
from pytest_llmgate.backends.breaker import CircuitBreaker
from pytest_llmgate.backends.openai import OpenAIBackend, endpoint_of
from pytest_llmgate.backends.spec import BackendSpec

SECRET = "sk-llmgate-test-SECRET-0123456789"
TIMEOUT_S = 2.0
SLACK_S = 2.0  # generous: the test machine has two busy cores


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        yield running


@pytest.fixture(params=[True, False], ids=["stream", "whole"])
def stream(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def make_backend(url: str, **overrides: object) -> OpenAIBackend:
    values: dict[str, object] = {
        "name": "api",
        "provider": "openai",
        "model": "m",
        "base_url": url,
        "config_path": Path("llmgate.yaml"),
        "timeout_s": TIMEOUT_S,
        "max_retries": 2,
    }
    return OpenAIBackend(BackendSpec(**{**values, **overrides}), backoff_s=0.05)  # type: ignore[arg-type]


def ask(backend: OpenAIBackend, text: str) -> Completion:
    return backend.complete([{"role": "system", "content": "Label it."}, {"role": "user", "content": text}])


def unique(request: pytest.FixtureRequest, marker: str) -> str:
    """A message of its own per test, so that the server's per-message attempt counts start at zero."""
    return f"{request.node.name} {marker}"


def assert_concise(error: BackendError, where: str, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message and len(message) < 200, message
    assert message.startswith(f"backend 'api' ({where}): "), message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("fault", "cause", "attempts", "says"),
    [
        ("429", "http 429", 3, "HTTP 429 Too Many Requests"),
        ("500", "http 500", 3, "HTTP 500 Internal Server Error"),
        ("503", "http 503", 3, "HTTP 503 Service Unavailable"),
        ("reset", "reset", 3, "connection reset"),
        ("cut", "reset", 3, "connection closed before the response was complete"),
        ("truncate", "malformed", 3, "malformed response"),
        ("badjson", "malformed", 3, "malformed response: invalid JSON"),
        ("badbytes", "malformed", 3, "malformed response: bytes that are not UTF-8"),
        ("empty", "malformed", 3, "malformed response"),
        ("nocontent", "malformed", 3, "malformed response"),
    ],
)
def test_every_fault_is_a_concise_backend_error(
    server: FaultServer, stream: bool, request: pytest.FixtureRequest, fault: str, cause: str, attempts: int, says: str
) -> None:
    message = unique(request, f"FAULT:{fault}")
    with pytest.raises(BackendError) as raised:
        ask(make_backend(server.url, stream=stream), message)
    error = raised.value
    assert (error.cause, error.attempts, error.endpoint) == (cause, attempts, f"127.0.0.1:{server.port}")
    assert error.transient == (attempts > 1)
    assert server.attempts(message) == attempts
    assert_concise(error, f"127.0.0.1:{server.port}", says, *([f"after {attempts} attempts"] if attempts > 1 else []))


def test_a_stream_that_ends_early_is_not_an_answer(server: FaultServer, request: pytest.FixtureRequest) -> None:
    with pytest.raises(BackendError, match="stream ended without finish_reason"):
        ask(make_backend(server.url), unique(request, "FAULT:truncate"))


@pytest.mark.parametrize("fault", ["503x2", "429x1", "resetx2", "cutx1", "500x1", "truncatex1", "badjsonx2", "emptyx1"])
def test_transient_faults_are_retried_to_the_right_answer(
    server: FaultServer, stream: bool, request: pytest.FixtureRequest, fault: str
) -> None:
    message = unique(request, f"FAULT:{fault}")
    completion = ask(make_backend(server.url, stream=stream), message)
    assert completion.text == label_reply(message)
    assert server.attempts(message) == int(fault.split("x")[1]) + 1


def test_retries_stop_at_max_retries(server: FaultServer, stream: bool, request: pytest.FixtureRequest) -> None:
    message = unique(request, "FAULT:503")
    with pytest.raises(BackendError) as raised:
        ask(make_backend(server.url, stream=stream, max_retries=0), message)
    assert raised.value.attempts == server.attempts(message) == 1
    assert "after" not in str(raised.value)


def test_an_answer_cut_by_max_tokens_is_an_answer(
    server: FaultServer, stream: bool, request: pytest.FixtureRequest
) -> None:
    message = unique(request, "FAULT:length")
    completion = ask(make_backend(server.url, stream=stream), message)
    assert completion.text == label_reply(message)[: len(label_reply(message)) // 2]


@pytest.mark.parametrize("fault", ["trickle", "hang"])
def test_slow_servers_are_bounded_by_timeout_s(
    server: FaultServer, stream: bool, request: pytest.FixtureRequest, fault: str
) -> None:
    start = time.monotonic()
    with pytest.raises(BackendError) as raised:
        ask(make_backend(server.url, stream=stream), unique(request, f"FAULT:{fault}"))
    elapsed = time.monotonic() - start
    assert TIMEOUT_S - 0.1 < elapsed < TIMEOUT_S + SLACK_S
    assert raised.value.cause == "timeout"
    assert_concise(raised.value, f"127.0.0.1:{server.port}", "timed out after timeout_s=2 s")


def test_a_retry_after_beyond_the_deadline_fails_at_once(request: pytest.FixtureRequest) -> None:
    with FaultServer(retry_after_s=30) as slow_to_recover:
        start = time.monotonic()
        with pytest.raises(BackendError) as raised:
            ask(make_backend(slow_to_recover.url), unique(request, "FAULT:429"))
    assert time.monotonic() - start < 1.0
    assert raised.value.attempts == 1 and raised.value.transient
    assert "(Retry-After 30 s); no time left to retry within timeout_s=2" in str(raised.value)


def test_the_key_is_redacted_when_the_server_echoes_it(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv("LLMGATE_FAULT_KEY", SECRET)
    backend = make_backend(server.url, api_key_env="LLMGATE_FAULT_KEY")
    with pytest.raises(BackendError) as raised:
        ask(backend, unique(request, "FAULT:echokey"))
    assert SECRET not in str(raised.value) and SECRET[:12] not in str(raised.value)
    assert_concise(raised.value, f"127.0.0.1:{server.port}", "HTTP 401 Unauthorized: Incorrect API key provided: ***")
    assert raised.value.attempts == 1 and not raised.value.transient


def test_a_refused_connection_names_the_endpoint_and_the_cause() -> None:
    port = free_port()
    with pytest.raises(BackendError) as raised:
        ask(make_backend(f"http://127.0.0.1:{port}/v1"), "hello")
    assert (raised.value.cause, raised.value.attempts, raised.value.transient) == ("refused", 3, True)
    assert str(raised.value) == f"backend 'api' (127.0.0.1:{port}): connection refused after 3 attempts"


def test_an_unknown_host_is_a_dns_failure_not_retried() -> None:
    with pytest.raises(BackendError) as raised:
        ask(make_backend("http://no-such-host.invalid:8080/v1"), "hello")
    assert raised.value.cause == "dns" and raised.value.attempts == 1
    assert str(raised.value).startswith("backend 'api' (no-such-host.invalid:8080): DNS lookup failed")


def test_the_endpoint_never_shows_credentials_or_path() -> None:
    assert endpoint_of("https://user:sk-secret@api.example.com/v1?key=sk-secret") == "api.example.com"
    assert endpoint_of("http://[::1]:8080/v1") == "[::1]:8080"
    assert make_backend(None).endpoint == "api.openai.com"  # type: ignore[arg-type]


def test_backend_error_keeps_its_one_argument_form() -> None:
    error = BackendError("backend 'x': simulated outage")
    assert str(error) == "backend 'x': simulated outage"
    assert (error.cause, error.endpoint, error.attempts, error.transient) == (None, None, 1, False)
    assert not error.is_connection_failure


# The circuit breaker, alone.


def failure(cause: str) -> BackendError:
    return BackendError(f"backend 'api' (h:1): {cause}", cause=cause, endpoint="h:1", attempts=3)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_connection_failures() -> None:
    breaker = CircuitBreaker("api", threshold=3)
    for _ in range(2):
        breaker.record_failure(failure("refused"))
        breaker.guard()
    breaker.record_failure(failure("refused"))
    assert breaker.is_open
    with pytest.raises(BackendError) as raised:
        breaker.guard()
    assert str(raised.value) == (
        "backend 'api' (h:1): skipped: 3 consecutive connection failures "
        "(last: connection refused); the backend looks down"
    )
    assert (raised.value.cause, raised.value.attempts, raised.value.endpoint) == ("skipped", 0, "h:1")


@pytest.mark.parametrize("interruption", ["success", "http 500", "malformed"])
def test_any_answer_resets_the_count(interruption: str) -> None:
    breaker = CircuitBreaker("api", threshold=3)
    for _ in range(2):
        breaker.record_failure(failure("timeout"))
    if interruption == "success":
        breaker.record_success()
    else:
        breaker.record_failure(failure(interruption))
    for _ in range(2):
        breaker.record_failure(failure("reset"))
    assert not breaker.is_open


def test_http_and_malformed_failures_never_open_it() -> None:
    breaker = CircuitBreaker("api", threshold=1)
    for cause in ("http 503", "http 429", "malformed", "model", "skipped"):
        breaker.record_failure(failure(cause))
    assert not breaker.is_open


def test_after_the_cooldown_one_probe_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("api", threshold=1, cooldown_s=10, clock=clock)
    breaker.record_failure(failure("dns"))
    clock.now = 9.9
    with pytest.raises(BackendError, match=r"last: DNS lookup failed"):
        breaker.guard()
    clock.now = 10.0
    breaker.guard()  # the probe
    with pytest.raises(BackendError):
        breaker.guard()  # everyone else waits for the probe's outcome
    breaker.record_failure(failure("dns"))
    clock.now = 15.0
    with pytest.raises(BackendError):
        breaker.guard()  # the failed probe started another cooldown
    clock.now = 20.0
    assert breaker.call(lambda: "answer") == "answer"
    assert not breaker.is_open


def test_call_records_outcomes_and_passes_other_errors_through() -> None:
    breaker = CircuitBreaker("api", threshold=2)

    def down() -> str:
        raise failure("refused")

    for _ in range(2):
        with pytest.raises(BackendError, match="refused"):
            breaker.call(down)
    with pytest.raises(BackendError, match="skipped"):
        breaker.call(lambda: pytest.fail("an open breaker must not call"))


def test_breaker_counts_correctly_under_threads() -> None:
    breaker = CircuitBreaker("api", threshold=400)
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(50):
            breaker.record_failure(failure("reset"))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.is_open  # 8 x 50 = 400 failures, none lost


# The breaker and the backend against real sockets.


def test_breaker_skips_a_refused_backend_after_three_cases() -> None:
    backend = make_backend(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    breaker = CircuitBreaker(backend.name)
    start = time.monotonic()
    errors = []
    for case in range(10):
        with pytest.raises(BackendError) as raised:
            breaker.call(partial(ask, backend, f"case {case}"))
        errors.append(raised.value)
    assert time.monotonic() - start < 3.0
    assert [e.attempts for e in errors] == [2, 2, 2] + [0] * 7
    assert [e.cause for e in errors] == ["refused"] * 3 + ["skipped"] * 7
    assert "skipped: 3 consecutive connection failures (last: connection refused)" in str(errors[-1])


def test_random_faults_never_become_wrong_answers(stream: bool) -> None:
    with FaultServer(fault_rate=0.2, seed=11) as flaky:
        backend = make_backend(flaky.url, stream=stream)
        breaker = CircuitBreaker(backend.name)
        messages = [f"question {n}" for n in range(100)]

        def outcome(message: str) -> Completion | BackendError:
            try:
                return breaker.call(partial(ask, backend, message))
            except BackendError as error:
                return error

        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(outcome, messages))
    answers = [(m, o) for m, o in zip(messages, outcomes) if isinstance(o, Completion)]
    errors = [o for o in outcomes if isinstance(o, BackendError)]
    assert len(answers) + len(errors) == 100
    assert all(completion.text == label_reply(message) for message, completion in answers)
    assert sum(flaky.faults_injected.values()) >= 10  # the run did meet faults
    assert len(answers) >= 70  # most faults are transient and retried
    assert all("\n" not in str(error) and error.cause for error in errors)


def test_a_hang_on_one_attempt_is_cut_and_answered_on_the_retry_within_timeout_s(
    server: FaultServer, stream: bool, request: pytest.FixtureRequest
) -> None:
    """attempt_timeout_s defaults to half of timeout_s when a retry is allowed: the second attempt answers."""
    message = unique(request, "FAULT:hangx1")
    start = time.monotonic()
    completion = ask(make_backend(server.url, stream=stream), message)
    assert time.monotonic() - start < TIMEOUT_S
    assert completion.text == label_reply(message)
    assert server.attempts(message) == 2


def test_attempt_timeout_s_cuts_each_attempt_and_says_so(server: FaultServer, request: pytest.FixtureRequest) -> None:
    start = time.monotonic()
    with pytest.raises(BackendError) as raised:
        ask(make_backend(server.url, timeout_s=10, attempt_timeout_s=0.5, max_retries=1), unique(request, "FAULT:hang"))
    assert time.monotonic() - start < 10
    assert raised.value.cause == "timeout" and raised.value.attempts == 2
    assert_concise(raised.value, f"127.0.0.1:{server.port}", "timed out after attempt_timeout_s=0.5 s after 2 attempts")


def test_many_threads_share_a_client_for_each_eight(server: FaultServer, stream: bool) -> None:
    """20 calls at once on one backend: three HTTP clients (threads 0-7, 8-15, 16-19), every answer its own."""
    backend = make_backend(server.url, stream=stream)
    texts = [f"ticket {number}" for number in range(200)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda text: ask(backend, text).text, texts))
    clients = len(backend._servers[0].clients)
    backend.close()
    assert answers == [label_reply(text) for text in texts]
    assert clients == 3
