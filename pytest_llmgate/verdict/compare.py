"""Backends side by side: per-category metrics, paired comparisons on the same cases, and
per-label classification scores. Pure functions over case rows.

Every comparison is made within one gate group (one task), never across groups; rows of one source
case (its attacks, perturbations and draws) form one cluster, and intervals and tests count clusters,
not rows (docs/stats.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from ..suite.terms import CATEGORIES
from .rows import CASE, ERROR, NOT_RUN, SKIPPED, CaseRow
from .stats import (
    Z_95,
    cluster_z,
    effective_cases,
    effective_pairs,
    mcnemar_exact,
    min_cases_for_threshold,
    paired_difference_interval,
    percentile,
    precision_recall_f1,
    proportion,
    sign_flip_p,
    wilson_interval,
)

ALL = "all"  # the pseudo-category of every case of a group together
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


def counted_once(rows: Iterable[CaseRow]) -> list[CaseRow]:
    """``rows`` with the draws that cannot differ left out: draws of one case on one backend answered by
    the same request (temperature 0 keys every draw alike, answers/cache.py) are one answer, kept once."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        if row.samples > 1 and row.request_key is not None and row.answered:
            key = (row.backend, row.request_key)
            if key in seen:
                continue
            seen.add(key)
        kept.append(row)
    return kept


def clusters_of(rows: Iterable[CaseRow], value: str = "passed") -> list[tuple[int, int]]:
    """(successes, rows) per source case of ``rows``, for the boolean field ``value`` of each row."""
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for row in rows:
        successes, size = counts.get(row.cluster, (0, 0))
        counts[row.cluster] = (successes + bool(getattr(row, value)), size + 1)
    return list(counts.values())


def clustered_interval(clusters: Sequence[tuple[int, int]]) -> tuple[float, float, float]:
    """(low, high, effective cases): the 95% Wilson interval of the pooled rate of ``clusters`` with the
    effective number of independent cases as its n."""
    n = sum(size for _, size in clusters)
    if n == 0:
        return 0.0, 1.0, 0.0
    effective = effective_cases(clusters)
    z = cluster_z(Z_95, len(clusters), n)
    low, high = wilson_interval(sum(s for s, _ in clusters) / n * effective, effective, z)
    return low, high, effective


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
    graded: int  # answered cases with correctness checks: accuracy's denominator
    passed: int
    clusters: int  # source cases behind the graded cases: the independent evidence
    effective_n: float  # independent cases the graded ones are worth (the Wilson interval's n)
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
    group: str = ALL  # the gate group (task) of these cases; ``all``: every group (a pooled summary)
    ungraded: int = 0  # answered cases whose judge's verdict does not count (below its rubric's min_kappa)

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

    @property
    def evidence(self) -> str:
        """'104 graded cases in 4 clusters', or '122 graded cases' when every case is its own source."""
        clusters = f" in {self.clusters} clusters" if self.clusters < self.graded else ""
        return f"{self.graded} graded cases{clusters}"


def category_stats(backend: str, category: str, rows: Sequence[CaseRow], group: str = ALL) -> CategoryStats:
    """The metrics of ``rows`` (one backend, one category or ``all``, of ``group``); skipped rows are ignored."""
    rows = [r for r in rows if r.status != SKIPPED]
    done = answered_rows(rows)
    searches = [r.search for r in rows if r.search is not None and r.answered]
    right = graded(done)
    shaped = [r for r in done if r.format_ok is not None]
    passed, format_ok = sum(bool(r.passed) for r in right), sum(bool(r.format_ok) for r in shaped)
    accuracy_clusters = clusters_of(right)
    low, high, effective = clustered_interval(accuracy_clusters)
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
        clusters=len(accuracy_clusters),
        effective_n=effective,
        formatted=len(shaped),
        format_ok=format_ok,
        accuracy=proportion(passed, len(right)),
        accuracy_low=low,
        accuracy_high=high,
        format_rate=proportion(format_ok, len(shaped)),
        format_low=clustered_interval(clusters_of(shaped, "format_ok"))[0],
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
        variants=sum(s.variants for s in searches),
        variants_held=sum(s.variants_held for s in searches),
        group=group,
        ungraded=sum(r.ungraded is not None for r in done),
    )


def categories_of(rows: Iterable[CaseRow]) -> list[str]:
    """The categories present in ``rows`` in the usual order, then ``all``."""
    present = {r.category for r in rows}
    return [c for c in CATEGORIES if c in present] + [ALL]


def in_category(rows: Iterable[CaseRow], category: str) -> list[CaseRow]:
    """The rows of ``category``; every row for ``all``."""
    return [r for r in rows if category in (ALL, r.category)]


def groups_of(rows: Iterable[CaseRow]) -> list[str]:
    """The gate groups of ``rows`` (cases known only by node id left out), by name."""
    return sorted({r.group for r in rows if r.category})


def side_by_side(rows: Sequence[CaseRow]) -> list[CategoryStats]:
    """For every group, each of its categories (and ``all``, the group's cases together), one CategoryStats
    per backend, backends by name. Groups are never pooled: each is its own task."""
    backends = sorted({r.backend for r in rows})
    stats = []
    for group in groups_of(rows):
        mine = [r for r in rows if r.group == group]
        for category in categories_of(mine):
            chosen = in_category(mine, category)
            stats += [
                category_stats(backend, category, [r for r in chosen if r.backend == backend], group)
                for backend in backends
            ]
    return stats


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
    p_value: float  # McNemar's exact test, or the sign-flip test over clusters when cases share a source
    group: str = ALL
    clusters: int = 0  # source cases behind the n pairs
    effective_n: float = 0.0  # independent pairs the n are worth
    ci_low_points: float = -100.0  # the interval of gain_points (Tango's, on the effective counts)
    ci_high_points: float = 100.0

    @property
    def gain_points(self) -> float:
        """Challenger minus control accuracy, in percentage points."""
        return 100 * (len(self.won) - len(self.lost)) / self.n if self.n else 0.0

    def significant(self, alpha: float) -> bool:
        """True when the difference would be unlikely (p < alpha) were the two equally good."""
        return self.p_value < alpha

    @property
    def evidence(self) -> str:
        """'111 cases in 7 clusters', or '185 cases' when every case is its own source."""
        return f"{self.n} cases" + (f" in {self.clusters} clusters" if self.clusters < self.n else "")

    def scaled(self) -> tuple[float, float, float]:
        """(won, lost, n) scaled to the effective number of independent pairs."""
        factor = self.effective_n / self.n if self.n else 0.0
        return len(self.won) * factor, len(self.lost) * factor, self.effective_n

    def to_dict(self) -> dict:
        """A JSON-ready dict, with the gain in points."""
        data = asdict(self)
        data.update(won=list(self.won), lost=list(self.lost), gain_points=self.gain_points)
        return data


def paired(
    rows: Iterable[CaseRow],
    control: str,
    challenger: str,
    category: str = ALL,
    group: str | None = None,
    z: float = Z_95,
) -> PairedComparison:
    """Compare ``challenger`` with ``control`` on the graded cases of ``group`` (every row when None) and
    ``category`` that both answered, matched on file, case id and draw. Pairs of one source case are one
    cluster: the p-value is the sign-flip test over clusters (McNemar's exact test when every cluster is
    one pair) and the interval Tango's on the effective counts (docs/stats.md)."""
    by_backend: dict[str, dict[tuple[str, str, int], CaseRow]] = {control: {}, challenger: {}}
    for row in graded(in_category(rows, category)):
        if row.backend in by_backend and (group is None or row.group == group):
            by_backend[row.backend][(row.file, row.id, row.sample)] = row
    keys = sorted(by_backend[control].keys() & by_backend[challenger].keys())
    pairs = [(by_backend[control][k], by_backend[challenger][k]) for k in keys]
    won = tuple(c.id for b, c in pairs if c.passed and not b.passed)
    lost = tuple(b.id for b, c in pairs if b.passed and not c.passed)
    per_cluster: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for b, c in pairs:
        counts = per_cluster[c.cluster]
        counts[0] += bool(c.passed and not b.passed)
        counts[1] += bool(b.passed and not c.passed)
        counts[2] += 1
    clusters = [(w, lo, size) for w, lo, size in per_cluster.values()]
    independent = len(clusters) == len(pairs)
    effective = effective_pairs(clusters)
    factor = effective / len(pairs) if pairs else 0.0
    critical = cluster_z(z, len(clusters), len(pairs))
    low, high = paired_difference_interval(len(won) * factor, len(lost) * factor, effective, critical)
    return PairedComparison(
        control=control,
        challenger=challenger,
        category=category,
        n=len(pairs),
        control_accuracy=proportion(sum(bool(b.passed) for b, _ in pairs), len(pairs)),
        challenger_accuracy=proportion(sum(bool(c.passed) for _, c in pairs), len(pairs)),
        won=won,
        lost=lost,
        p_value=mcnemar_exact(len(won), len(lost)) if independent else sign_flip_p([w - lo for w, lo, _ in clusters]),
        group=ALL if group is None else group,
        clusters=len(clusters),
        effective_n=effective,
        ci_low_points=low,
        ci_high_points=high,
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
