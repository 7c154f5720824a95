from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.backends.spec import Pricing
from pytest_llmgate.suite.terms import parse_volume
from pytest_llmgate.verdict.cost import (
    CostProfile,
    breakeven,
    cost_per_correct_usd,
    equal_cost_volume,
    monthly_cost_usd,
    months_to_breakeven,
    request_cost_usd,
    requests_per_month,
)
from pytest_llmgate.verdict.stats import (
    Z_95,
    mcnemar_exact,
    min_cases_for_threshold,
    paired_cases_to_settle,
    paired_difference_interval,
    percentile,
    precision_recall_f1,
    two_sided_z,
    wilson_interval,
)


def test_token_pricing() -> None:
    pricing = Pricing(input_per_mtok_usd=0.15, output_per_mtok_usd=0.60)
    # 800 prompt tokens and 50 completion tokens: 800*0.15/1e6 + 50*0.60/1e6
    assert request_cost_usd(pricing, 800, 50, compute_s=2.0) == pytest.approx(0.00015)


def test_cached_input_is_billed_at_its_own_price() -> None:
    pricing = Pricing(input_per_mtok_usd=1.0, cached_input_per_mtok_usd=0.1)
    assert request_cost_usd(pricing, 1000, 0, 0.0, cached_prompt_tokens=600) == pytest.approx((400 + 60) / 1e6)


def test_self_hosted_compute_cost() -> None:
    # $3.60 an hour is $0.001 a second; 2 requests share the machine.
    pricing = Pricing(per_hour_usd=3.6, concurrency=2)
    assert request_cost_usd(pricing, 500, 10, compute_s=0.5) == pytest.approx(0.00025)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"per_hour": 1}, "unknown pricing key 'per_hour'"),
        ({"per_hour_usd": -1}, "must be a number >= 0"),
        ({"concurrency": 0}, "'concurrency' must be at least 1"),
    ],
)
def test_pricing_rejects_bad_config(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Pricing.from_mapping(data)


def test_wilson_interval_known_values() -> None:
    # 8 of 10: Wilson 95% interval is about 0.490 to 0.943.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(5, 5)[1] == 1.0


def test_percentile_interpolates() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([5], 95) == 5
    assert percentile([], 50) is None


# --- the cost model: worked examples by hand -------------------------------------------------


def test_shorter_prompt_worked_example() -> None:
    # An 800-token prompt cut to 200 tokens by fine-tuning, 10,000 requests a day, $0.15 per
    # million input tokens: 600 tokens * 300,000 requests = 180 million tokens = $27 a month.
    pricing = Pricing(input_per_mtok_usd=0.15)
    prompted = CostProfile(request_cost_usd(pricing, 800, 0, 0.0))
    tuned = CostProfile(request_cost_usd(pricing, 200, 0, 0.0), one_time_usd=50.0)
    assert (800 - 200) * requests_per_month(10_000) == 180_000_000
    saving = prompted.monthly_usd(10_000) - tuned.monthly_usd(10_000)
    assert saving == pytest.approx(27.0)
    # A $50 training run: 50 / 27 = 1.85 months.
    assert round(months_to_breakeven(50.0, saving), 2) == 1.85
    found = breakeven(tuned, prompted, 10_000, horizon_months=12)
    assert found.monthly_saving_usd == pytest.approx(27.0)
    assert found.extra_one_time_usd == 50.0
    assert found.months == pytest.approx(50 / 27)
    # Same total over 12 months when 12 * 30 * v * $0.00009 = $50: v = 1,543.2 requests a day.
    assert found.equal_cost_daily_volume == pytest.approx(50 / (12 * 30 * 0.00009))


def test_monthly_cost_adds_the_fixed_monthly_cost() -> None:
    # $0.002 a request at 1,000 a day is $60 a month; a $400/month instance on top.
    assert monthly_cost_usd(0.002, 1000) == pytest.approx(60.0)
    assert monthly_cost_usd(0.002, 1000, per_month_usd=400) == pytest.approx(460.0)
    on_device = CostProfile(per_request_usd=0.0, per_month_usd=25.0, one_time_usd=2000.0)
    # $25/month of CDN and a $2,000 port: 2000 + 12 * 25 over a year, whatever the volume.
    assert on_device.horizon_usd(1_000_000, 12) == pytest.approx(2300.0)


def test_cost_per_correct_answer() -> None:
    # $0.001 a request at 80% accuracy: $0.00125 per correct answer.
    assert cost_per_correct_usd(0.001, 0.8) == pytest.approx(0.00125)
    assert cost_per_correct_usd(0.001, 0.0) is None


def test_breakeven_without_saving_is_never() -> None:
    assert months_to_breakeven(50.0, 0.0) is None
    assert months_to_breakeven(50.0, -3.0) is None
    assert months_to_breakeven(0.0, 10.0) == 0.0


def test_equal_cost_volume_of_api_against_hosted_instance() -> None:
    # API at $0.001 a request against a $600/month instance at $0.0002 a request, over 12 months:
    # 30 * v * 0.001 = 600 + 30 * v * 0.0002  ->  v = 600 / (30 * 0.0008) = 25,000 a day.
    api = CostProfile(0.001)
    hosted = CostProfile(0.0002, per_month_usd=600)
    assert equal_cost_volume(api, hosted, 12) == pytest.approx(25_000)
    assert equal_cost_volume(hosted, api, 12) == pytest.approx(25_000)
    assert equal_cost_volume(api, CostProfile(0.001, per_month_usd=1), 12) is None  # parallel lines
    assert equal_cost_volume(api, CostProfile(0.002, per_month_usd=1), 12) is None  # always dearer


@pytest.mark.parametrize(
    "text, per_day",
    [
        ("90000/day", 90_000),
        ("90,000/day", 90_000),
        ("3000000/month", 100_000),
        ("500/hour", 12_000),
        ("1000", 1000),
        (250, 250),
    ],
)
def test_parse_volume(text: str, per_day: float) -> None:
    assert parse_volume(text) == pytest.approx(per_day)


@pytest.mark.parametrize("text", ["lots", "100/week", "-5/day", "nan/day"])
def test_parse_volume_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="volume must"):
        parse_volume(text)


def test_pricing_accepts_fixed_and_one_time_costs() -> None:
    pricing = Pricing.from_mapping({"per_month_usd": 120, "one_time_usd": 50})
    assert (pricing.per_month_usd, pricing.one_time_usd) == (120, 50)


# --- paired test, classification scores, sample size ------------------------------------------


@pytest.mark.parametrize("only_a, only_b", [(3, 12), (0, 5), (7, 7), (1, 0), (20, 41), (0, 0)])
def test_mcnemar_exact_matches_scipy(only_a: int, only_b: int) -> None:
    binomtest = pytest.importorskip("scipy.stats").binomtest
    expected = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_exact_by_hand() -> None:
    # 0 vs 5 discordant: 2 * (1/2)^5 = 0.0625. 3 vs 12: 2 * (1 + 15 + 105 + 455) / 2^15 = 0.03515625.
    assert mcnemar_exact(0, 5) == 0.0625
    assert mcnemar_exact(3, 12) == 0.03515625
    assert mcnemar_exact(4, 4) == 1.0


def test_precision_recall_f1() -> None:
    # 8 true positives, 2 false positives, 4 false negatives: P = 0.8, R = 2/3, F1 = 8/11.
    precision, recall, f1 = precision_recall_f1(8, 2, 4)
    assert (precision, recall) == (0.8, pytest.approx(2 / 3))
    assert f1 == pytest.approx(8 / 11)
    assert precision_recall_f1(0, 0, 3) == (None, 0.0, None)
    assert precision_recall_f1(0, 2, 3) == (0.0, 0.0, 0.0)


def test_min_cases_for_threshold() -> None:
    # A perfect score of n has the lower bound n / (n + 1.96^2): 0.95 needs 73 cases, 0.90 needs 35.
    assert min_cases_for_threshold(0.95) == 73
    assert wilson_interval(72, 72)[0] < 0.95 <= wilson_interval(73, 73)[0]
    assert min_cases_for_threshold(0.90) == 35
    assert min_cases_for_threshold(1.0) is None


# --- the paired difference: Tango's score interval and the cases that would settle it --------


def test_two_sided_z() -> None:
    assert two_sided_z(0.05) == pytest.approx(Z_95)
    assert two_sided_z(0.10) == pytest.approx(1.644854, abs=1e-6)


@pytest.mark.parametrize(
    "only_challenger, only_baseline, n, alpha, published",
    [
        (0, 1, 44, 0.10, (-9.6, 3.7)),  # Tango 1998's own example, 90% interval
        (9, 3, 32, 0.05, (-2.7, 39.0)),  # Tango 1998
        (16, 8, 86, 0.05, (-2.0, 20.7)),  # Agresti & Min 2005
        (1, 7, 21, 0.05, (-51.7, -2.6)),  # Fagerland, Lydersen & Laake 2014, Table V (Bentur et al.)
    ],
)
def test_tango_interval_matches_published_values(
    only_challenger: int, only_baseline: int, n: int, alpha: float, published: tuple[float, float]
) -> None:
    low, high = paired_difference_interval(only_challenger, only_baseline, n, two_sided_z(alpha))
    assert (round(low, 1), round(high, 1)) == published


def test_tango_interval_closed_forms() -> None:
    # No discordant case: the score statistic is -n d / sqrt(n d (1 - d)) for d > 0, so the bound
    # solves n d / (1 - d) = z^2: d = z^2 / (n + z^2), 27.75 points on 10 cases.
    bound = 100 * Z_95**2 / (10 + Z_95**2)
    assert paired_difference_interval(0, 0, 10) == (pytest.approx(-bound), pytest.approx(bound))
    assert paired_difference_interval(12, 0, 12)[1] == 100.0  # every case won: nothing above
    assert paired_difference_interval(0, 12, 12)[0] == -100.0
    assert paired_difference_interval(0, 0, 0) == (-100.0, 100.0)


@st.composite
def paired_counts(draw: st.DrawFn) -> tuple[int, int, int]:
    """(only challenger right, only baseline right, n) for up to 400 paired cases."""
    n = draw(st.integers(1, 400))
    only_challenger = draw(st.integers(0, n))
    return only_challenger, draw(st.integers(0, n - only_challenger)), n


@given(paired_counts(), st.integers(2, 6))
def test_tango_interval_properties(counts: tuple[int, int, int], scale: int) -> None:
    only_challenger, only_baseline, n = counts
    low, high = paired_difference_interval(only_challenger, only_baseline, n)
    estimate = 100 * (only_challenger - only_baseline) / n
    assert -100 <= low <= estimate <= high <= 100
    more_low, more_high = paired_difference_interval(scale * only_challenger, scale * only_baseline, scale * n)
    assert more_high - more_low < high - low  # the same proportions on more cases: narrower


def test_cases_to_settle_by_hand() -> None:
    # No discordant case in 10: the lower bound -z^2 / (N + z^2) clears -5 points once
    # N > 19 z^2 = 72.99, so 73 cases.
    assert paired_cases_to_settle(0, 0, 10, margin_points=5) == 73
    assert paired_difference_interval(0, 0, 72)[0] <= -5 < paired_difference_interval(0, 0, 73)[0]
    # 5 lost of 10 (McNemar p = 0.0625): 11 cases at that rate round to 6 lost, p = 2 / 2^6.
    assert paired_cases_to_settle(0, 5, 10, margin_points=5) == 11
    assert mcnemar_exact(0, 6) == 0.03125


def test_cases_to_settle_edges() -> None:
    assert paired_cases_to_settle(10, 10, 400, margin_points=5) == 400  # already settled
    assert paired_cases_to_settle(10, 10, 100, margin_points=0) is None  # a tie never clears a zero margin
    assert paired_cases_to_settle(0, 0, 0, margin_points=5) is None  # no rates to project
    # A tenth-of-a-point drop against a half-point margin needs thousands of cases, found quickly.
    needed = paired_cases_to_settle(10, 11, 1000, margin_points=0.5)
    assert needed is not None and 4000 < needed < 7000


@pytest.mark.parametrize("only_a, only_b", [(480, 521), (500, 700), (5000, 5200)])
def test_mcnemar_exact_on_large_counts_matches_scipy(only_a: int, only_b: int) -> None:
    binomtest = pytest.importorskip("scipy.stats").binomtest
    assert mcnemar_exact(only_a, only_b) == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-9)
