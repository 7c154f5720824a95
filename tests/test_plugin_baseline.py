"""The CI loop: a saved baseline, a regressed prompt caught case by case, and budget gates."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from faultserver import FaultServer

CONFIG = """
default_backend: api
thresholds:
  common: {accuracy: 0.0}
backends:
  api:
    provider: openai
    model: any
    base_url: %s
    max_retries: 0
    system_prompt: "Route the ticket (prompt v1)."
    params: {temperature: 0, max_tokens: 8}
    pricing: {input_per_mtok_usd: 1.0, output_per_mtok_usd: 2.0}
"""


def answer(messages: list[dict[str, str]]) -> str:
    """'billing', except for the first ten tickets under prompt v2."""
    number = int(messages[-1]["content"].split()[-1])
    return "general" if "v2" in messages[0]["content"] and number < 10 else "billing"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    with FaultServer(reply_to_chat=answer) as server:
        pytester.makefile(".yaml", llmgate=CONFIG % server.url)
        pytester.makefile(
            ".llm.yaml",
            common="cases:\n"
            + "".join(f"  - {{id: c{i:02d}, input: 'ticket {i}', expect: {{label: billing}}}}\n" for i in range(40)),
        )
        yield pytester


def use_prompt_v2(pytester: pytest.Pytester) -> None:
    config = pytester.path / "llmgate.yaml"
    config.write_text(config.read_text().replace("prompt v1", "prompt v2"))


def test_an_unchanged_run_passes_against_its_baseline(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--llm-save-baseline=base.json")
    result.stdout.fnmatch_lines(["llmgate: baseline written to *base.json"])
    result = suite.runpytest("--llm-baseline=base.json", "--llm-fail-on-regression")
    result.stdout.fnmatch_lines(["against the baseline *base.json:", "api*.*common*40*1.00*1.00*+0.0*0*0*1"])
    assert result.ret == pytest.ExitCode.OK


def test_a_regressed_prompt_lists_the_flips_and_fails(suite: pytest.Pytester) -> None:
    suite.runpytest("--llm-save-baseline=base.json")
    use_prompt_v2(suite)
    result = suite.runpytest(
        "--llm-baseline=base.json",
        "--llm-fail-on-regression=accuracy:2%",
        "--llm-report-json=r.json",
        "--llm-report-md=r.md",
    )
    result.stdout.fnmatch_lines(
        [
            "  baseline from another model or prompt for api (fingerprint *",
            "  regressed: common.llm.yaml::c00 [[]api[]]: 'billing' -> 'general'",
            "llmgate: GATE FAILED: api: . common accuracy 1.00 -> 0.75 (-25.0 points, 10 regressed / 0 fixed, McNemar p=0.002)*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    baseline = json.loads((suite.path / "r.json").read_text())["baseline"]
    assert baseline["counts"]["regressed"] == 10
    assert sorted(c["id"] for c in baseline["cases"] if c["kind"] == "regressed") == [f"c{i:02d}" for i in range(10)]
    markdown = (suite.path / "r.md").read_text()
    assert "### Changes since the baseline" in markdown and "common.llm.yaml::c09" in markdown


def test_without_the_flag_a_regression_is_reported_not_failed(suite: pytest.Pytester) -> None:
    suite.runpytest("--llm-save-baseline=base.json")
    use_prompt_v2(suite)
    result = suite.runpytest("--llm-baseline=base.json")
    result.stdout.fnmatch_lines(["  regressed: common.llm.yaml::c00*", "llmgate: all gates passed (*)"])
    assert result.ret == pytest.ExitCode.OK


def test_a_missing_baseline_is_a_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--llm-baseline=nowhere.json", "--llm-fail-on-regression")
    result.stderr.fnmatch_lines(["ERROR: *nowhere.json*--llm-save-baseline*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result = suite.runpytest("--llm-fail-on-regression=accuracy:two")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_budgets_fail_like_accuracy_and_skip_cached_timings(suite: pytest.Pytester) -> None:
    config = suite.path / "llmgate.yaml"
    config.write_text(
        config.read_text().replace("common: {accuracy: 0.0}", "common: {accuracy: 0.0, cost_per_request_usd: 0.000001}")
    )
    result = suite.runpytest()
    result.stdout.fnmatch_lines(["llmgate: GATE FAILED: api: . common cost per request * USD > 1e-06 USD"])
    config.write_text(
        config.read_text()
        .replace("    max_retries: 0\n", "    max_retries: 0\n    thresholds: {common: {latency_p95_ms: 0.001}}\n")
        .replace(", cost_per_request_usd: 0.000001", "")
    )
    result = suite.runpytest("--llm-refresh")
    result.stdout.fnmatch_lines(["llmgate: GATE FAILED: api: . common p95 latency * ms > 0.001 ms"])
    result = suite.runpytest()  # every answer cached: their latencies are not this run's
    result.stdout.fnmatch_lines(["llmgate: all gates passed (*)"])


def test_an_unknown_baseline_backend_is_refused_before_any_call(suite: pytest.Pytester) -> None:
    suite.runpytest("--llm-save-baseline=base.json")
    result = suite.runpytest("--llm-baseline=base.json", "--llm-baseline-backend=gpt-9")
    result.stderr.fnmatch_lines(
        ["ERROR: --llm-baseline-backend: the baseline *base.json has no backend 'gpt-9'; it has: api"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
