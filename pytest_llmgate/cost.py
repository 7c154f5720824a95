"""Pricing of a backend and the cost of one request, in USD."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

MILLION = 1_000_000
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class Pricing:
    """What a backend costs: API tokens, self-hosted compute by the hour, or both."""

    input_per_mtok_usd: float = 0.0
    output_per_mtok_usd: float = 0.0
    cached_input_per_mtok_usd: float | None = None  # None: cached input is billed as input
    per_hour_usd: float = 0.0
    concurrency: int = 1  # requests served at once on the hourly-priced compute

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a ``pricing:`` mapping may use."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Pricing:
        """Build from a config mapping; raises ValueError naming a bad key or value."""
        unknown = sorted(set(data) - set(cls.keys()))
        if unknown:
            raise ValueError(f"unknown pricing key {unknown[0]!r}; known: {', '.join(cls.keys())}")
        for key, value in data.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"pricing {key!r} must be a number >= 0, got {value!r}")
        if data.get("concurrency", 1) < 1:
            raise ValueError("pricing 'concurrency' must be at least 1")
        return cls(**data)


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
