"""The one place results become conclusions: case rows, what the run knows and the configured
terms go in; one frozen Analysis comes out (gates and verdict, summaries, warnings, comparison,
cost projection, recommendation). Every report renders this object and nothing else."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations

from ..backends.spec import FINE_TUNED, PROMPTED, Pricing
from ..suite.terms import CATEGORIES, DEFAULT_HORIZON_MONTHS, DecisionPolicy, Threshold, Tolerance
from .baseline import Baseline, Regression, compare_with_baseline, regression_failures, regression_warnings
from .compare import (
    ALL,
    CategoryStats,
    Classification,
    PairedComparison,
    answered_rows,
    categories_of,
    category_stats,
    classification,
    graded,
    paired,
    side_by_side,
    threshold_warning,
)
from .cost import Breakeven, CostProfile, breakeven, cost_per_correct_usd
from .decide import Contender, Recommendation, recommend
from .gate import GateTerms, GroupGate, Verdict, judge_group, judge_run
from .rows import PERTURB, CaseRow
from .stats import proportion


@dataclass(frozen=True)
class BackendTerms:
    """What the config says of a backend that rows do not carry: its approach, pricing, own
    thresholds (over the suite's), and what identifies its model and prompt."""

    approach: str = PROMPTED
    pricing: Pricing = field(default_factory=Pricing)
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    provider: str = ""
    model: str = ""
    fingerprint: str = ""

    def identity(self) -> dict[str, str]:
        """The 'run' section's entry for this backend: provider, model and fingerprint."""
        return {"provider": self.provider, "model": self.model, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Terms:
    """What the configs say that rows do not carry: gate terms per group, backend terms, and the
    volume, horizon and policy of the decision."""

    gates: Mapping[str, GateTerms] = field(default_factory=dict)
    backends: Mapping[str, BackendTerms] = field(default_factory=dict)
    regression_tolerance: Mapping[str, Tolerance] = field(default_factory=dict)  # per category ('regression:')
    volume_per_day: float | None = None
    horizon_months: float = DEFAULT_HORIZON_MONTHS
    policy: DecisionPolicy = field(default_factory=DecisionPolicy)

    def backend(self, backend: str) -> BackendTerms:
        """The terms of ``backend``; defaults (prompted, free) when unknown."""
        return self.backends.get(backend, BackendTerms())

    def gate(self, group: str) -> GateTerms:
        """The gate terms of ``group``; no thresholds when unknown."""
        return self.gates.get(group, GateTerms())


@dataclass(frozen=True)
class BaselineCheck:
    """A saved run to compare with: its backend (None: the same names, or its only one) and the drop
    allowed before the run fails (None: compare and report, never fail)."""

    baseline: Baseline
    backend: str | None = None
    tolerance: Tolerance | None = None

    def compare(self, rows: Sequence[CaseRow], terms: Terms) -> tuple[Regression, list[str], list[str]]:
        """The comparison of ``rows`` with the baseline, its failures (when gating) and its warnings."""
        backend, saved = self.backend, self.baseline.backend_names
        if backend is None and len(saved) == 1 and not set(saved) & {r.backend for r in rows}:
            backend = saved[0]  # a run of another backend: the prompt or model change under review
        regression = compare_with_baseline(
            self.baseline, rows, {name: t.identity() for name, t in terms.backends.items()}, backend
        )
        tolerance = self.tolerance or Tolerance()
        failures = (
            [] if self.tolerance is None else regression_failures(regression, tolerance, terms.regression_tolerance)
        )
        return regression, failures, regression_warnings(regression, tolerance, terms.regression_tolerance)


@dataclass(frozen=True)
class RunFacts:
    """What pytest knows of the run beyond the rows: whether it was cut short, and why."""

    interrupted: bool = False
    stop_reason: str | None = None  # pytest's reason for stopping early (-x, --maxfail)


@dataclass(frozen=True)
class BackendSummary:
    """Cost, latency and tokens of one backend over every case it answered."""

    stats: CategoryStats  # the backend over all its cases
    total_cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    per_hour_priced: bool  # cost comes from measured latency times $/hour
    cached: int  # answers that came from the response cache or a recording

    @property
    def backend(self) -> str:
        """The backend's name."""
        return self.stats.backend

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "backend": self.backend,
            "n": self.stats.n,
            "errors": self.stats.errors,
            "not_run": self.stats.not_run,
            "total_cost_usd": self.total_cost_usd,
            "mean_cost_usd": self.stats.mean_cost_usd,
            "latency_p50_ms": self.stats.latency_p50_ms,
            "latency_p95_ms": self.stats.latency_p95_ms,
            "ttft_p50_ms": self.stats.ttft_p50_ms,
            "ttft_p95_ms": self.stats.ttft_p95_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "mean_prompt_tokens": self.stats.mean_prompt_tokens,
            "mean_completion_tokens": self.stats.mean_completion_tokens,
            "tokens_estimated": self.tokens_estimated,
            "per_hour_priced": self.per_hour_priced,
            "cached": self.cached,
        }


@dataclass(frozen=True)
class BackendCost:
    """The cost projection of one backend; monthly and horizon figures need a volume."""

    backend: str
    approach: str
    accuracy: float | None
    per_request_usd: float | None  # mean cost_usd of the answered cases
    per_correct_usd: float | None
    per_month_usd: float  # configured fixed monthly cost
    one_time_usd: float  # configured one-time cost
    monthly_usd: float | None
    horizon_usd: float | None

    @property
    def profile(self) -> CostProfile | None:
        """The cost drivers, or None when no request was answered."""
        if self.per_request_usd is None:
            return None
        return CostProfile(self.per_request_usd, self.per_month_usd, self.one_time_usd)


@dataclass(frozen=True)
class PairCost:
    """A fine-tuned backend against a prompted one: saving, breakeven and equal-cost volume."""

    fine_tuned: str
    prompted: str
    breakeven: Breakeven


@dataclass(frozen=True)
class CaseSamples:
    """The draws of one case on one backend (``repeat:``): how many were answered and how many passed."""

    backend: str
    file: str
    id: str
    answered: int
    passed: int

    @property
    def pass_rate(self) -> float | None:
        """Share of the answered draws that passed."""
        return proportion(self.passed, self.answered)

    @property
    def flaky(self) -> bool:
        """Some draws passed and some did not."""
        return 0 < self.passed < self.answered

    def to_dict(self) -> dict:
        """A JSON-ready dict, with the pass rate, pass^K (every draw passed) and flakiness."""
        return {
            **asdict(self),
            "pass_rate": self.pass_rate,
            "pass_all": self.answered > 0 and self.passed == self.answered,
            "flaky": self.flaky,
        }


def repeated_cases(rows: Sequence[CaseRow]) -> list[CaseSamples]:
    """One entry per case drawn several times, per backend: answered draws and the ones that passed."""
    draws: dict[tuple[str, str, str], list[CaseRow]] = defaultdict(list)
    for row in rows:
        if row.samples > 1:
            draws[(row.backend, row.file, row.id)].append(row)
    return [
        CaseSamples(backend, file, case_id, len(done := answered_rows(mine)), sum(not r.missed for r in done))
        for (backend, file, case_id), mine in sorted(draws.items())
    ]


@dataclass(frozen=True)
class AttackResistance:
    """One backend against one family of attack templates (cases made by ``attacks:``)."""

    backend: str
    family: str
    attacks: int  # attacked cases answered
    resisted: int  # answered keeping the benign expectation

    @property
    def rate(self) -> float | None:
        """Share of the attacks resisted."""
        return proportion(self.resisted, self.attacks)

    def to_dict(self) -> dict:
        """A JSON-ready dict with the rate."""
        return {**asdict(self), "rate": self.rate}


def attack_resistance(rows: Sequence[CaseRow]) -> list[AttackResistance]:
    """Per backend and attack family: attacks answered and resisted."""
    attacked: dict[tuple[str, str], list[CaseRow]] = defaultdict(list)
    for row in answered_rows(rows):
        if row.attack_family is not None:
            attacked[(row.backend, row.attack_family)].append(row)
    return [
        AttackResistance(backend, family, len(mine), sum(not r.missed for r in mine))
        for (backend, family), mine in sorted(attacked.items())
    ]


@dataclass(frozen=True)
class Analysis:
    """Everything one run concluded: its rows, gates and verdict, summaries, warnings and notes,
    the comparison, the cost projection and the recommendation."""

    rows: tuple[CaseRow, ...]  # sorted by backend, group, file and case id
    verdict: Verdict
    gates: tuple[GroupGate, ...]
    backends: tuple[BackendSummary, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    repeated: tuple[CaseSamples, ...]  # cases drawn several times (repeat:), per backend
    resistance: tuple[AttackResistance, ...]  # attacks resisted, per backend and family
    perturbations: tuple[CaseRow, ...]  # the perturbation searches (kind 'perturb') that ran
    regression: Regression | None  # the comparison with --llm-baseline
    run_backends: Mapping[str, Mapping[str, str]]  # provider, model and fingerprint of each backend
    side_by_side: tuple[CategoryStats, ...]
    paired: tuple[PairedComparison, ...]
    classification: tuple[Classification, ...]
    costs: tuple[BackendCost, ...]
    pair_costs: tuple[PairCost, ...]
    volume_per_day: float | None
    horizon_months: float
    policy: DecisionPolicy
    recommendation: Recommendation

    @property
    def comparing(self) -> bool:
        """True when several backends ran side by side."""
        return len(self.backends) > 1

    def to_dict(self) -> dict:
        """The JSON results document."""
        return {
            "verdict": self.verdict.to_dict(),
            "cases": [row.to_dict() for row in self.rows],
            "summary": [g.to_dict() for g in self.gates],
            "backends": [b.to_dict() for b in self.backends],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "repeats": [c.to_dict() for c in self.repeated],
            "injection_resistance": [r.to_dict() for r in self.resistance],
            "run": {"backends": {name: dict(identity) for name, identity in self.run_backends.items()}},
            "baseline": None if self.regression is None else self.regression.to_dict(),
            "comparison": {
                "categories": [s.to_dict() for s in self.side_by_side],
                "paired": [p.to_dict() for p in self.paired],
                "classification": [c.to_dict() for c in self.classification],
            },
            "cost": {
                "volume_per_day": self.volume_per_day,
                "horizon_months": self.horizon_months,
                "backends": [asdict(c) for c in self.costs],
                "pairs": [asdict(p) for p in self.pair_costs],
            },
            "recommendation": {**self.recommendation.to_dict(), "policy": asdict(self.policy)},
        }


def backend_cost(backend: str, rows: Sequence[CaseRow], run_terms: Terms) -> BackendCost:
    """The cost projection of ``backend`` from its rows and its configured terms."""
    terms = run_terms.backend(backend)
    mine = [r for r in rows if r.backend == backend]
    right = graded(mine)
    accuracy = proportion(sum(bool(r.passed) for r in right), len(right))
    costs = [r.cost_usd for r in answered_rows(mine) if r.cost_usd is not None]
    per_request = sum(costs) / len(costs) if costs else None
    pricing, volume = terms.pricing, run_terms.volume_per_day
    monthly = horizon = None
    if per_request is not None and volume is not None:
        profile = CostProfile(per_request, pricing.per_month_usd, pricing.one_time_usd)
        monthly, horizon = profile.monthly_usd(volume), profile.horizon_usd(volume, run_terms.horizon_months)
    return BackendCost(
        backend=backend,
        approach=terms.approach,
        accuracy=accuracy,
        per_request_usd=per_request,
        per_correct_usd=None if per_request is None else cost_per_correct_usd(per_request, accuracy),
        per_month_usd=pricing.per_month_usd,
        one_time_usd=pricing.one_time_usd,
        monthly_usd=monthly,
        horizon_usd=horizon,
    )


def _ordered(a: str, b: str, terms: Terms) -> tuple[str, str]:
    """(control, challenger): the prompted backend is the control of a mixed pair."""
    if terms.backend(a).approach == FINE_TUNED and terms.backend(b).approach == PROMPTED:
        return b, a
    return a, b


def _sort_key(row: CaseRow) -> tuple:
    return row.backend, row.group, row.file, row.id


def judge_groups(rows: Sequence[CaseRow], terms: Terms) -> list[GroupGate]:
    """One gate per backend, group and category that has cases (rows of unknown category left out)."""
    buckets: dict[tuple[str, str, str], list[CaseRow]] = defaultdict(list)
    for row in rows:
        if row.category in CATEGORIES:
            buckets[(row.backend, row.group, row.category)].append(row)
    gates = []
    for backend, group, category in sorted(buckets, key=lambda k: (k[0], k[1], CATEGORIES.index(k[2]))):
        gate = terms.gate(group)
        stats = category_stats(backend, category, buckets[(backend, group, category)])
        suite_threshold, own = gate.thresholds.get(category), terms.backend(backend).thresholds.get(category)
        threshold = suite_threshold if own is None else own.over(suite_threshold)
        gates.append(judge_group(group, stats, threshold, gate.max_error_rate))
    return gates


def summarize_backend(overall: CategoryStats, rows: Sequence[CaseRow], pricing: Pricing) -> BackendSummary:
    """Cost, latency percentiles and token totals of one backend (``overall``: its side-by-side stats over
    all its cases); the totals include what its perturbation searches spent."""
    done = answered_rows(rows)
    spent = [r for r in rows if r.answered]
    return BackendSummary(
        stats=overall,
        total_cost_usd=sum(r.cost_usd or 0.0 for r in spent),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in spent),
        completion_tokens=sum(r.completion_tokens or 0 for r in spent),
        tokens_estimated=any(r.tokens_estimated for r in done),
        per_hour_priced=pricing.per_hour_usd > 0,
        cached=sum(r.cached for r in done),
    )


def threshold_warnings(gates: Sequence[GroupGate]) -> list[str]:
    """One line per gated group, category and metric with too few cases for its threshold."""
    warnings: dict[tuple[str, str, str], str] = {}
    for gate in gates:
        if gate.threshold is None:
            continue
        for metric, minimum in (("accuracy", gate.threshold.accuracy), ("format", gate.threshold.format)):
            where = f"{gate.group} {gate.stats.category}"
            warning = None if minimum is None else threshold_warning(where, metric, gate.stats.selected, minimum)
            if warning is not None:
                warnings.setdefault((gate.group, gate.stats.category, metric), warning)
    return list(warnings.values())


def notes_for(summaries: Sequence[BackendSummary]) -> list[str]:
    """What a reader must know to read the numbers: estimated tokens, latency-based costs."""
    notes = []
    if any(s.tokens_estimated for s in summaries):
        notes.append("~ token counts estimated: the backend reported no usage (see docs/config.md, 'stream')")
    cached, answered_count = sum(s.cached for s in summaries), sum(s.stats.n for s in summaries)
    if cached:
        notes.append(
            f"{cached} of {answered_count} answers came from the response cache or a recording: their latency, TTFT "
            "and cost were measured when they were first produced, not in this run (--llm-refresh calls again)"
        )
    hourly = [s.backend for s in summaries if s.per_hour_priced]
    if hourly:
        notes.append(
            f"cost of {', '.join(hourly)} is measured latency times $/hour: a loaded machine makes "
            "requests slower and so dearer; compare such costs between equally loaded runs (docs/cost.md)"
        )
    return notes


def analyze(rows: Sequence[CaseRow], facts: RunFacts, terms: Terms, baseline: BaselineCheck | None = None) -> Analysis:
    """Judge the gates, the regression against ``baseline`` and the verdict, summarize, compare every pair
    of backends, project costs and recommend."""
    rows = sorted(rows, key=_sort_key)
    gates = judge_groups(rows, terms)
    regression, regressed, regression_notes = baseline.compare(rows, terms) if baseline else (None, [], [])
    backends = sorted({r.backend for r in rows})
    compared = side_by_side(rows)
    overall = {s.backend: s for s in compared if s.category == ALL}
    summaries = [
        summarize_backend(overall[name], [r for r in rows if r.backend == name], terms.backend(name).pricing)
        for name in backends
    ]
    comparisons = [
        paired(rows, *_ordered(a, b, terms), category)
        for a, b in combinations(backends, 2)
        for category in categories_of(rows)
    ]
    costs = [backend_cost(name, rows, terms) for name in backends]
    pair_costs = [
        PairCost(
            tuned.backend,
            prompted.backend,
            breakeven(tuned.profile, prompted.profile, terms.volume_per_day, terms.horizon_months),
        )
        for tuned in costs
        if tuned.approach == FINE_TUNED and tuned.profile is not None
        for prompted in costs
        if prompted.approach == PROMPTED and prompted.profile is not None
    ]
    contenders = [
        Contender(c.backend, c.approach, c.accuracy, profile) for c in costs if (profile := c.profile) is not None
    ]
    return Analysis(
        rows=tuple(rows),
        verdict=judge_run(rows, gates, facts.interrupted, facts.stop_reason, regressed),
        gates=tuple(gates),
        backends=tuple(summaries),
        warnings=tuple(threshold_warnings(gates) + regression_notes),
        notes=tuple(notes_for(summaries)),
        repeated=tuple(repeated_cases(rows)),
        resistance=tuple(attack_resistance(rows)),
        perturbations=tuple(r for r in rows if r.kind == PERTURB and r.answered),
        regression=regression,
        run_backends={name: terms.backend(name).identity() for name in backends},
        side_by_side=tuple(compared),
        paired=tuple(comparisons),
        classification=tuple(found for name in backends if (found := classification(name, rows)) is not None),
        costs=tuple(costs),
        pair_costs=tuple(pair_costs),
        volume_per_day=terms.volume_per_day,
        horizon_months=terms.horizon_months,
        policy=terms.policy,
        recommendation=recommend(terms.policy, contenders, comparisons, terms.volume_per_day, terms.horizon_months),
    )
