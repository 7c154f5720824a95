"""The decision procedure, step by step, on hand-made comparisons and costs."""

from __future__ import annotations

import pytest

from pytest_llmgate.compare import ALL, PairedComparison
from pytest_llmgate.cost import CostProfile
from pytest_llmgate.decide import (FINE_TUNE, KEEP_PROMPTING, TRADE_OFF, UNDECIDED, Contender, DecisionPolicy,
                                   recommend)
from pytest_llmgate.stats import mcnemar_exact

POLICY = DecisionPolicy()  # 1,000/day, 5 points, p < 0.05, breakeven within 6 months


def comparison(won: int, lost: int, same: int = 100, category: str = ALL) -> PairedComparison:
    """'tuned' against 'prompt': ``won`` and ``lost`` discordant cases, ``same`` cases both right."""
    n = won + lost + same
    return PairedComparison("prompt", "tuned", category, n, (same + lost) / n, (same + won) / n,
                            tuple(f"w{i}" for i in range(won)), tuple(f"l{i}" for i in range(lost)),
                            mcnemar_exact(won, lost))


def contenders(tuned_per_request: float = 0.0001, one_time: float = 50.0) -> list[Contender]:
    # The prompted backend costs $0.0002 a request: at 10,000/day, $60 a month.
    return [Contender("prompt", "prompted", 0.8, CostProfile(0.0002)),
            Contender("tuned", "fine_tuned", 0.9, CostProfile(tuned_per_request, one_time_usd=one_time))]


def decide(comparisons: list[PairedComparison], volume: float | None = 10_000, **kwargs) -> object:
    return recommend(POLICY, contenders(**kwargs), comparisons, volume, horizon_months=12)


def test_needs_both_approaches() -> None:
    result = recommend(POLICY, [Contender("a", "prompted", 0.8, CostProfile(0.1))], [], 10_000, 12)
    assert result.verdict == UNDECIDED
    assert "needs a prompted and a fine_tuned backend" in result.reasons[0].text


def test_low_volume_keeps_prompting() -> None:
    result = decide([comparison(20, 0)], volume=500)
    assert result.verdict == KEEP_PROMPTING
    assert [r.step for r in result.reasons] == ["volume"]
    assert result.reasons[0].text.startswith("500 requests/day < 1,000/day")


def test_better_and_pays_back_fine_tunes() -> None:
    # Saves $0.0001 a request: 10,000 * 30 * 0.0001 = $30 a month; $50 pays back in 1.67 months.
    result = decide([comparison(20, 2), comparison(0, 0, 40, "edge")])
    assert result.verdict == FINE_TUNE
    assert [r.step for r in result.reasons] == ["volume", "quality", "cost"]
    assert "tuned is better than prompt" in result.reasons[1].text
    assert "+14.8 points" in result.reasons[1].text  # (20 - 2) / 122
    cost = result.reasons[2]
    assert cost.values["monthly_saving_usd"] == pytest.approx(30.0)
    assert cost.values["breakeven_months"] == pytest.approx(50 / 30)
    assert "breaks even in 1.67 months (within 6)" in cost.text


def test_better_but_dearer_is_a_trade_off() -> None:
    result = decide([comparison(20, 2)], tuned_per_request=0.0003)
    assert result.verdict == TRADE_OFF
    assert "saves nothing at this volume ($30.00/month more)" in result.reasons[-1].text


def test_small_or_insignificant_gain_needs_a_saving() -> None:
    not_significant = comparison(6, 2)  # p = 0.29
    assert decide([not_significant]).verdict == FINE_TUNE  # same quality, pays back in 1.67 months
    assert decide([not_significant], one_time=1000).verdict == KEEP_PROMPTING  # 33 months
    small = comparison(30, 10, same=500)  # significant, but 3.7 points
    result = decide([small], one_time=1000)
    assert result.verdict == KEEP_PROMPTING
    assert "no quality gain that counts (under 5 points)" in result.reasons[1].text


def test_significantly_worse_keeps_prompting() -> None:
    result = decide([comparison(1, 15)])
    assert result.verdict == KEEP_PROMPTING
    assert "tuned is worse than prompt" in result.reasons[-1].text


def test_worse_category_is_a_caution() -> None:
    result = decide([comparison(25, 5), comparison(0, 6, 30, "edge")])
    assert result.verdict == FINE_TUNE
    caution = next(r for r in result.reasons if r.step == "category")
    assert caution.text.startswith("caution: tuned is worse on edge: 0.83 vs 1.00 on 36 cases (-16.7 points")


def test_unknown_volume_is_undecided() -> None:
    result = decide([comparison(20, 2)], volume=None)
    assert result.verdict == UNDECIDED
    assert result.reasons[-1].step == "cost"


def test_policy_from_config() -> None:
    assert DecisionPolicy.from_mapping({"min_gain_points": 2, "max_breakeven_months": 12}).min_gain_points == 2
    with pytest.raises(ValueError, match="unknown decision key"):
        DecisionPolicy.from_mapping({"min_gain": 2})
    with pytest.raises(ValueError, match="'alpha' must be between 0 and 1"):
        DecisionPolicy.from_mapping({"alpha": 1.5})
