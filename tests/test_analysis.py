"""The analysis that feeds every report: pair orientation, cost projection, recommendation."""

from __future__ import annotations

import pytest

from pytest_llmgate.backends.spec import Pricing
from pytest_llmgate.verdict.analysis import BackendTerms, RunFacts, Terms, analyze
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
    assert analysis.recommendation.choice == "fine-tune"
    assert analysis.to_dict()["recommendation"]["policy"]["max_breakeven_months"] == 6.0


def test_backend_that_answered_nothing_has_no_cost() -> None:
    failed = [CaseRow(id="x", file="f", group=".", category="common", backend="a-tuned", status="error", error="down")]
    analysis = analyze(failed + rows_for("b-prompted", 1, 0, 0.001), RunFacts(), TERMS)
    costs = {c.backend: c for c in analysis.costs}
    assert costs["a-tuned"].per_request_usd is None and costs["a-tuned"].monthly_usd is None
    assert analysis.pair_costs == ()
    assert analysis.recommendation.choice == "undecided"
