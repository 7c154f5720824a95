"""Dynamic few-shot (few_shot: {pool: FILE, k, by}): selection, leaks, config errors, and a hybrid end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultserver import FaultServer

from pytest_llmgate.answers.embeddings import Embeddings
from pytest_llmgate.answers.fewshot import FewShotSelector, check_leaks, lexical_scores, nearest, normalised
from pytest_llmgate.answers.source import AnswerOptions
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.config import load_config

POOL = [
    {"input": "I was charged twice for my invoice this month", "output": "billing"},
    {"input": "The app crashes when I upload a photo", "output": "technical"},
    {"input": "Please add a dark mode to the dashboard", "output": "feature_request"},
    {"input": "I cannot log in, my password reset link expired", "output": "account_access"},
    {"input": "Refund the duplicate charge on my card", "output": "billing"},
]


def write_suite(folder: Path, by: str = "lexical", k: int = 2, pool: list[dict] | None = None) -> Path:
    lines = "".join(json.dumps(example) + "\n" for example in POOL if pool is None) + "".join(
        json.dumps(example) + "\n" for example in pool or []
    )
    (folder / "pool.jsonl").write_text(lines)
    config = folder / "llmgate.yaml"
    config.write_text(
        "backends:\n"
        "  h:\n"
        "    provider: fake\n"
        "    model: m\n"
        "    approach: hybrid\n"
        "    system_prompt: Route the ticket.\n"
        f"    few_shot: {{pool: pool.jsonl, k: {k}, by: {by}}}\n"
    )
    return config


def test_lexical_selection_is_nearest_first_and_deterministic(tmp_path: Path) -> None:
    suite = load_config(write_suite(tmp_path))
    pool = suite.backend("h").prompt.pool
    assert pool is not None and pool.k == 2 and pool.by == "lexical" and pool.examples[1][2] == 2
    selector = FewShotSelector(Embeddings(AnswerOptions(cache_mode="off")))
    chosen = selector.select(suite, pool, "Why is there a duplicate charge on my invoice?")
    assert [output for _, output in chosen] == ["billing", "billing"]
    assert chosen[0][0] == POOL[4]["input"]  # 'duplicate charge' outweighs 'invoice' alone
    again = FewShotSelector(Embeddings(AnswerOptions(cache_mode="off")))
    assert again.select(suite, pool, "Why is there a duplicate charge on my invoice?") == chosen


def test_ties_go_to_the_earlier_example() -> None:
    assert nearest([1.0, 2.0, 2.0, 0.5], 3) == [1, 2, 0]
    assert lexical_scores("nothing shared", ["a b", "c d"]) == [0.0, 0.0]
    assert normalised("  Hello,   WORLD!! ") == "hello world"


@pytest.mark.slow
def test_similarity_uses_the_suites_embedder(tmp_path: Path) -> None:
    suite = load_config(write_suite(tmp_path, by="similarity", k=1))
    pool = suite.backend("h").prompt.pool
    assert pool is not None
    embeddings = Embeddings(AnswerOptions(cache_mode="off"))
    try:
        chosen = FewShotSelector(embeddings).select(suite, pool, "my login does not work, I am locked out")
        assert embeddings.computed == len(POOL) + 1  # the pool and the query, each once
        again = FewShotSelector(embeddings).select(suite, pool, "my login does not work, I am locked out")
    finally:
        embeddings.close()
    assert chosen == again == ((POOL[3]["input"], "account_access"),)  # no word shared: only meaning ranks it


def test_no_embedder_falls_back_to_lexical_with_a_warning(tmp_path: Path) -> None:
    suite = load_config(write_suite(tmp_path, by="similarity", k=1))
    pool = suite.backend("h").prompt.pool
    assert pool is not None

    def unavailable(_suite: object) -> None:
        raise SpecError(suite.path, 1, "'similar' checks: package missing")

    selector = FewShotSelector(Embeddings(AnswerOptions(cache_mode="off"), make=unavailable))  # type: ignore[arg-type]
    with pytest.warns(UserWarning, match="ranking lexically"):
        chosen = selector.select(suite, pool, "the app crashes on upload")
    assert chosen == ((POOL[1]["input"], "technical"),)


def test_a_leaked_case_is_a_load_error_naming_both_files(tmp_path: Path) -> None:
    suite = load_config(write_suite(tmp_path))
    cases = tmp_path / "common.llm.yaml"
    cases.write_text(
        "cases:\n"
        "  - {id: fine, input: 'my screen is blank', expect: {label: technical}}\n"
        "  - {id: leak, input: 'please add a DARK mode to the dashboard!', expect: {label: feature_request}}\n"
    )
    pool = suite.backend("h").prompt.pool
    assert pool is not None
    with pytest.raises(SpecError) as raised:
        check_leaks(pool, load_case_file(cases).cases, "common.llm.yaml")
    assert str(raised.value).startswith(f"{tmp_path / 'pool.jsonl'}:3: ")
    assert "leaks case 'leak' (common.llm.yaml:3)" in str(raised.value)


@pytest.mark.parametrize(
    ("few_shot", "pool_text", "message"),
    [
        ("{pool: pool.jsonl, k: 0}", None, "llmgate.yaml:7: few_shot 'k' must be a whole number from 1 to 64, got 0"),
        ("{pool: pool.jsonl, by: bm25}", None, "llmgate.yaml:7: few_shot 'by' must be one of similarity, lexical"),
        ("{pool: nowhere.jsonl}", None, "llmgate.yaml:7: 'few_shot pool' file not found"),
        ("{pool: pool.jsonl, size: 3}", None, "unknown key in 'few_shot' 'size'"),
        ("{pool: pool.jsonl}", '{"input": "a", "output": "b"}\n{"input": "a"}\n', "pool.jsonl:2: each few-shot pool"),
        ("{pool: pool.jsonl}", '{"input": "a", "output": "b"}\nnot json\n', "pool.jsonl:2: few-shot pool: not a JSON"),
        ("{pool: pool.yaml}", "- {input: a, output: b}\n- {input: c, output: 3}\n", "pool.yaml:2: each few-shot pool"),
    ],
)
def test_config_errors_name_file_and_line(tmp_path: Path, few_shot: str, pool_text: str | None, message: str) -> None:
    config = write_suite(tmp_path)
    if pool_text is not None:
        (tmp_path / few_shot.split()[1].rstrip("},")).write_text(pool_text)
    config.write_text(config.read_text().replace("{pool: pool.jsonl, k: 2, by: lexical}", few_shot))
    with pytest.raises(SpecError) as raised:
        load_config(config)
    assert message in str(raised.value)


HYBRID_CONFIG = """
volume: 20000/day
decision: {min_gain_points: 5}
thresholds:
  common: {accuracy: 0.0}
backends:
  prompt:
    provider: openai
    model: any
    base_url: %(url)s
    max_retries: 0
    system_prompt: "Route the ticket (long prompt)."
    params: {temperature: 0, max_tokens: 8}
    pricing: {input_per_mtok_usd: 1.0, output_per_mtok_usd: 2.0}
  tuned:
    provider: openai
    approach: fine_tuned
    model: tuned
    base_url: %(url)s
    max_retries: 0
    system_prompt: "Route."
    params: {temperature: 0, max_tokens: 8}
    pricing: {input_per_mtok_usd: 0.5, output_per_mtok_usd: 1.0, one_time_usd: 1.0}
  hybrid:
    provider: openai
    approach: hybrid
    model: tuned
    base_url: %(url)s
    max_retries: 0
    system_prompt: "Route."
    few_shot: {pool: pool.jsonl, k: 1, by: lexical}
    params: {temperature: 0, max_tokens: 8}
    pricing: {input_per_mtok_usd: 0.5, output_per_mtok_usd: 1.0, one_time_usd: 1.0}
"""


def route(messages: list[dict[str, str]]) -> str:
    """A router right with an example turn before the case; without one, right on 3 in 4 cases as the fine-tune
    (its short prompt) and on 1 in 2 as the prompted model."""
    number = int(messages[-1]["content"].split()[-1])
    if len(messages) > 2:
        return messages[2]["content"]  # the example's answer: the pool's nearest ticket has the case's label
    right = number % 4 != 3 if messages[0]["content"] == "Route." else number % 2 == 0
    return "billing" if right else "general"


@pytest.fixture
def hybrid_suite(pytester: pytest.Pytester) -> Iterator[tuple[pytest.Pytester, list[list[dict[str, str]]]]]:
    chats: list[list[dict[str, str]]] = []

    def recording(messages: list[dict[str, str]]) -> str:
        chats.append(messages)
        return route(messages)

    with FaultServer(reply_to_chat=recording) as server:
        pytester.makefile(".yaml", llmgate=HYBRID_CONFIG % {"url": server.url})
        (pytester.path / "pool.jsonl").write_text(
            json.dumps({"input": "charged for a refund twice", "output": "billing"}) + "\n"
        )
        pytester.makefile(
            ".llm.yaml",
            common="cases:\n"
            + "".join(
                f"  - {{id: c{i:02d}, input: 'refund ticket {i}', expect: {{label: billing}}}}\n" for i in range(60)
            ),
        )
        yield pytester, chats


def test_hybrid_sends_the_examples_and_the_decision_weighs_three(
    hybrid_suite: tuple[pytest.Pytester, list[list[dict[str, str]]]],
) -> None:
    pytester, chats = hybrid_suite
    result = pytester.runpytest(
        "--llm-backend=prompt", "--llm-backend=tuned", "--llm-backend=hybrid", "--llm-report-json=out.json"
    )
    hybrid_chats = [chat for chat in chats if len(chat) == 4]
    assert len(hybrid_chats) == 60
    assert hybrid_chats[0][:3] == [
        {"role": "system", "content": "Route."},
        {"role": "user", "content": "charged for a refund twice"},
        {"role": "assistant", "content": "billing"},
    ]
    assert all(len(chat) == 2 for chat in chats if chat not in hybrid_chats)
    report = json.loads((pytester.path / "out.json").read_text())
    (decision,) = report["recommendations"]
    assert (decision["prompted"], decision["fine_tuned"], decision["hybrid"]) == ("prompt", "tuned", "hybrid")
    assert decision["choice"] == "hybrid"
    assert decision["reasons"][-1]["step"] == "three-way"
    assert "hybrid is better than tuned" in decision["reasons"][-1]["text"]
    result.stdout.fnmatch_lines(["*recommendation, *: HYBRID (hybrid vs tuned vs prompt)*"])


def test_a_leaking_pool_stops_collection_with_both_places(
    hybrid_suite: tuple[pytest.Pytester, list[list[dict[str, str]]]],
) -> None:
    pytester, chats = hybrid_suite
    (pytester.path / "pool.jsonl").write_text(json.dumps({"input": "Refund ticket 7", "output": "billing"}) + "\n")
    result = pytester.runpytest("--llm-backend=hybrid")
    result.stdout.fnmatch_lines(["*pool.jsonl:1: few-shot pool example leaks case 'c07' (common.llm.yaml:9)*"])
    assert chats == [] and result.ret != pytest.ExitCode.OK
