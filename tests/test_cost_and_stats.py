from __future__ import annotations

import pytest

from pytest_llmgate.cost import Pricing, request_cost_usd
from pytest_llmgate.stats import percentile, wilson_interval


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


@pytest.mark.parametrize("data, message", [
    ({"per_hour": 1}, "unknown pricing key 'per_hour'"),
    ({"per_hour_usd": -1}, "must be a number >= 0"),
    ({"concurrency": 0}, "'concurrency' must be at least 1"),
])
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
