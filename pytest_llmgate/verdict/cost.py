"""Pricing of a backend, the cost of one request, and cost at a volume over a horizon, in USD.

Months are 30 days throughout, so monthly figures are ``requests_per_day * 30 * $/request``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backends.base import Completion
from ..backends.spec import Pricing
from ..suite.terms import DAYS_PER_MONTH
from .stats import Z_95

MILLION = 1_000_000
SECONDS_PER_HOUR = 3600


def request_cost_usd(
    pricing: Pricing,
    prompt_tokens: int,
    completion_tokens: int,
    compute_s: float,
    cached_prompt_tokens: int = 0,
) -> float:
    """Cost of one request: tokens times token prices plus compute seconds at the hourly price."""
    cached_price = (
        pricing.input_per_mtok_usd if pricing.cached_input_per_mtok_usd is None else pricing.cached_input_per_mtok_usd
    )
    uncached = max(prompt_tokens - cached_prompt_tokens, 0)
    tokens_usd = (
        uncached * pricing.input_per_mtok_usd
        + min(cached_prompt_tokens, prompt_tokens) * cached_price
        + completion_tokens * pricing.output_per_mtok_usd
    ) / MILLION
    return tokens_usd + compute_usd(pricing, compute_s)


def completion_cost_usd(pricing: Pricing, completion: Completion) -> float:
    """What ``completion`` cost: the figure its backend reported (an application's own bill), else priced."""
    if completion.cost_usd is not None:
        return completion.cost_usd
    return request_cost_usd(
        pricing,
        completion.prompt_tokens,
        completion.completion_tokens,
        completion.latency_s,
        completion.cached_prompt_tokens,
    )


def compute_usd(pricing: Pricing, compute_s: float) -> float:
    """What ``compute_s`` seconds of the hourly-priced machine cost, shared among the requests it serves at once."""
    return compute_s * pricing.per_hour_usd / SECONDS_PER_HOUR / pricing.concurrency


def requests_per_month(per_day: float) -> float:
    """Requests in a 30-day month."""
    return per_day * DAYS_PER_MONTH


def monthly_cost_usd(per_request_usd: float, per_day: float, per_month_usd: float = 0.0) -> float:
    """Cost of a month at ``per_day`` requests: the requests plus the fixed monthly cost."""
    return requests_per_month(per_day) * per_request_usd + per_month_usd


def cost_per_correct_usd(per_request_usd: float, accuracy: float | None) -> float | None:
    """What one correct answer costs: $ per request / accuracy; None when nothing was right."""
    return per_request_usd / accuracy if accuracy else None


def months_to_breakeven(extra_one_time_usd: float, monthly_saving_usd: float) -> float | None:
    """Months until a one-time cost is paid back by a monthly saving; None when nothing is saved."""
    if monthly_saving_usd <= 0:
        return None
    return max(extra_one_time_usd, 0.0) / monthly_saving_usd


@dataclass(frozen=True)
class CostProfile:
    """One backend's cost drivers: $ per request (measured, with the standard error of that mean) and its
    fixed costs (configured)."""

    per_request_usd: float
    per_month_usd: float = 0.0
    one_time_usd: float = 0.0
    per_request_se_usd: float = 0.0  # from the spread of the measured requests (latency, tokens)

    def monthly_usd(self, per_day: float) -> float:
        """Running cost of a month at ``per_day`` requests (one-time cost not included)."""
        return monthly_cost_usd(self.per_request_usd, per_day, self.per_month_usd)

    def horizon_usd(self, per_day: float, months: float) -> float:
        """Everything paid over ``months`` at ``per_day`` requests, one-time cost included."""
        return self.one_time_usd + months * self.monthly_usd(per_day)


def equal_cost_volume(a: CostProfile, b: CostProfile, months: float) -> float | None:
    """The daily volume at which ``a`` and ``b`` cost the same over ``months``.

    Solves one_time_a + months * (fixed_a + 30 * v * per_request_a) = the same for b;
    None when the two never cost the same at a positive volume (parallel or crossing below 0).
    """
    per_request_gap = a.per_request_usd - b.per_request_usd
    fixed_gap = (b.one_time_usd - a.one_time_usd) + months * (b.per_month_usd - a.per_month_usd)
    if per_request_gap == 0 or months <= 0:
        return None
    volume = fixed_gap / (months * DAYS_PER_MONTH * per_request_gap)
    return volume if volume >= 0 else None


@dataclass(frozen=True)
class Breakeven:
    """What a fine-tune changes against a prompted backend, at a volume over a horizon."""

    monthly_saving_usd: float | None  # prompted minus fine-tuned monthly cost; None without a volume
    extra_one_time_usd: float  # fine-tuned minus prompted one-time cost
    months: float | None  # to repay the extra one-time cost; None: never, or no volume
    equal_cost_daily_volume: float | None  # where both cost the same over the horizon; None: never
    saving_low_usd: float | None = None  # the (1 - alpha) interval of the monthly saving
    saving_high_usd: float | None = None
    months_at_low: float | None = None  # months to breakeven at the interval's low end; None: never

    @property
    def clear(self) -> bool:
        """True when the saving's interval excludes zero: one backend is measurably cheaper."""
        low, high = self.saving_low_usd, self.saving_high_usd
        return low is not None and high is not None and (low > 0 or high < 0)


def breakeven(
    tuned: CostProfile,
    prompted: CostProfile,
    per_day: float | None,
    horizon_months: float,
    z: float = Z_95,
    difference_se_usd: float | None = None,
) -> Breakeven:
    """Saving (with its interval: ``z`` standard errors of the per-request difference either side), months
    to breakeven and equal-cost volume of ``tuned`` over ``prompted``. ``difference_se_usd`` is the standard
    error of the per-request difference measured on the same cases (paired); without it, the two means'
    errors are combined as if independent."""
    extra = tuned.one_time_usd - prompted.one_time_usd
    if per_day is None:
        return Breakeven(None, extra, None, equal_cost_volume(prompted, tuned, horizon_months))
    saving = prompted.monthly_usd(per_day) - tuned.monthly_usd(per_day)
    if difference_se_usd is None:
        difference_se_usd = math.hypot(prompted.per_request_se_usd, tuned.per_request_se_usd)
    spread = z * requests_per_month(per_day) * difference_se_usd
    return Breakeven(
        monthly_saving_usd=saving,
        extra_one_time_usd=extra,
        months=months_to_breakeven(extra, saving),
        equal_cost_daily_volume=equal_cost_volume(prompted, tuned, horizon_months),
        saving_low_usd=saving - spread,
        saving_high_usd=saving + spread,
        months_at_low=months_to_breakeven(extra, saving - spread),
    )


@dataclass(frozen=True)
class PairCost:
    """A fine-tuned backend against a prompted one on one gate group: saving, breakeven, equal-cost volume."""

    fine_tuned: str
    prompted: str
    breakeven: Breakeven
    group: str = "all"
