"""The terms a user writes for judging a run: categories, thresholds, tolerances, volume and the decision policy."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..backends.spec import check_numbers
from ..errors import SpecError
from .yamlio import expect_mapping, line_of, reject_unknown

CATEGORIES = ("common", "edge", "adversarial")


GATE_MODES = ("point", "lower_bound")


BUDGET_KEYS = ("latency_p95_ms", "ttft_p95_ms", "cost_per_request_usd")


THRESHOLD_KEYS = ("accuracy", "format", "robustness", "gate", *BUDGET_KEYS)


@dataclass(frozen=True)
class Threshold:
    """The gate of one category: minimum accuracy and format adherence, and budgets on what the
    run measures (p95 latency and TTFT of fresh answers, mean cost per request)."""

    accuracy: float | None = None
    format: float | None = None
    gate: str = "point"  # "point": the measured rate; "lower_bound": its 95% Wilson lower bound
    latency_p95_ms: float | None = None
    ttft_p95_ms: float | None = None
    cost_per_request_usd: float | None = None
    robustness: float | None = None  # minimum share of perturbed variants that keep the expectation

    def over(self, base: Threshold | None) -> Threshold:
        """This threshold with every key it leaves at its default taken from ``base`` (a backend's over the suite's)."""
        if base is None:
            return self
        unset = Threshold()
        return Threshold(
            **{
                f.name: getattr(base if getattr(self, f.name) == getattr(unset, f.name) else self, f.name)
                for f in fields(self)
            }
        )


def parse_thresholds(raw: Any, path: Path) -> dict[str, Threshold]:
    """Parse a ``thresholds:`` mapping of category -> {accuracy, format, gate, and the budgets}."""
    node = expect_mapping(raw, path, line_of(raw), "'thresholds'")
    result = {}
    for category, spec in node.items():
        line = node.line_of(category)
        if category not in CATEGORIES:
            raise SpecError(
                path, line, f"unknown category {category!r} in thresholds; use one of {', '.join(CATEGORIES)}"
            )
        spec = expect_mapping(spec, path, line, f"thresholds for {category!r}")
        reject_unknown(spec, THRESHOLD_KEYS, path, f"key in thresholds for {category!r}")
        for key in ("accuracy", "format", "robustness"):
            value = spec.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1
            ):
                raise SpecError(
                    path,
                    spec.line_of(key),
                    f"threshold {category}.{key} must be a number between 0 and 1, got {value!r}",
                )
        for key in BUDGET_KEYS:
            value = spec.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf
            ):
                raise SpecError(
                    path, spec.line_of(key), f"threshold {category}.{key} must be a number > 0, got {value!r}"
                )
        gate = spec.get("gate", "point")
        if gate not in GATE_MODES:
            raise SpecError(
                path,
                spec.line_of("gate"),
                f"threshold {category}.gate must be one of {', '.join(GATE_MODES)}, got {gate!r}",
            )
        result[category] = Threshold(gate=gate, **{key: spec.get(key) for key in THRESHOLD_KEYS if key != "gate"})
    return result


HOURS_PER_DAY = 24


DAYS_PER_MONTH = 30


DEFAULT_HORIZON_MONTHS = 12.0


VOLUME_UNITS = {"hour": HOURS_PER_DAY, "day": 1, "month": 1 / DAYS_PER_MONTH}  # factor to requests per day


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


@dataclass(frozen=True)
class DecisionPolicy:
    """The thresholds of the procedure (config key ``decision:``)."""

    min_daily_volume: float = 1000  # under this, a fine-tune is not worth its upkeep
    min_gain_points: float = (
        5.0  # the smallest accuracy gain, in points, worth a fine-tune; also the drop "same quality" must rule out
    )
    alpha: float = 0.05  # a difference counts when McNemar's p is under this; intervals are 1 - alpha
    max_breakeven_months: float = 6.0  # a one-time cost must be paid back within this

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a ``decision:`` mapping may use."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DecisionPolicy:
        """Build from a config mapping; raises ValueError naming a bad key or value."""
        check_numbers(data, cls.keys(), "decision")
        if not 0 < data.get("alpha", cls.alpha) < 1:
            raise ValueError("decision 'alpha' must be between 0 and 1")
        return cls(**data)


ACCURACY, FORMAT = "accuracy", "format"


TOLERANCE_FORM = (
    "'METRIC:N%' items joined by commas, METRIC being accuracy or format and N the drop "
    "allowed in percentage points (0 to 100), e.g. 'accuracy:2%,format:5%'; empty allows none"
)


_TOLERANCE_ITEM = re.compile(r"\s*(\w+)\s*:\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*")


@dataclass(frozen=True)
class Tolerance:
    """The drop, in percentage points, that the gate lets pass before asking whether it is noise."""

    accuracy: float = 0.0
    format: float = 0.0

    def points(self, metric: str) -> float:
        """The allowed drop of ``metric`` (accuracy or format)."""
        return {ACCURACY: self.accuracy, FORMAT: self.format}[metric]


def parse_tolerance(text: str) -> Tolerance:
    """'accuracy:2%,format:5%' -> Tolerance(2.0, 5.0); a metric left out, or an empty text, allows no drop.

    ``N%`` means N percentage points (0.92 -> 0.90 is a drop of 2 points). ValueError naming the form otherwise.
    """
    allowed: dict[str, float] = {}
    for item in text.split(",") if text.strip() else []:
        match = _TOLERANCE_ITEM.fullmatch(item)
        if match is None or match[1] not in (ACCURACY, FORMAT):
            raise ValueError(f"bad tolerance {item.strip()!r} in {text!r}: expected {TOLERANCE_FORM}")
        if match[1] in allowed:
            raise ValueError(f"tolerance {text!r} names {match[1]} twice: expected {TOLERANCE_FORM}")
        points = float(match[2])
        if points > 100:
            raise ValueError(f"tolerance {item.strip()!r} is over 100 points: expected {TOLERANCE_FORM}")
        allowed[match[1]] = points
    return Tolerance(**allowed)
