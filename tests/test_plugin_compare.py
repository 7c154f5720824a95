"""Two fake backends side by side: terminal comparison, volume, and the JSON, Markdown and HTML reports."""

from __future__ import annotations

import json
import re

import pytest

from pytest_llmgate.backends.spec import Pricing
from pytest_llmgate.report.markdown import FAILURE_ROWS, markdown_report
from pytest_llmgate.verdict.analysis import BackendTerms, RunFacts, Terms, analyze
from pytest_llmgate.verdict.rows import CaseRow

BOTH = ("--llm-backend=prompt", "--llm-backend=tuned")


def test_compact_summary_compares_and_recommends(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest(*BOTH)
    result.stdout.fnmatch_lines(
        [
            "prompt*common*3*0.67*PASS",
            "tuned*common*3*1.00*PASS",
            "warning: . common: 3 cases against the accuracy threshold of 0.50*(needs >= 30 cases)",
            "paired comparison on the same cases:",
            "tuned vs prompt*.*all*3*3*1.00*0.67*+33.3*-41.5..+79.2*1*0*1",
            "cost at 20,000 requests/day over 12 months:",
            "*prompt*prompted*0.67*",
            "*tuned*fine_tuned*1.00*$5.00*",
            "tuned vs prompt*.*$0.80*-$0.87..$2.47*$5.00*6.25*10,417/day",
            "recommendation, .: KEEP PROMPTING (tuned vs prompt): keep the prompted backend",
            "  1. volume: 20,000 requests/day >= 1,000/day",
            "  2. quality: same quality: no quality gain that counts (not significant)*rules out a drop of 50 points: tuned 1.00 vs 0.67 on 3 cases*McNemar p=1)",
            "  3. cost: no clear difference in cost: tuned saves $0.80/month (95% CI -$0.87..$2.47), an interval that spans zero",
            "llmgate: all gates passed (*)",
        ]
    )
    result.stdout.no_fnmatch_line("classification, *")  # per-label detail only with -v
    assert result.ret == pytest.ExitCode.OK  # advice never changes the exit status


def test_verbose_summary_has_categories_cases_and_confusion(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest(*BOTH, "--llm-verbose-report")
    result.stdout.fnmatch_lines(
        [
            "side by side, per gate group:",
            "group*category*backend*graded*clusters*accuracy*95% CI*format*tok in*tok out*fresh*p50 ms*p95 ms*ttft p50*ttft p95*$/1k req",
            "*common*prompt*3*3*0.67*0.21-0.94*1.00*",
            "*all*tuned*3*3*1.00*0.44-1.00*1.00*20*20*10*10*",
            "classification, prompt:",
            "billing*1*0.50*1.00*0.67",
            "feature_request*1*-*0.00*-",
            "expected \\ predicted*billing*feature_request*technical",
            "feature_request*1*0*0",
            "tuned vs prompt*common*3*",
            "tuned vs prompt (. common) won: dark-mode",
        ]
    )


def test_one_backend_summary_stays_compact(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest("--llm-backend=prompt")
    result.stdout.fnmatch_lines(["prompt*common*3*0.67*PASS", "llmgate: all gates passed (*)"])
    for absent in ("paired comparison*", "recommendation:*", "warning:*", "cost at*"):
        result.stdout.no_fnmatch_line(absent)


def test_volume_option_overrides_the_config(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest(*BOTH, "--llm-volume=600/day")
    result.stdout.fnmatch_lines(
        [
            "cost at 600 requests/day over 12 months:",
            "recommendation, .: KEEP PROMPTING*",
            "  1. volume: 600 requests/day < 1,000/day: too few requests for a fine-tune to repay its upkeep",
        ]
    )


def test_bad_volume_is_a_usage_error(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest(*BOTH, "--llm-volume=lots")
    result.stderr.fnmatch_lines(
        ["*--llm-volume: volume must look like 90000/day, 3000000/month or 500/hour, got 'lots'"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_fine_tune_when_it_pays_back(compare_suite: pytest.Pytester) -> None:
    # One win on three cases proves nothing, but the prompted backend also costs $50 a month to run:
    # a saving of about $51 a month, clear of its interval, repays the fine-tune's $5 in days.
    config = compare_suite.path / "llmgate.yaml"
    config.write_text(
        config.read_text().replace(
            "pricing: {input_per_mtok_usd: 1.0, output_per_mtok_usd: 2.0}",
            "pricing: {input_per_mtok_usd: 1.0, output_per_mtok_usd: 2.0, per_month_usd: 50}",
        )
    )
    result = compare_suite.runpytest(*BOTH, "--llm-report-json=r.json")
    data = json.loads((compare_suite.path / "r.json").read_text())
    [pair] = data["cost"]["pairs"]
    money = pair["breakeven"]
    saving, months, low = money["monthly_saving_usd"], money["months"], money["months_at_low"]
    assert money["saving_low_usd"] > 0  # a clear saving: the interval excludes zero
    assert data["recommendations"][0]["choice"] == "fine-tune"
    result.stdout.fnmatch_lines(
        [
            "recommendation, .: FINE-TUNE (tuned vs prompt): the fine-tuned backend is worth it",
            "  2. quality: same quality*: tuned 1.00 vs 0.67 on 3 cases*",
            f"  3. cost: tuned saves ${saving:,.2f}/month (95% CI *): a one-time cost of $5.00 breaks even in "
            f"{months:.2f} months (at most {low:.2f} at the interval's low end) (within 6)",
        ]
    )


def test_json_holds_every_printed_number(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest(*BOTH, "--llm-report-json=r.json")
    data = json.loads((compare_suite.path / "r.json").read_text())
    stats = {(s["category"], s["backend"]): s for s in data["comparison"]["categories"]}
    assert stats[("all", "tuned")]["accuracy"] == 1.0 and stats[("all", "prompt")]["passed"] == 2
    overall = next(p for p in data["comparison"]["paired"] if p["category"] == "all")
    assert (overall["control"], overall["challenger"], overall["won"], overall["lost"]) == (
        "prompt",
        "tuned",
        ["dark-mode"],
        [],
    )
    assert overall["p_value"] == 1.0 and overall["gain_points"] == pytest.approx(100 / 3)
    [prompt_matrix, _] = data["comparison"]["classification"]
    assert prompt_matrix["labels"] == ["billing", "feature_request", "technical"]
    costs = {c["backend"]: c for c in data["cost"]["backends"]}
    rows = [r for r in data["cases"] if r["backend"] == "prompt"]
    per_request = sum(r["cost_usd"] for r in rows) / len(rows)
    assert costs["prompt"]["per_request_usd"] == pytest.approx(per_request)
    assert costs["prompt"]["monthly_usd"] == pytest.approx(per_request * 20_000 * 30)
    assert costs["tuned"]["one_time_usd"] == 5.0 and costs["tuned"]["approach"] == "fine_tuned"
    assert data["cost"]["volume_per_day"] == 20_000 and data["cost"]["horizon_months"] == 12
    [recommendation] = data["recommendations"]
    assert recommendation["group"] == "." and data["decision_policy"]["min_daily_volume"] == 1000
    cost_reason = recommendation["reasons"][-1]
    assert cost_reason["values"]["monthly_saving_usd"] == data["cost"]["pairs"][0]["breakeven"]["monthly_saving_usd"]
    assert data["warnings"] == [w.removeprefix("warning: ") for w in result.outlines if w.startswith("warning: ")]
    for reason in recommendation["reasons"]:
        assert any(line.endswith(reason["text"]) for line in result.outlines)


def test_markdown_report(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest(*BOTH, "--llm-report-md=out/report.md")
    result.stdout.fnmatch_lines(["llmgate: Markdown report written to *report.md"])
    text = (compare_suite.path / "out" / "report.md").read_text()
    assert text.startswith(
        "## llmgate report\n\n**Gates:** passed (6 answered)\n\n"
        "**Recommendation, .: KEEP PROMPTING (tuned vs prompt): keep the prompted backend**"
    )
    assert "| group | category | backend | graded | clusters | accuracy | 95% CI |" in text
    assert "|:---|---:|" in text
    assert "| tuned vs prompt | . | all | 3 | 3 | 1.00 | 0.67 | +33.3 | -41.5..+79.2 | 1 | 0 | 1 |" in text
    assert "- tuned vs prompt (. all) won: dark-mode" in text
    assert "<details><summary>Classification: tuned</summary>" in text
    # the miss as a row of the failures table, in the columns of the HTML report's case table
    assert "### Failures (1)\n\n| case | backend | category | status | input | output | failed checks |" in text
    assert "| common.llm.yaml::dark-mode | prompt | common | FAIL | Please add dark mode | billing | label: " in text


def _rows(backend: str, right: int, cost: float, cases: int = 60) -> list[CaseRow]:
    return [
        CaseRow(
            id=f"case-{i}",
            file="common.llm.yaml",
            group=".",
            category="common",
            backend=backend,
            input=f"ticket {i}\nsecond line",
            output="billing" if i < right else "general",
            passed=i < right,
            format_ok=True,
            cost_usd=cost,
            checks=[] if i < right else [{"name": "label", "kind": "correctness", "passed": False, "detail": "no"}],
        )
        for i in range(cases)
    ]


def test_markdown_report_has_the_three_way_decision_notes_and_failures() -> None:
    """Prompted, fine-tuned and hybrid: the hybrid right on every case, the fine-tune on half, prompting on a
    third; the run lowered a backend's concurrency. The Markdown shows what the terminal and the HTML do."""
    terms = Terms(
        backends={
            "a-tuned": BackendTerms("fine_tuned", Pricing(one_time_usd=60.0)),
            "b-prompted": BackendTerms("prompted", Pricing()),
            "c-hybrid": BackendTerms("hybrid", Pricing(one_time_usd=60.0)),
        },
        volume_per_day=10_000,
    )
    rows = _rows("a-tuned", 30, 0.0001) + _rows("b-prompted", 20, 0.0003) + _rows("c-hybrid", 60, 0.00015)
    note = "a-tuned: HTTP 429 (rate limited) at 8 calls at once; settled at 4"
    analysis = analyze(rows, RunFacts(concurrency_notes=(note,)), terms)
    (decision,) = analysis.recommendations
    assert decision.choice == "hybrid"  # the analysis decides; the report shows it
    text = markdown_report(analysis)
    assert (
        "**Recommendation, .: HYBRID (c-hybrid vs a-tuned vs b-prompted): the hybrid backend (fine-tune, short "
        "prompt, per-case few-shot) is worth it**"
    ) in text
    assert "**three-way**: c-hybrid is better than a-tuned: 1.00 vs 0.50 on 60 cases" in text
    assert "| c-hybrid vs b-prompted | . |" in text and "| a-tuned vs b-prompted | . |" in text  # breakeven
    assert "### Notes\n\n" in text and f"- {note}" in text
    misses = 30 + 40
    assert f"### Failures ({misses})" in text
    failures = text.split(f"### Failures ({misses})")[1].split("###")[0]
    assert failures.count("| FAIL |") == FAILURE_ROWS
    assert f"... and {misses - FAILURE_ROWS} more" in failures
    assert "| ticket 30 second line |" in failures  # a line break would end the table row


def test_html_report_is_one_self_contained_file(compare_suite: pytest.Pytester) -> None:
    result = compare_suite.runpytest(*BOTH, "--llm-report-html=report.html")
    result.stdout.fnmatch_lines(["llmgate: HTML report written to *report.html"])
    page = (compare_suite.path / "report.html").read_text()
    assert not re.search(r"<script[^>]+src=|<link ", page)  # nothing to fetch: plotly.js is inline
    assert len(page) > 1_000_000
    for chart in ("llmgate-accuracy", "llmgate-cost", "llmgate-latency"):
        assert f'id="{chart}"' in page
    assert "Recommendation, .: KEEP PROMPTING (tuned vs prompt)" in page


def test_xdist_controller_reads_pricing_and_approach(compare_suite: pytest.Pytester) -> None:
    serial = compare_suite.runpytest(*BOTH, "--llm-cache=off", "--llm-report-json=serial.json")
    parallel = compare_suite.runpytest_subprocess(
        *BOTH, "--llm-cache=off", "-n", "2", "--llm-report-json=parallel.json"
    )
    assert parallel.ret == serial.ret == pytest.ExitCode.OK
    load = lambda name: json.loads((compare_suite.path / name).read_text())  # noqa: E731
    for section in ("comparison", "cost", "recommendations"):
        assert load("parallel.json")[section] == load("serial.json")[section]
    assert load("parallel.json")["cost"]["backends"][1]["approach"] == "fine_tuned"
