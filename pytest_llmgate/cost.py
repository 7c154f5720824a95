"""Pricing of a backend, the cost of one request, and cost at a volume over a horizon, in USD.

Months are 30 days throughout, so monthly figures are ``requests_per_day * 30 * $/request``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

MILLION = 1_000_000
SECONDS_PER_HOUR = 3600
HOURS_PER_DAY = 24
DAYS_PER_MONTH = 30
DEFAULT_HORIZON_MONTHS = 12.0
VOLUME_UNITS = {"hour": HOURS_PER_DAY, "day": 1, "month": 1 / DAYS_PER_MONTH}  # factor to requests per day


@dataclass(frozen=True)
class Pricing:
    """What a backend costs: API tokens, self-hosted compute by the hour, fixed monthly costs
    (a hosted instance, on-device distribution) and one-time costs (training, data preparation)."""

    input_per_mtok_usd: float = 0.0
    output_per_mtok_usd: float = 0.0
    cached_input_per_mtok_usd: float | None = None  # None: cached input is billed as input
    per_hour_usd: float = 0.0
    concurrency: int = 1  # requests served at once on the hourly-priced compute
    per_month_usd: float = 0.0
    one_time_usd: float = 0.0

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a ``pricing:`` mapping may use."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Pricing:
        """Build from a config mapping; raises ValueError naming a bad key or value."""
        check_numbers(data, cls.keys(), "pricing")
        if data.get("concurrency", 1) < 1:
            raise ValueError("pricing 'concurrency' must be at least 1")
        return cls(**data)


def check_numbers(data: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    """Raise ValueError unless every key of ``data`` is in ``known`` and every value a number >= 0."""
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} key {unknown[0]!r}; known: {', '.join(known)}")
    for key, value in data.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{what} {key!r} must be a number >= 0, got {value!r}")


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
    compute_usd = compute_s * pricing.per_hour_usd / SECONDS_PER_HOUR / pricing.concurrency
    return tokens_usd + compute_usd



def parse_volume(value: str | float) -> float:
    """Requests per day from '90000/day', '3000000/month' or '500/hour'; a bare number is per day.

    Raises ValueError naming the accepted forms.
    """
    text = str(value).strip().replace("_", "").replace(",", "")
    number, _, unit = text.partition("/")
    try:
        amount = float(number)
        factor = VOLUME_UNITS[unit.strip() or "day"]
    except (ValueError, KeyError):
        raise ValueError(f"volume must look like 90000/day, 3000000/month or 500/hour, got {value!r}") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"volume must be a number of requests >= 0, got {value!r}")
    return amount * factor


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
    """One backend's cost drivers: $ per request (measured) and its fixed costs (configured)."""

    per_request_usd: float
    per_month_usd: float = 0.0
    one_time_usd: float = 0.0

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


def breakeven(tuned: CostProfile, prompted: CostProfile, per_day: float | None, horizon_months: float) -> Breakeven:
    """Saving, months to breakeven and equal-cost volume of ``tuned`` over ``prompted``."""
    extra = tuned.one_time_usd - prompted.one_time_usd
    saving = None if per_day is None else prompted.monthly_usd(per_day) - tuned.monthly_usd(per_day)
    return Breakeven(
        monthly_saving_usd=saving, extra_one_time_usd=extra,
        months=None if saving is None else months_to_breakeven(extra, saving),
        equal_cost_daily_volume=equal_cost_volume(prompted, tuned, horizon_months),
    )
