"""The analysis that feeds every report: pair orientation, cost projection, recommendation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_llmgate.backends.spec import Pricing
from pytest_llmgate.suite.terms import Threshold
from pytest_llmgate.verdict.analysis import BackendTerms, RunFacts, Terms, analyze
from pytest_llmgate.verdict.gate import GateTerms
from pytest_llmgate.verdict.rows import CaseRow


def rows_for(backend: str, right: int, wrong: int, cost: float) -> list[CaseRow]:
    return [
        CaseRow(
            id=f"case-{i}",
            file="common.llm.yaml",
            group=".",
            category="common",
            backend=backend,
            passed=i < right,
            format_ok=True,
            cost_usd=cost,
        )
        for i in range(right + wrong)
    ]


TERMS = Terms(
    backends={
        "a-tuned": BackendTerms("fine_tuned", Pricing(one_time_usd=60.0)),
        "b-prompted": BackendTerms("prompted", Pricing(per_month_usd=10.0)),
    },
    volume_per_day=10_000,
)


def test_prompted_backend_is_the_control_whatever_the_names() -> None:
    analysis = analyze(rows_for("a-tuned", 40, 0, 0.0001) + rows_for("b-prompted", 30, 10, 0.0003), RunFacts(), TERMS)
    overall = next(p for p in analysis.paired if p.category == "all")
    assert (overall.control, overall.challenger) == ("b-prompted", "a-tuned")
    assert (len(overall.won), len(overall.lost), overall.gain_points) == (10, 0, 25.0)


def test_cost_projection_and_breakeven() -> None:
    analysis = analyze(rows_for("a-tuned", 40, 0, 0.0001) + rows_for("b-prompted", 30, 10, 0.0003), RunFacts(), TERMS)
    costs = {c.backend: c for c in analysis.costs}
    # b: 10,000 * 30 * $0.0003 + $10 = $100 a month; a: 10,000 * 30 * $0.0001 = $30 a month.
    assert costs["b-prompted"].monthly_usd == pytest.approx(100.0)
    assert costs["a-tuned"].monthly_usd == pytest.approx(30.0)
    assert costs["b-prompted"].per_correct_usd == pytest.approx(0.0003 / 0.75)
    assert costs["a-tuned"].horizon_usd == pytest.approx(60 + 12 * 30)
    [pair] = analysis.pair_costs
    assert pair.breakeven.monthly_saving_usd == pytest.approx(70.0)
    assert pair.breakeven.months == pytest.approx(60 / 70)
    [recommendation] = analysis.recommendations
    assert (recommendation.group, recommendation.choice) == (".", "fine-tune")
    assert analysis.to_dict()["decision_policy"]["max_breakeven_months"] == 6.0


def test_backend_that_answered_nothing_has_no_cost() -> None:
    failed = [CaseRow(id="x", file="f", group=".", category="common", backend="a-tuned", status="error", error="down")]
    analysis = analyze(failed + rows_for("b-prompted", 1, 0, 0.001), RunFacts(), TERMS)
    costs = {c.backend: c for c in analysis.costs}
    assert costs["a-tuned"].per_request_usd is None and costs["a-tuned"].monthly_usd is None
    assert analysis.pair_costs == ()
    assert [r.choice for r in analysis.recommendations] == ["undecided"]


def test_groups_are_compared_and_decided_apart_never_pooled() -> None:
    # Routing: the fine-tune is far better. Extraction: it has no prompt for the task, every case skipped.
    routing = rows_for("a-tuned", 40, 0, 0.0001) + rows_for("b-prompted", 30, 10, 0.0003)
    extraction = [
        CaseRow(id=f"x{i}", file="x.llm.yaml", group="x.llm.yaml", category="common", backend=backend, **fields)
        for i in range(10)
        for backend, fields in (
            ("a-tuned", {"status": "skipped"}),
            ("b-prompted", {"passed": i < 2, "cost_usd": 0.0003}),
        )
    ]
    terms = Terms(
        gates={
            ".": GateTerms({"common": Threshold(accuracy=0.5)}),
            "x.llm.yaml": GateTerms({"common": Threshold(0.5)}),
        },
        backends=TERMS.backends,
        volume_per_day=10_000,
    )
    analysis = analyze(routing + extraction, RunFacts(), terms)
    assert {(s.group, s.category) for s in analysis.side_by_side} == {
        (".", "common"),
        (".", "all"),
        ("x.llm.yaml", "common"),
        ("x.llm.yaml", "all"),
    }
    routed = next(p for p in analysis.paired if (p.group, p.category) == (".", "all"))
    assert (routed.n, len(routed.won)) == (40, 10)  # the extraction cases are not in the routing comparison
    decisions = {r.group: r for r in analysis.recommendations}
    assert decisions["."].choice == "fine-tune"
    assert decisions["x.llm.yaml"].choice == "undecided"
    assert "graded answers on x.llm.yaml" in decisions["x.llm.yaml"].reasons[0].text
    skipped = next(g for g in analysis.gates if (g.stats.backend, g.group) == ("a-tuned", "x.llm.yaml"))
    assert skipped.status == "not measured"
    assert analysis.verdict.status == "incomplete"  # a gate with nothing measured is no pass


def test_attack_variants_of_few_tickets_are_not_many_independent_cases() -> None:
    # 4 tickets x 26 attacks: the fine-tune resists all, the prompted model none. As 104 independent
    # pairs McNemar's p would be 2 / 2^104; as 4 tickets, the sign-flip test gives 2 / 2^4 = 0.125.
    def attacks(backend: str, resisted: bool) -> list[CaseRow]:
        return [
            CaseRow(
                id=f"t{t}.a{a}",
                file="r.llm.yaml",
                group=".",
                category="adversarial",
                backend=backend,
                passed=resisted,
                source=f"t{t}",
                attack=f"a{a}",
            )
            for t in range(4)
            for a in range(26)
        ]

    analysis = analyze(attacks("a-tuned", True) + attacks("b-prompted", False), RunFacts(), TERMS)
    pair = next(p for p in analysis.paired if p.category == "adversarial")
    assert (pair.n, pair.clusters, pair.p_value) == (104, 4, 0.125)
    assert pair.evidence == "104 cases in 4 clusters"
    assert pair.ci_low_points < 50  # four tickets cannot pin a +100-point gain down
    quality = analysis.recommendations[0].reasons[1]
    assert "on 104 cases in 4 clusters" in quality.text and "sign-flip test over clusters p=0.125" in quality.text
    # Four tickets, every attack on each won: the evidence of four cases, which cannot rule out a drop.
    assert quality.text.startswith("undecided: too few cases: the difference is +100.0 points (95% CI -43.3..+100.0)")
    assert quality.values["cases_needed"] > 4 and "independent source cases would settle it" in quality.text


def test_cached_latencies_are_left_out_of_hourly_costs() -> None:
    hourly = Terms(
        backends={
            "a-tuned": BackendTerms("fine_tuned", Pricing(per_hour_usd=1.0)),
            "b-prompted": BackendTerms("prompted", Pricing(per_hour_usd=1.0)),
        },
        volume_per_day=10_000,
    )
    rows = rows_for("a-tuned", 40, 0, 0.0001) + rows_for("b-prompted", 30, 10, 0.0003)
    cached = [replace(r, cached=True) if r.backend == "b-prompted" else r for r in rows]
    analysis = analyze(cached, RunFacts(), hourly)
    costs = {c.backend: c for c in analysis.costs}
    assert (costs["b-prompted"].per_request_usd, costs["b-prompted"].cached_left_out) == (None, 40)
    [decision] = analysis.recommendations
    assert decision.choice == "undecided"
    assert decision.reasons[-1].text.startswith("cost not measured in this run: b-prompted is priced by the hour")
    asked = analyze(cached, RunFacts(), replace(hourly, cost_from_cache=True))
    assert {c.backend: c.priced for c in asked.costs} == {"a-tuned": 40, "b-prompted": 40}
