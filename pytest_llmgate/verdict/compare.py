"""Backends side by side: per-category metrics, paired comparisons on the same cases, and
per-label classification scores. Pure functions over case rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from ..suite.terms import CATEGORIES
from .rows import CASE, ERROR, NOT_RUN, PERTURB, SKIPPED, CaseRow
from .stats import mcnemar_exact, min_cases_for_threshold, percentile, precision_recall_f1, proportion, wilson_interval

ALL = "all"  # the pseudo-category of every case together
MIN_CASES = 30  # below this, a category's rate is too noisy to gate on whatever its threshold
OTHER_LABEL = "(other)"  # a predicted label that no case expects


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def answered_rows(rows: Iterable[CaseRow]) -> list[CaseRow]:
    """The case rows whose backend answered (errors, cases not run, skipped cases and perturbation
    searches left out)."""
    return [r for r in rows if r.answered and r.kind == CASE]


def graded(rows: Iterable[CaseRow]) -> list[CaseRow]:
    """The answered rows that have correctness checks: the ones accuracy is measured on."""
    return [r for r in answered_rows(rows) if r.passed is not None]


@dataclass(frozen=True)
class CategoryStats:
    """Quality, tokens, latency and cost of one backend on one category (or on ``all``).

    Accuracy is over the answered cases that have correctness checks (``graded``), format
    adherence over those that have format checks (``formatted``)."""

    backend: str
    category: str
    selected: int  # cases of this backend and category in the run, skipped ones left out
    n: int  # cases answered
    errors: int
    not_run: int
    graded: int
    passed: int
    formatted: int
    format_ok: int
    accuracy: float | None
    accuracy_low: float
    accuracy_high: float
    format_rate: float | None
    format_low: float
    mean_prompt_tokens: float | None
    mean_completion_tokens: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    mean_cost_usd: float | None
    fresh: int  # answers called in this run (not from the cache): only their timings are measurements
    fresh_latency_p95_ms: float | None
    fresh_ttft_p95_ms: float | None
    variants: int  # perturbed variants tried by the perturbation searches of these cases
    variants_held: int

    @property
    def robustness(self) -> float | None:
        """Share of the perturbed variants that kept the expectation; None when none was tried."""
        return proportion(self.variants_held, self.variants)

    @property
    def cost_per_1k_usd(self) -> float | None:
        """Mean $ per request times 1,000."""
        return None if self.mean_cost_usd is None else self.mean_cost_usd * 1000

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {**asdict(self), "cost_per_1k_usd": self.cost_per_1k_usd, "robustness": self.robustness}


def category_stats(backend: str, category: str, rows: Sequence[CaseRow]) -> CategoryStats:
    """The metrics of ``rows`` (one backend, one category or ``all``); skipped rows are ignored."""
    rows = [r for r in rows if r.status != SKIPPED]
    done = answered_rows(rows)
    searches = [r for r in rows if r.kind == PERTURB and r.answered]
    right = graded(done)
    shaped = [r for r in done if r.format_ok is not None]
    passed, format_ok = sum(bool(r.passed) for r in right), sum(bool(r.format_ok) for r in shaped)
    low, high = wilson_interval(passed, len(right))
    latencies = [r.latency_ms for r in done if r.latency_ms is not None]
    ttfts = [r.ttft_ms for r in done if r.ttft_ms is not None]
    return CategoryStats(
        backend=backend,
        category=category,
        selected=len(rows),
        n=len(done),
        errors=sum(r.status == ERROR for r in rows),
        not_run=sum(r.status == NOT_RUN for r in rows),
        graded=len(right),
        passed=passed,
        formatted=len(shaped),
        format_ok=format_ok,
        accuracy=proportion(passed, len(right)),
        accuracy_low=low,
        accuracy_high=high,
        format_rate=proportion(format_ok, len(shaped)),
        format_low=wilson_interval(format_ok, len(shaped))[0],
        mean_prompt_tokens=_mean([r.prompt_tokens for r in done if r.prompt_tokens is not None]),
        mean_completion_tokens=_mean([r.completion_tokens for r in done if r.completion_tokens is not None]),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        ttft_p50_ms=percentile(ttfts, 50),
        ttft_p95_ms=percentile(ttfts, 95),
        mean_cost_usd=_mean([r.cost_usd for r in done if r.cost_usd is not None]),
        fresh=len(fresh := [r for r in done if not r.cached]),
        fresh_latency_p95_ms=percentile([r.latency_ms for r in fresh if r.latency_ms is not None], 95),
        fresh_ttft_p95_ms=percentile([r.ttft_ms for r in fresh if r.ttft_ms is not None], 95),
        variants=sum(r.variants for r in searches),
        variants_held=sum(r.variants_held for r in searches),
    )


def categories_of(rows: Iterable[CaseRow]) -> list[str]:
    """The categories present in ``rows`` in the usual order, then ``all``."""
    present = {r.category for r in rows}
    return [c for c in CATEGORIES if c in present] + [ALL]


def in_category(rows: Iterable[CaseRow], category: str) -> list[CaseRow]:
    """The rows of ``category``; every row for ``all``."""
    return [r for r in rows if category in (ALL, r.category)]


def side_by_side(rows: Sequence[CaseRow]) -> list[CategoryStats]:
    """For every category (and ``all``), one CategoryStats per backend, backends by name."""
    backends = sorted({r.backend for r in rows})
    return [
        category_stats(backend, category, [r for r in in_category(rows, category) if r.backend == backend])
        for category in categories_of(rows)
        for backend in backends
    ]


@dataclass(frozen=True)
class PairedComparison:
    """A challenger against a control on the cases both answered (matched on file and id)."""

    control: str  # the side the challenger is measured against (the prompted one of a mixed pair)
    challenger: str
    category: str
    n: int  # cases both answered
    control_accuracy: float | None
    challenger_accuracy: float | None
    won: tuple[str, ...]  # ids the challenger got right and the control wrong
    lost: tuple[str, ...]  # ids the control got right and the challenger wrong
    p_value: float  # exact McNemar test on the discordant cases

    @property
    def gain_points(self) -> float:
        """Challenger minus control accuracy, in percentage points."""
        return 100 * (len(self.won) - len(self.lost)) / self.n if self.n else 0.0

    def significant(self, alpha: float) -> bool:
        """True when the difference would be unlikely (p < alpha) were the two equally good."""
        return self.p_value < alpha

    def to_dict(self) -> dict:
        """A JSON-ready dict, with the gain in points."""
        data = asdict(self)
        data.update(won=list(self.won), lost=list(self.lost), gain_points=self.gain_points)
        return data


def paired(rows: Iterable[CaseRow], control: str, challenger: str, category: str = ALL) -> PairedComparison:
    """Compare ``challenger`` with ``control`` on the graded cases of ``category`` that both answered."""
    by_backend: dict[str, dict[tuple[str, str], CaseRow]] = {control: {}, challenger: {}}
    for row in graded(in_category(rows, category)):
        if row.backend in by_backend:
            by_backend[row.backend][(row.file, row.id)] = row
    keys = sorted(by_backend[control].keys() & by_backend[challenger].keys())
    pairs = [(by_backend[control][k], by_backend[challenger][k]) for k in keys]
    won = tuple(c.id for b, c in pairs if c.passed and not b.passed)
    lost = tuple(b.id for b, c in pairs if b.passed and not c.passed)
    return PairedComparison(
        control=control,
        challenger=challenger,
        category=category,
        n=len(pairs),
        control_accuracy=proportion(sum(bool(b.passed) for b, _ in pairs), len(pairs)),
        challenger_accuracy=proportion(sum(bool(c.passed) for _, c in pairs), len(pairs)),
        won=won,
        lost=lost,
        p_value=mcnemar_exact(len(won), len(lost)),
    )


@dataclass(frozen=True)
class LabelScore:
    """Precision, recall and F1 of one expected label; None where undefined."""

    label: str
    support: int  # cases expecting this label
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True)
class Classification:
    """Confusion matrix and per-label scores of one backend on the cases that expect a label."""

    backend: str
    labels: tuple[str, ...]  # expected labels, then OTHER_LABEL when a prediction fell outside them
    matrix: tuple[tuple[int, ...], ...]  # matrix[i][j]: cases expecting labels[i] answered labels[j]
    scores: tuple[LabelScore, ...]

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "backend": self.backend,
            "labels": list(self.labels),
            "matrix": [list(row) for row in self.matrix],
            "scores": [asdict(score) for score in self.scores],
        }


def classification(backend: str, rows: Iterable[CaseRow]) -> Classification | None:
    """The confusion matrix of ``backend`` over answered label cases; None when there are none."""
    answers = [
        (r.expected_label, r.predicted_label)
        for r in answered_rows(rows)
        if r.backend == backend and r.expected_label is not None
    ]
    if not answers:
        return None
    expected = sorted({e for e, _ in answers})
    pairs = [(e, p if p in expected else OTHER_LABEL) for e, p in answers]
    labels = tuple(expected + ([OTHER_LABEL] if any(p == OTHER_LABEL for _, p in pairs) else []))
    counts = {(e, p): 0 for e in labels for p in labels}
    for pair in pairs:
        counts[pair] += 1
    matrix = tuple(tuple(counts[(e, p)] for p in labels) for e in labels)
    scores = []
    for label in expected:
        true_pos = counts[(label, label)]
        false_pos = sum(counts[(e, label)] for e in labels) - true_pos
        false_neg = sum(counts[(label, p)] for p in labels) - true_pos
        scores.append(LabelScore(label, true_pos + false_neg, *precision_recall_f1(true_pos, false_pos, false_neg)))
    return Classification(backend, labels, matrix, tuple(scores))


def threshold_warning(where: str, metric: str, n: int, threshold: float) -> str | None:
    """A warning when ``n`` cases cannot tell a model at ``threshold`` from one below it.

    The rule: fewer than MIN_CASES cases, or so few that even a perfect score has a 95% Wilson
    lower bound under the threshold. None when the category is large enough.
    """
    perfect_low = wilson_interval(n, n)[0]
    if n >= MIN_CASES and perfect_low >= threshold:
        return None
    needed = min_cases_for_threshold(threshold)
    advice = "no number of cases can show 1.00" if needed is None else f"needs >= {max(needed, MIN_CASES)} cases"
    return (
        f"{where}: {n} cases against the {metric} threshold of {threshold:.2f}: "
        f"even {n}/{n} has a 95% lower bound of {perfect_low:.2f} ({advice})"
    )
