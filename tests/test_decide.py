"""The decision procedure, step by step, on hand-made comparisons and costs."""

from __future__ import annotations

import pytest

from pytest_llmgate.suite.terms import DecisionPolicy
from pytest_llmgate.verdict.compare import ALL, PairedComparison
from pytest_llmgate.verdict.cost import CostProfile, breakeven
from pytest_llmgate.verdict.decide import FINE_TUNE, KEEP_PROMPTING, TRADE_OFF, UNDECIDED, Contender, recommend
from pytest_llmgate.verdict.stats import mcnemar_exact, paired_difference_interval

POLICY = DecisionPolicy()  # 1,000/day, 5 points, p < 0.05, breakeven within 6 months


def comparison(won: int, lost: int, same: int = 100, category: str = ALL, both_wrong: int = 0) -> PairedComparison:
    """'tuned' against 'prompt': ``won`` and ``lost`` discordant cases, ``same`` cases both right."""
    n = won + lost + same + both_wrong
    low, high = paired_difference_interval(won, lost, n)
    return PairedComparison(
        "prompt",
        "tuned",
        category,
        n,
        (same + lost) / n,
        (same + won) / n,
        tuple(f"w{i}" for i in range(won)),
        tuple(f"l{i}" for i in range(lost)),
        mcnemar_exact(won, lost),
        clusters=n,
        effective_n=n,
        ci_low_points=low,
        ci_high_points=high,
    )


def contenders(tuned_per_request: float = 0.0001, one_time: float = 50.0) -> list[Contender]:
    # The prompted backend costs $0.0002 a request: at 10,000/day, $60 a month.
    return [
        Contender("prompt", "prompted", 0.8, CostProfile(0.0002)),
        Contender("tuned", "fine_tuned", 0.9, CostProfile(tuned_per_request, one_time_usd=one_time)),
    ]


def costs(backends: list[Contender], volume: float | None) -> dict:
    """The breakeven of the tuned/prompt pair, as the analysis computes it once for the procedure."""
    prompt, tuned = backends
    assert prompt.cost is not None and tuned.cost is not None
    return {("tuned", "prompt"): breakeven(tuned.cost, prompt.cost, volume, 12)}


def decide(
    comparisons: list[PairedComparison], volume: float | None = 10_000, policy: DecisionPolicy = POLICY, **kwargs
) -> object:
    backends = contenders(**kwargs)
    return recommend(policy, backends, comparisons, costs(backends, volume), volume)


def test_needs_both_approaches() -> None:
    result = recommend(POLICY, [Contender("a", "prompted", 0.8, CostProfile(0.1))], [], {}, 10_000)
    assert result.choice == UNDECIDED
    assert "needs a prompted and a fine_tuned backend" in result.reasons[0].text


def test_low_volume_keeps_prompting() -> None:
    result = decide([comparison(20, 0)], volume=500)
    assert result.choice == KEEP_PROMPTING
    assert [r.step for r in result.reasons] == ["volume"]
    assert result.reasons[0].text.startswith("500 requests/day < 1,000/day")


def test_better_and_pays_back_fine_tunes() -> None:
    # Saves $0.0001 a request: 10,000 * 30 * 0.0001 = $30 a month; $50 pays back in 1.67 months.
    result = decide([comparison(20, 2), comparison(0, 0, 40, "edge")])
    assert result.choice == FINE_TUNE
    assert [r.step for r in result.reasons] == ["volume", "quality", "cost"]
    assert "tuned is better than prompt" in result.reasons[1].text
    assert "+14.8 points" in result.reasons[1].text  # (20 - 2) / 122
    cost = result.reasons[2]
    assert cost.values["monthly_saving_usd"] == pytest.approx(30.0)
    assert cost.values["breakeven_months"] == pytest.approx(50 / 30)
    assert "breaks even in 1.67 months (at most 1.67 at the interval's low end) (within 6)" in cost.text


def test_better_but_dearer_is_a_trade_off() -> None:
    result = decide([comparison(20, 2)], tuned_per_request=0.0003)
    assert result.choice == TRADE_OFF
    assert "saves nothing at this volume ($30.00/month more; 95% CI" in result.reasons[-1].text


def test_same_quality_needs_a_saving() -> None:
    # 6 won, 2 lost of 108: p = 0.29, +3.7 points, 95% CI -1.8..+10.1 rules out a 5-point drop.
    not_significant = comparison(6, 2)
    result = decide([not_significant])
    assert result.choice == FINE_TUNE  # same quality, pays back in 1.67 months
    quality = result.reasons[1]
    assert quality.text.startswith(
        "same quality: no quality gain that counts (not significant), and the difference, "
        "+3.7 points (95% CI -1.8..+10.1), rules out a drop of 5 points: tuned 0.98 vs 0.94"
    )
    assert (quality.values["ci_low_points"], quality.values["ci_high_points"]) == (
        pytest.approx(-1.77, abs=0.01),
        pytest.approx(10.05, abs=0.01),
    )
    assert decide([not_significant], one_time=1000).choice == KEEP_PROMPTING  # 33 months
    small = comparison(30, 10, same=500)  # significant, but 3.7 points
    result = decide([small], one_time=1000)
    assert result.choice == KEEP_PROMPTING
    assert "no quality gain that counts (under 5 points)" in result.reasons[1].text


def test_a_tie_on_enough_cases_is_the_same_quality() -> None:
    # 10 won and 10 lost of 400: 95% CI -2.4..+2.4 points, inside the 5-point margin.
    result = decide([comparison(10, 10, same=380)])
    assert result.choice == FINE_TUNE
    assert "(95% CI -2.4..+2.4), rules out a drop of 5 points" in result.reasons[1].text


@pytest.mark.parametrize("won, lost, same, p_value", [(0, 5, 4, 0.0625), (1, 6, 3, 0.125)])
def test_an_insignificant_drop_on_few_cases_is_not_the_same_quality(
    won: int, lost: int, same: int, p_value: float
) -> None:
    # The measured bug: a fine-tune at 0.40 against a prompted 0.90 on 10 cases was called "the
    # same quality for less" because McNemar's p was over 0.05, and recommended for its saving.
    overall = comparison(won, lost, same, both_wrong=10 - won - lost - same)
    assert (overall.challenger_accuracy, overall.control_accuracy, overall.p_value) == (0.4, 0.9, p_value)
    result = decide([overall])
    assert result.choice == UNDECIDED
    assert [r.step for r in result.reasons] == ["volume", "quality"]  # cost never gets a say
    quality = result.reasons[1]
    low, high, needed = (
        quality.values["ci_low_points"],
        quality.values["ci_high_points"],
        quality.values["cases_needed"],
    )
    assert low < -5 and needed > 10
    assert quality.text.startswith(
        f"undecided: too few cases: the difference is -50.0 points (95% CI {low:+.1f}..{high:+.1f}); "
        f"about {needed} paired cases would settle it"
    )
    assert quality.text.endswith(f"on 10 cases (-50.0 points; won {won}, lost {lost}; McNemar p={p_value:g})")


def test_the_bug_case_in_numbers() -> None:
    # 0 won, 5 lost of 10: Tango's 95% interval is -76.3..-8.4 points. At the same rates 11 cases
    # round to 0 won and 6 lost, where McNemar's p = 2 / 2^6 = 0.031 shows the drop.
    quality = decide([comparison(0, 5, 4, both_wrong=1)]).reasons[1]
    assert quality.values["ci_low_points"] == pytest.approx(-76.34, abs=0.01)
    assert quality.values["ci_high_points"] == pytest.approx(-8.37, abs=0.01)
    assert quality.values["cases_needed"] == 11


def test_agreement_on_few_cases_is_undecided() -> None:
    # 10 cases both got right: the 95% interval is +-1.96^2 / (10 + 1.96^2) = +-27.8 points, and it
    # excludes a 5-point drop only from 1.96^2 * 19 = 72.99, so 73 cases.
    result = decide([comparison(0, 0, same=10)])
    assert result.choice == UNDECIDED
    assert (
        "the difference is +0.0 points (95% CI -27.8..+27.8); about 73 paired cases would settle it"
        in result.reasons[-1].text
    )
    assert result.reasons[-1].values["cases_needed"] == 73


def test_an_insignificant_gain_on_few_cases_is_undecided() -> None:
    # +40 points on 10 cases (5 won, 1 lost, p = 0.22): the interval reaches -8.7 points.
    result = decide([comparison(5, 1, same=4)])
    assert result.choice == UNDECIDED
    assert result.reasons[-1].values["ci_low_points"] < -5


def test_a_wider_margin_accepts_the_same_interval() -> None:
    result = decide([comparison(5, 1, same=4)], policy=DecisionPolicy(min_gain_points=10))
    assert result.choice == FINE_TUNE  # -8.7 points is inside a 10-point margin, and it pays back


def test_significantly_worse_keeps_prompting() -> None:
    result = decide([comparison(1, 15)])
    assert result.choice == KEEP_PROMPTING
    assert "tuned is worse than prompt" in result.reasons[-1].text


def test_worse_category_is_a_caution() -> None:
    result = decide([comparison(25, 5), comparison(0, 6, 30, "edge")])
    assert result.choice == FINE_TUNE
    caution = next(r for r in result.reasons if r.step == "category")
    assert caution.text.startswith("caution: tuned is worse on edge: 0.83 vs 1.00 on 36 cases (-16.7 points")


def test_unknown_volume_is_undecided() -> None:
    result = decide([comparison(20, 2)], volume=None)
    assert result.choice == UNDECIDED
    assert result.reasons[-1].step == "cost"


def test_policy_from_config() -> None:
    assert DecisionPolicy.from_mapping({"min_gain_points": 2, "max_breakeven_months": 12}).min_gain_points == 2
    with pytest.raises(ValueError, match="unknown decision key"):
        DecisionPolicy.from_mapping({"min_gain": 2})
    with pytest.raises(ValueError, match="'alpha' must be between 0 and 1"):
        DecisionPolicy.from_mapping({"alpha": 1.5})


def test_a_saving_whose_interval_spans_zero_is_no_clear_difference() -> None:
    # $0.0001 saved a request, +-$0.0001 standard error on each side: at 10,000/day the saving is
    # $30 a month, its 95% interval 30 +- 1.96 * 300,000 * 0.0001 * sqrt(2) = -$53..+$113.
    noisy = [
        Contender("prompt", "prompted", 0.8, CostProfile(0.0002, per_request_se_usd=0.0001)),
        Contender("tuned", "fine_tuned", 0.9, CostProfile(0.0001, one_time_usd=50, per_request_se_usd=0.0001)),
    ]
    same = recommend(POLICY, noisy, [comparison(10, 10, same=380)], costs(noisy, 10_000), 10_000)
    assert same.choice == KEEP_PROMPTING  # the same quality, and no clear saving: nothing to switch for
    cost = same.reasons[-1]
    assert cost.text.startswith("no clear difference in cost: tuned saves $30.00/month (95% CI -$53.15..$113.15)")
    assert cost.values["saving_low_usd"] == pytest.approx(30 - 1.96 * 300_000 * 0.0001 * 2**0.5, abs=0.01)
    better = recommend(POLICY, noisy, [comparison(20, 2)], costs(noisy, 10_000), 10_000)
    assert better.choice == TRADE_OFF  # better answers, but no shown saving to repay the training run


def test_a_cost_not_measured_in_this_run_is_undecided() -> None:
    backends = [
        Contender("prompt", "prompted", 0.8, None, "prompt is priced by the hour and its answers came from the cache"),
        Contender("tuned", "fine_tuned", 0.9, CostProfile(0.0001, one_time_usd=50)),
    ]
    result = recommend(POLICY, backends, [comparison(20, 2)], {}, 10_000)
    assert result.choice == UNDECIDED
    assert result.reasons[-1].text == (
        "cost not measured in this run: prompt is priced by the hour and its answers came from the cache"
    )
