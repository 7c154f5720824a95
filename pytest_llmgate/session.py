"""The run-wide results: rows in, per-category summaries and gate verdicts out. No pytest here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from .analysis import Analysis, Economics, analyze
from .cases import CATEGORIES
from .compare import ALL, answered, category_stats, threshold_warning
from .results import CaseRow
from .stats import proportion, wilson_interval


@dataclass(frozen=True)
class CategorySummary:
    """Accuracy and format adherence of one backend on one category of one gate group."""

    backend: str
    group: str
    category: str
    n: int  # cases answered (errors excluded)
    errors: int
    passed: int
    format_ok: int
    accuracy: float | None
    accuracy_low: float
    accuracy_high: float
    format_rate: float | None
    threshold_accuracy: float | None
    threshold_format: float | None
    gate: str
    gate_passed: bool | None  # None: no threshold for this category, or nothing answered
    failures: tuple[str, ...]  # why the gate failed, one line per threshold missed

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        data = asdict(self)
        data["failures"] = list(self.failures)
        return data


@dataclass(frozen=True)
class BackendSummary:
    """Cost, latency and tokens of one backend over every case it answered."""

    backend: str
    n: int
    errors: int
    total_cost_usd: float
    mean_cost_usd: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    mean_prompt_tokens: float | None
    mean_completion_tokens: float | None
    tokens_estimated: bool

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def _sort_key(row: CaseRow) -> tuple:
    return row.backend, row.group, row.file, row.id


class GateSession:
    """Collects case rows (from any worker) and computes summaries and the gate verdict."""

    def __init__(self) -> None:
        self.rows: list[CaseRow] = []

    def add(self, row: CaseRow) -> None:
        """Record one case result."""
        self.rows.append(row)

    def sorted_rows(self) -> list[CaseRow]:
        """Rows in a stable order (by backend, group, file, case id), whatever the run order."""
        return sorted(self.rows, key=_sort_key)

    def category_summaries(self) -> list[CategorySummary]:
        """One summary per (backend, group, category) that has cases."""
        buckets: dict[tuple[str, str, str], list[CaseRow]] = defaultdict(list)
        for row in self.rows:
            buckets[(row.backend, row.group, row.category)].append(row)
        order = sorted(buckets, key=lambda k: (k[0], k[1], CATEGORIES.index(k[2])))
        return [summarize_category(*key, buckets[key]) for key in order]

    def backend_summaries(self) -> list[BackendSummary]:
        """One cost and latency summary per backend."""
        buckets: dict[str, list[CaseRow]] = defaultdict(list)
        for row in self.rows:
            buckets[row.backend].append(row)
        return [summarize_backend(name, buckets[name]) for name in sorted(buckets)]

    def gate_failures(self) -> list[str]:
        """Every reason the gate fails: categories under threshold and missed must-pass cases."""
        reasons = [line for summary in self.category_summaries() for line in summary.failures]
        reasons += [
            f"{row.backend}: must-pass case {row.file}::{row.id} missed"
            for row in self.sorted_rows()
            if row.must_pass and row.missed
        ]
        return reasons

    def threshold_warnings(self) -> list[str]:
        """One line per gated group, category and metric with too few cases for its threshold."""
        warnings: dict[tuple[str, str, str], str] = {}
        for s in self.category_summaries():
            for metric, threshold in (("accuracy", s.threshold_accuracy), ("format", s.threshold_format)):
                warning = None if threshold is None else threshold_warning(f"{s.group} {s.category}", metric, s.n + s.errors, threshold)
                if warning is not None:
                    warnings.setdefault((s.group, s.category, metric), warning)
        return list(warnings.values())

    def analysis(self, economics: Economics) -> Analysis:
        """The comparison, cost projection and recommendation of the rows so far, priced by ``economics``."""
        return analyze(self.sorted_rows(), economics)

    def results(self, analysis: Analysis) -> dict:
        """The JSON results document: case rows, category summaries, gate, warnings, and the
        comparison, cost and recommendation sections of ``analysis``."""
        failures = self.gate_failures()
        return {
            "cases": [row.to_dict() for row in self.sorted_rows()],
            "summary": [s.to_dict() for s in self.category_summaries()],
            "backends": [s.to_dict() for s in self.backend_summaries()],
            "gate": {"passed": not failures, "failures": failures},
            "warnings": self.threshold_warnings(),
            **analysis.to_dict(),
        }


def summarize_category(backend: str, group: str, category: str, rows: Iterable[CaseRow]) -> CategorySummary:
    """Counts, rates and the gate of one category; errors are counted apart, never as misses."""
    rows = list(rows)
    done = answered(rows)
    n = len(done)
    passed = sum(r.passed for r in done)
    format_ok = sum(r.format_ok for r in done)
    low, high = wilson_interval(passed, n)
    first = rows[0]
    accuracy, format_rate = proportion(passed, n), proportion(format_ok, n)
    failures: list[str] = []
    gated = n > 0 and (first.threshold_accuracy is not None or first.threshold_format is not None)
    if gated:
        format_low = wilson_interval(format_ok, n)[0]
        measured = {"accuracy": (accuracy, low), "format": (format_rate, format_low)}
        for metric, threshold in (("accuracy", first.threshold_accuracy), ("format", first.threshold_format)):
            if threshold is None:
                continue
            point, lower = measured[metric]
            value, label = (lower, f"{metric} lower bound") if first.gate == "lower_bound" else (point, metric)
            if value < threshold:
                failures.append(f"{backend}: {group} {category} {label} {value:.2f} < {threshold:.2f}")
    return CategorySummary(
        backend=backend, group=group, category=category, n=n, errors=len(rows) - n,
        passed=passed, format_ok=format_ok, accuracy=accuracy, accuracy_low=low, accuracy_high=high,
        format_rate=format_rate, threshold_accuracy=first.threshold_accuracy,
        threshold_format=first.threshold_format, gate=first.gate,
        gate_passed=(not failures) if gated else None, failures=tuple(failures),
    )


def summarize_backend(backend: str, rows: Iterable[CaseRow]) -> BackendSummary:
    """Cost, latency percentiles and token totals over the answered cases of one backend."""
    rows = list(rows)
    overall = category_stats(backend, ALL, rows)  # percentiles and means, as in the side-by-side table
    done = answered(rows)
    total_cost = sum(r.cost_usd or 0.0 for r in done)
    return BackendSummary(
        backend=backend, n=overall.n, errors=overall.errors, total_cost_usd=total_cost,
        mean_cost_usd=total_cost / overall.n if overall.n else None,
        latency_p50_ms=overall.latency_p50_ms, latency_p95_ms=overall.latency_p95_ms,
        ttft_p50_ms=overall.ttft_p50_ms, ttft_p95_ms=overall.ttft_p95_ms,
        prompt_tokens=sum(r.prompt_tokens or 0 for r in done),
        completion_tokens=sum(r.completion_tokens or 0 for r in done),
        mean_prompt_tokens=overall.mean_prompt_tokens, mean_completion_tokens=overall.mean_completion_tokens,
        tokens_estimated=any(r.tokens_estimated for r in done),
    )
