"""The openai backend against a real OpenAI-compatible server on 127.0.0.1 (llama_cpp.server)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_server import free_port, llama_server

from pytest_llmgate.backends.base import BackendError
from pytest_llmgate.backends.openai import OpenAIBackend
from pytest_llmgate.backends.spec import BackendSpec

pytestmark = pytest.mark.slow

MESSAGES = [
    {"role": "system", "content": "Answer with one word: billing, technical or general."},
    {"role": "user", "content": "My invoice shows the wrong VAT number."},
]
PARAMS = {"temperature": 0, "max_tokens": 12, "seed": 0}
SECRET = "sk-llmgate-test-SECRET-0123456789"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama_cpp.server serving the embedded model on a free loopback port, for this module."""
    with llama_server(tmp_path_factory.mktemp("server")) as (url, _log):
        yield url


def server_usage(url: str) -> tuple[str, dict]:
    """The server's own answer and usage for MESSAGES, asked without the SDK.

    Call it before and after the request under test: both then run with the prompt already in
    the server's prefix cache, which keeps greedy decoding on the same path."""
    body = json.dumps({"model": "m", "messages": MESSAGES, **PARAMS}).encode()
    request = urllib.request.Request(f"{url}/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = json.load(response)
    return data["choices"][0]["message"]["content"], data["usage"]


def spec(url: str, **overrides) -> BackendSpec:
    values = dict(
        name="local-api",
        provider="openai",
        model="smollm2",
        config_path=Path("llmgate.yaml"),
        base_url=url,
        params=PARAMS,
        timeout_s=60.0,
        max_retries=0,
    )
    return BackendSpec(**{**values, **overrides})


def test_unstreamed_tokens_equal_the_servers_usage(server_url: str) -> None:
    server_usage(server_url)
    completion = OpenAIBackend(spec(server_url, stream=False)).complete(MESSAGES)
    text, usage = server_usage(server_url)
    assert completion.text == text
    assert (completion.prompt_tokens, completion.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert not completion.tokens_estimated
    assert completion.ttft_s == completion.latency_s


def test_streamed_answer_times_the_first_token(server_url: str) -> None:
    server_usage(server_url)
    completion = OpenAIBackend(spec(server_url)).complete(MESSAGES)
    text, usage = server_usage(server_url)
    assert completion.text == text
    assert 0 < completion.ttft_s <= completion.latency_s
    # llama_cpp.server sends no usage in a stream: the answer is counted with its tokenizer
    # (/extras/tokenize), exactly; the prompt (rendered by its chat template) is estimated, and flagged.
    assert completion.completion_tokens == usage["completion_tokens"]
    assert completion.tokens_estimated and completion.prompt_tokens > 0


def test_unreachable_server_is_a_backend_error() -> None:
    backend = OpenAIBackend(spec(f"http://127.0.0.1:{free_port()}/v1", timeout_s=5.0))
    with pytest.raises(BackendError, match=r"^backend 'local-api' \(127\.0\.0\.1:\d+\): connection refused$"):
        backend.complete(MESSAGES)


CONFIG = """
default_backend: local-api
thresholds:
  common: {accuracy: 0.0}
backends:
  local-api:
    provider: openai
    model: smollm2
    base_url: ${LLMGATE_TEST_URL}
    api_key_env: LLMGATE_TEST_KEY
    stream: false
    max_retries: 0
    system_prompt: "Answer with one word: billing, technical or general."
    params: {temperature: 0, max_tokens: 12, seed: 0}
    pricing: {input_per_mtok_usd: 0.15, output_per_mtok_usd: 0.60}
  down:
    provider: openai
    model: smollm2
    base_url: ${LLMGATE_DOWN_URL}
    max_retries: 0
    timeout_s: 5
"""

CASES = """
cases:
  - {id: vat, input: "My invoice shows the wrong VAT number.", expect: {label: billing}}
  - {id: crash, input: "The app crashes when I upload a file.", expect: {label: technical}}
"""


@pytest.fixture
def api_suite(pytester: pytest.Pytester, server_url: str, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("LLMGATE_TEST_URL", server_url)
    monkeypatch.setenv("LLMGATE_DOWN_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("LLMGATE_TEST_KEY", SECRET)
    pytester.makefile(".yaml", llmgate=CONFIG)
    pytester.makefile(".llm.yaml", common=CASES)
    return pytester


def test_plugin_through_the_server_prices_tokens_and_hides_the_key(api_suite: pytest.Pytester) -> None:
    result = api_suite.runpytest("--llm-report-json=r.json", "--junitxml=j.xml", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK  # accuracy 0.0 gate: misses alone pass
    rows = json.loads((api_suite.path / "r.json").read_text())["cases"]
    assert len(rows) == 2
    for row in rows:
        assert row["error"] is None and not row["tokens_estimated"]
        expected = (row["prompt_tokens"] * 0.15 + row["completion_tokens"] * 0.60) / 1e6
        assert row["cost_usd"] == pytest.approx(expected)
    everything = (
        result.stdout.str()
        + result.stderr.str()
        + (api_suite.path / "r.json").read_text()
        + (api_suite.path / "j.xml").read_text()
    )
    assert SECRET not in everything


def test_outage_is_an_error_never_a_miss(api_suite: pytest.Pytester) -> None:
    result = api_suite.runpytest("--llm-backend=down", "--llm-report-json=r.json", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*backend 'down' (127.0.0.1:*): connection refused*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    summary = json.loads((api_suite.path / "r.json").read_text())["summary"]
    assert [(s["n"], s["errors"], s["accuracy"]) for s in summary] == [(0, 2, None)]


DEFAULTS_CONFIG = """
default_backend: smollm2-api
thresholds:
  common: {accuracy: 0.0}
backends:
  smollm2-api:
    provider: openai
    model: smollm2
    base_url: ${LLMGATE_TEST_URL}
    system_prompt: "Answer with one word: billing, technical or general."
    params: {temperature: 0, max_tokens: 8, seed: 0}
"""
TOPICS = ("invoice", "refund", "login", "crash", "upload", "password", "VAT", "receipt", "timeout", "account")


def test_one_request_at_a_time_server_answers_every_case_at_the_default_settings(
    pytester: pytest.Pytester, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama_cpp.server interrupts the stream in progress when another request arrives: the default
    ceiling of 8 must come down to 1 by itself, every case answered, and the report must say so."""
    monkeypatch.setenv("LLMGATE_TEST_URL", server_url)
    pytester.makefile(".yaml", llmgate=DEFAULTS_CONFIG)
    cases = "\n".join(
        f'  - {{id: c{n}, input: "Question {n} about my {TOPICS[n % 10]}.", expect: {{label: billing}}}}'
        for n in range(30)
    )
    pytester.makefile(".llm.yaml", common=f"cases:\n{cases}\n")
    result = pytester.runpytest("--llm-report-json=r.json", "-p", "no:cacheprovider")
    report = json.loads((pytester.path / "r.json").read_text())
    assert [row["error"] for row in report["cases"]] == [None] * 30
    assert result.ret == pytest.ExitCode.OK
    lowered = [note for note in report["notes"] if note.startswith("smollm2-api: ")]
    assert len(lowered) == 1 and "interrupted streams at " in lowered[0] and "settled at 1 " in lowered[0]
    result.stdout.fnmatch_lines(["*smollm2-api: interrupted streams at * in flight; settled at 1 *"])
