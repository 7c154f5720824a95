"""The answers layer on its own: where an answer comes from (recording, response cache, backend) and
what a failing backend does, with a real counting backend and a real SQLite cache, no pytest run."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_llmgate.answers.recording import Recording
from pytest_llmgate.answers.source import AnswerOptions, Answers, Request
from pytest_llmgate.backends.base import BackendError, Completion, Message
from pytest_llmgate.backends.spec import BackendSpec

CHAT: tuple[Message, ...] = ({"role": "user", "content": "I was charged twice"},)


class CountingBackend:
    """A Backend that answers 'billing' and counts its calls; ``down`` makes every call a refused connection."""

    def __init__(self, name: str = "fake", down: bool = False):
        self.name = name
        self.down = down
        self.calls = 0
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message]) -> Completion:
        with self._lock:
            self.calls += 1
        if self.down:
            raise BackendError(f"backend {self.name!r}: connection refused", cause="refused", endpoint="127.0.0.1:1")
        return Completion("billing", 10, 1, 0.01, 0.005)

    def close(self) -> None:
        """Nothing held."""


def spec(tmp_path: Path, **params: object) -> BackendSpec:
    return BackendSpec(
        name="fake",
        provider="fake",
        model="scripted",
        config_path=tmp_path / "llmgate.yaml",
        params={"temperature": 0, **params},
    )


def answers(options: AnswerOptions, backend: CountingBackend) -> Answers:
    return Answers(options, lambda _spec: backend)


def test_a_second_run_is_answered_from_the_cache_without_a_call(tmp_path: Path) -> None:
    options = AnswerOptions(cache_dir=tmp_path / "cache")
    request = Request(spec(tmp_path), CHAT, 1, "f::a [fake]")
    first_backend, second_backend = CountingBackend(), CountingBackend()
    first = answers(options, first_backend)
    fresh = first.answer("f::a[fake]", request)
    first.close()
    second = answers(options, second_backend)
    cached = second.answer("f::a[fake]", request)
    second.close()
    assert (first_backend.calls, second_backend.calls) == (1, 0)
    assert not fresh.completion.cached and cached.completion.cached
    assert cached.key == fresh.key and cached.completion.text == "billing"


def test_refresh_calls_again_and_other_params_miss_the_cache(tmp_path: Path) -> None:
    options = AnswerOptions(cache_dir=tmp_path / "cache")
    backend = CountingBackend()
    source = answers(options, backend)
    source.answer("a", Request(spec(tmp_path), CHAT, 1, "a"))
    source.answer("b", Request(spec(tmp_path, max_tokens=4), CHAT, 1, "b"))  # another request: a miss
    source.close()
    refreshing = answers(AnswerOptions(cache_dir=tmp_path / "cache", refresh=True), backend)
    assert not refreshing.answer("c", Request(spec(tmp_path), CHAT, 1, "c")).completion.cached
    refreshing.close()
    assert backend.calls == 3


def test_without_a_cache_or_recording_nothing_is_keyed(tmp_path: Path) -> None:
    source = answers(AnswerOptions(), CountingBackend())
    assert source.answer("a", Request(spec(tmp_path), CHAT, 1, "a")).key is None
    source.close()


def test_a_replay_answers_only_from_its_recording(tmp_path: Path) -> None:
    recorded = answers(AnswerOptions(record=tmp_path / "r.jsonl"), CountingBackend())
    answer = recorded.answer("a", Request(spec(tmp_path), CHAT, 1, "f::a [fake]"))
    recorded.close()
    writer = Recording.writer(tmp_path / "r.jsonl")
    assert answer.key is not None
    writer.add(answer.key, answer.completion, backend="fake", case="f::a", prompt="I was charged twice", sample=1)
    writer.save()
    backend = CountingBackend()
    replay = answers(AnswerOptions(replay=tmp_path / "r.jsonl"), backend)
    assert replay.answer("a", Request(spec(tmp_path), CHAT, 1, "f::a [fake]")).completion.text == "billing"
    other = ({"role": "user", "content": "The app crashes"},)
    with pytest.raises(BackendError, match=r"f::b \[fake\]: no answer in the recording .*--llm-record="):
        replay.answer("b", Request(spec(tmp_path), other, 1, "f::b [fake]"))
    replay.close()
    assert backend.calls == 0


def test_a_backend_that_is_down_is_skipped_after_three_refused_calls(tmp_path: Path) -> None:
    backend = CountingBackend(down=True)
    source = answers(AnswerOptions(concurrency=1), backend)
    errors = []
    for index in range(5):
        with pytest.raises(BackendError) as error:
            source.answer(f"n{index}", Request(spec(tmp_path), CHAT, 1, f"n{index}"))
        errors.append(error.value)
    source.close()
    assert [e.cause for e in errors] == ["refused"] * 3 + ["skipped"] * 2
    assert "the backend looks down" in str(errors[-1])
    assert backend.calls == 3


def test_prefetched_calls_are_made_once_and_in_the_background(tmp_path: Path) -> None:
    backend = CountingBackend()
    source = answers(AnswerOptions(), backend)
    requests = [
        (f"n{i}", Request(spec(tmp_path), ({"role": "user", "content": f"ticket {i}"},), 1, f"n{i}")) for i in range(6)
    ]
    source.prefetch(requests)
    texts = [source.answer(nodeid, request).completion.text for nodeid, request in requests]
    source.close()
    assert texts == ["billing"] * 6 and backend.calls == 6


def test_a_cached_prefetch_is_answered_without_a_thread_or_a_call(tmp_path: Path) -> None:
    """prefetch looks up stored answers itself, a batch in one query: a fully cached rerun starts no worker."""
    options = AnswerOptions(cache_dir=tmp_path / "cache")
    requests = [
        (f"n{i}", Request(spec(tmp_path), ({"role": "user", "content": f"ticket {i}"},), 1, f"n{i}")) for i in range(3)
    ]
    first = answers(options, CountingBackend())
    first.prefetch(requests)
    for nodeid, request in requests:
        first.answer(nodeid, request)
    first.close()
    backend = CountingBackend()
    second = answers(options, backend)
    before = {thread.name for thread in threading.enumerate()}
    second.prefetch([*requests, ("new", Request(spec(tmp_path), CHAT, 1, "new"))])
    cached = [second.answer(nodeid, request) for nodeid, request in requests]
    workers = {thread.name for thread in threading.enumerate()} - before
    assert all(answer.completion.cached for answer in cached)
    assert second.answer("new", Request(spec(tmp_path), CHAT, 1, "new")).completion.cached is False
    second.close()
    assert backend.calls == 1 and len(workers) == 1  # the one uncached request's worker
