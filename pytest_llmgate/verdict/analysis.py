"""The one place results become conclusions: case rows, what the run knows and the configured
terms go in; one frozen Analysis comes out (gates and verdict, summaries, warnings, comparison,
cost projection, recommendation). Every report renders this object and nothing else."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations

from ..backends.spec import APPROACHES, PROMPTED, Pricing
from ..suite.terms import CATEGORIES, DEFAULT_HORIZON_MONTHS, DecisionPolicy, Threshold, Tolerance
from .baseline import Baseline, Regression, compare_with_baseline, judge_regression
from .calibration import (
    JudgeCalibration,
    JudgeCost,
    JudgedCases,
    PairwiseSummary,
    calibrations,
    graded_by_trust,
    judge_costs,
    judged_cases,
    pairwise_summaries,
    trust_notes,
)
from .compare import (
    ALL,
    CategoryStats,
    Classification,
    PairedComparison,
    answered_rows,
    categories_of,
    category_stats,
    classification,
    counted_once,
    groups_of,
    paired,
    side_by_side,
    threshold_warning,
)
from .cost import CostProfile, PairCost, breakeven, compute_usd, cost_per_correct_usd, request_cost_usd
from .decide import Contender, Recommendation, recommend
from .gate import GateTerms, GroupGate, Verdict, judge_group, judge_run
from .results import SCHEMA_VERSION
from .rows import GRADED_KINDS, PAIRWISE, CaseRow
from .service import CostBasis, ServiceTime, service_time
from .stats import mean_and_se, proportion, two_sided_z


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
    cost_from_cache: bool = False  # --llm-cost-from-cache: cached answers' old timings count in per-hour costs too

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
        failures, warnings = judge_regression(regression, self.tolerance or Tolerance(), terms.regression_tolerance)
        return regression, failures if self.tolerance is not None else [], warnings


@dataclass(frozen=True)
class RunFacts:
    """What pytest knows of the run beyond the rows: whether it was cut short, and why."""

    interrupted: bool = False
    stop_reason: str | None = None  # pytest's reason for stopping early (-x, --maxfail)
    subset: str | None = None  # 'subset: 24 of 646 cases (-k)' when only part of the suite was selected
    concurrency_notes: tuple[str, ...] = ()  # backends whose calls at once were lowered by overload, and why


@dataclass(frozen=True)
class BackendSummary:
    """Cost, latency and tokens of one backend over every case it answered, every group pooled (a
    summary of what the run spent, never what a comparison or a decision uses)."""

    stats: CategoryStats  # the backend over all its cases, every group pooled
    total_cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    per_hour_priced: bool  # cost comes from measured latency times $/hour
    cached: int  # answers that came from the response cache or a recording
    answered: int = 0  # every answered row, perturbation searches included: what the verdict counts

    @property
    def backend(self) -> str:
        """The backend's name."""
        return self.stats.backend

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "backend": self.backend,
            "answered": self.answered,
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
    """The cost projection of one backend on one gate group; monthly and horizon figures need a volume.

    ``per_request_usd`` is the mean cost of the requests priced in this run. A backend priced by the hour is
    priced at its estimated service time (verdict/service.py: token counts at per-token times from its fresh
    calls), so load does not move it and cached answers count; when those times cannot be estimated, at each
    answer's measured latency, fresh answers only (a cached one was timed in another run) unless
    --llm-cost-from-cache."""

    backend: str
    approach: str
    accuracy: float | None  # the group's accuracy, from the side-by-side table
    per_request_usd: float | None
    per_correct_usd: float | None
    per_month_usd: float  # configured fixed monthly cost
    one_time_usd: float  # configured one-time cost
    monthly_usd: float | None
    horizon_usd: float | None
    group: str = ALL
    per_request_se_usd: float = 0.0  # standard error of per_request_usd, from the spread of the requests
    priced: int = 0  # requests per_request_usd is the mean of
    cached_left_out: int = 0  # cached answers left out of it (timings from another run)
    basis: CostBasis = "tokens"  # what a request's price rests on: tokens, estimated service time or latency
    rate_se_usd: float = 0.0  # the part of per_request_se_usd that the estimated service time's own uncertainty makes

    @property
    def profile(self) -> CostProfile | None:
        """The cost drivers, or None when no request was priced."""
        if self.per_request_usd is None:
            return None
        return CostProfile(self.per_request_usd, self.per_month_usd, self.one_time_usd, self.per_request_se_usd)

    def missing_note(self) -> str:
        """Why the cost was not measured, for the decision's cost step."""
        if self.cached_left_out:
            return (
                f"{self.backend} is priced by the hour and its {self.cached_left_out} answers came from the cache, "
                "timed in another run (--llm-refresh measures them; --llm-cost-from-cache uses the old timings)"
            )
        return f"{self.backend} answered no case of {self.group}"


@dataclass(frozen=True)
class CaseSamples:
    """The genuinely sampled draws of one case on one backend (``repeat:`` with sampling): how many
    draws were answered and how many passed. Draws that cannot differ are counted once, not here."""

    backend: str
    file: str
    id: str
    draws_answered: int
    draws_passed: int

    @property
    def pass_rate(self) -> float | None:
        """Share of the answered draws that passed."""
        return proportion(self.draws_passed, self.draws_answered)

    @property
    def pass_all(self) -> bool:
        """Every draw passed (pass^k)."""
        return self.draws_answered > 0 and self.draws_passed == self.draws_answered

    @property
    def flaky(self) -> bool:
        """Some draws passed and some did not."""
        return 0 < self.draws_passed < self.draws_answered

    def to_dict(self) -> dict:
        """A JSON-ready dict, with the pass rate, pass^K (every draw passed) and flakiness."""
        return {**asdict(self), "pass_rate": self.pass_rate, "pass_all": self.pass_all, "flaky": self.flaky}


@dataclass(frozen=True)
class RepeatSummary:
    """One backend's sampled repeats: cases, draws, the pass rate over draws, and pass^k."""

    backend: str
    cases: int
    draws: int
    passed: int
    all_passed: int  # cases whose every draw passed
    flaky: tuple[str, ...]  # 'file::id (passed/draws)'

    @property
    def pass_rate(self) -> float | None:
        """Share of all answered draws that passed."""
        return proportion(self.passed, self.draws)

    def to_dict(self) -> dict:
        """A JSON-ready dict with the pass rate."""
        return {**asdict(self), "flaky": list(self.flaky), "pass_rate": self.pass_rate}


def repeated_cases(rows: Sequence[CaseRow], counted: Sequence[CaseRow]) -> tuple[list[CaseSamples], list[str]]:
    """The cases drawn several times whose draws could differ (``counted``: ``rows`` with identical
    draws kept once), per backend; and one note per backend whose draws were identical."""
    draws: dict[tuple[str, str, str], list[CaseRow]] = defaultdict(list)
    for row in counted:
        if row.samples > 1:
            draws[(row.backend, row.file, row.id)].append(row)
    identical: dict[str, list[CaseRow]] = defaultdict(list)
    for row in answered_rows(rows):
        key = (row.backend, row.file, row.id)
        if row.samples > 1 and row.sample == 1 and len(answered_rows(draws.get(key, []))) <= 1:
            identical[row.backend].append(row)
    notes = [
        f"{backend}: repeat {mine[0].samples} at temperature 0: the {mine[0].samples} draws of each of "
        f"{len(mine)} cases are identical (one request, one cache entry): counted once; pass^k and "
        "flakiness need sampled draws (temperature > 0)"
        for backend, mine in sorted(identical.items())
    ]
    sampled = [
        CaseSamples(backend, file, case_id, len(done), sum(not r.missed for r in done))
        for (backend, file, case_id), mine in sorted(draws.items())
        if len(done := answered_rows(mine)) > 1
    ]
    return sampled, notes


def repeat_summaries(cases: Sequence[CaseSamples]) -> list[RepeatSummary]:
    """Per backend with sampled repeats: cases, draws, passes, pass^k and the flaky cases."""
    summaries = []
    for backend in sorted({c.backend for c in cases}):
        mine = [c for c in cases if c.backend == backend]
        summaries.append(
            RepeatSummary(
                backend,
                len(mine),
                sum(c.draws_answered for c in mine),
                sum(c.draws_passed for c in mine),
                sum(c.pass_all for c in mine),
                tuple(f"{c.file}::{c.id} ({c.draws_passed}/{c.draws_answered})" for c in mine if c.flaky),
            )
        )
    return summaries


@dataclass(frozen=True)
class AttackResistance:
    """One backend against one family of attack templates (cases made by ``attacks:``) on one group."""

    backend: str
    family: str
    attacks: int  # attacked cases answered
    resisted: int  # answered keeping the benign expectation
    group: str = ALL
    sources: int = 0  # written cases the attacks were made from: the independent evidence

    @property
    def rate(self) -> float | None:
        """Share of the attacks resisted."""
        return proportion(self.resisted, self.attacks)

    def to_dict(self) -> dict:
        """A JSON-ready dict with the rate."""
        return {**asdict(self), "rate": self.rate}


def attack_resistance(rows: Sequence[CaseRow]) -> list[AttackResistance]:
    """Per backend, group and attack family: attacks answered and resisted, and their source cases."""
    attacked: dict[tuple[str, str, str], list[CaseRow]] = defaultdict(list)
    for row in answered_rows(rows):
        if row.attack_family is not None:
            attacked[(row.backend, row.group, row.attack_family)].append(row)
    return [
        AttackResistance(
            backend, family, len(mine), sum(not r.missed for r in mine), group, len({r.cluster for r in mine})
        )
        for (backend, group, family), mine in sorted(attacked.items())
    ]


# The checks of what tools an answer called; their share passed is the tool-call accuracy.
TOOL_CHECKS = ("tool_call", "no_tool_call")


@dataclass(frozen=True)
class ToolAccuracy:
    """One backend's tool-call checks (tool_call, no_tool_call) on one category: checked and passed,
    each turn of a conversation counting on its own, and the cases they sat on."""

    backend: str
    category: str
    checks: int
    passed: int
    cases: int

    @property
    def rate(self) -> float | None:
        """Share of the tool-call checks passed."""
        return proportion(self.passed, self.checks)

    def to_dict(self) -> dict:
        """A JSON-ready dict with the rate."""
        return {**asdict(self), "rate": self.rate}


def tool_accuracy(rows: Sequence[CaseRow]) -> list[ToolAccuracy]:
    """Per backend and category (and over all its categories): the tool-call checks of answered cases and
    the share passed; nothing for a backend none of whose cases checks a tool call."""
    checked: dict[tuple[str, str], list[tuple[CaseRow, bool]]] = defaultdict(list)
    for row in answered_rows(rows):
        for check in row.checks:
            if check["name"] in TOOL_CHECKS:
                for category in (row.category, ALL):
                    checked[(row.backend, category)].append((row, bool(check["passed"])))
    return [
        ToolAccuracy(backend, category, len(mine), sum(ok for _, ok in mine), len({id(r) for r, _ in mine}))
        for (backend, category), mine in sorted(
            checked.items(), key=lambda item: (item[0][0], item[0][1] == ALL, item[0][1])
        )
    ]


@dataclass(frozen=True)
class Analysis:
    """Everything one run concluded: its rows, gates and verdict, summaries, warnings and notes,
    the comparison, the cost projection and the recommendations, each per gate group."""

    rows: tuple[CaseRow, ...]  # sorted by backend, group, file, case id and draw
    verdict: Verdict
    gates: tuple[GroupGate, ...]
    backends: tuple[BackendSummary, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    repeated: tuple[CaseSamples, ...]  # cases drawn several times with sampling (repeat:), per backend
    repeats: tuple[RepeatSummary, ...]  # the same per backend
    resistance: tuple[AttackResistance, ...]  # attacks resisted, per backend, group and family
    tools: tuple[ToolAccuracy, ...]  # tool-call checks passed, per backend and category (and all)
    perturbations: tuple[CaseRow, ...]  # the perturbation searches (kind 'perturb') that ran
    regression: Regression | None  # the comparison with --llm-baseline
    run_backends: Mapping[str, Mapping[str, str]]  # provider, model and fingerprint of each backend
    side_by_side: tuple[CategoryStats, ...]  # per group, category (and the group's all) and backend
    paired: tuple[PairedComparison, ...]  # per group, pair and category
    classification: tuple[Classification, ...]
    costs: tuple[BackendCost, ...]  # per group and backend
    pair_costs: tuple[PairCost, ...]  # per group and fine-tuned/prompted pair
    volume_per_day: float | None
    horizon_months: float
    policy: DecisionPolicy
    recommendations: tuple[Recommendation, ...]  # one per gate group
    service_times: tuple[ServiceTime, ...] = ()  # what the per-hour backends' comparison costs rest on
    calibrations: tuple[JudgeCalibration, ...] = ()  # each judge measured on a rubric's labelled examples
    pairwise: tuple[PairwiseSummary, ...] = ()  # judges' comparisons of two backends' answers
    pairwise_rows: tuple[CaseRow, ...] = ()  # each compared case
    judging: tuple[JudgeCost, ...] = ()  # what each judge's calls spent, apart from the answers
    judged: tuple[JudgedCases, ...] = ()  # each judge's verdicts on each backend's cases, unstable ones named

    @property
    def comparing(self) -> bool:
        """True when several backends ran side by side."""
        return len(self.backends) > 1

    def to_dict(self) -> dict:
        """The JSON results document."""
        return {
            "schema_version": SCHEMA_VERSION,  # verdict/results.schema.json describes the document
            "verdict": self.verdict.to_dict(),
            "cases": [row.to_dict() for row in self.rows],
            "summary": [g.to_dict() for g in self.gates],
            "backends": [b.to_dict() for b in self.backends],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "repeats": [c.to_dict() for c in self.repeated],
            "repeat_summary": [r.to_dict() for r in self.repeats],
            "injection_resistance": [r.to_dict() for r in self.resistance],
            "tool_call_accuracy": [t.to_dict() for t in self.tools],
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
                "service_times": [s.to_dict() for s in self.service_times],
            },
            "recommendations": [r.to_dict() for r in self.recommendations],
            "decision_policy": asdict(self.policy),
            "calibration": [c.to_dict() for c in self.calibrations],
            "pairwise": {
                "summary": [p.to_dict() for p in self.pairwise],
                "cases": [
                    {
                        "file": r.file,
                        "id": r.id,
                        "backends": r.backend,
                        "status": r.status,
                        "error": r.error,
                        **(r.pairwise or {}),
                    }
                    for r in self.pairwise_rows
                ],
            },
            "judging_cost": [j.to_dict() for j in self.judging],
            "judged": [j.to_dict() for j in self.judged],
        }


def _priced(row: CaseRow, timed: bool) -> bool:
    """Whether ``row``'s cost counts: an answer with a cost, from this run when cost is latency-priced (a cost
    the backend reported itself is no latency's, so a cached one counts too)."""
    return row.answered and row.kind == "case" and row.cost_usd is not None and not (timed and _stale_cost(row))


def _stale_cost(row: CaseRow) -> bool:
    """A cached answer whose cost was priced from its old latency."""
    return row.cached and not row.cost_reported


def _timed(backend: str, run_terms: Terms) -> bool:
    """True when ``backend``'s cost is latency times $/hour and cached latencies are not wanted."""
    return run_terms.backend(backend).pricing.per_hour_usd > 0 and not run_terms.cost_from_cache


def comparison_cost(row: CaseRow, pricing: Pricing, service: ServiceTime | None) -> float:
    """``row``'s cost in the comparison: its token counts at ``service``'s per-token times when its backend is priced
    by the hour and they are known (a cost the backend reported itself stays), else its cost as measured."""
    if service is None or row.cost_reported:
        return row.cost_usd or 0.0
    tokens = (row.prompt_tokens or 0, row.completion_tokens or 0)
    return request_cost_usd(pricing, *tokens, service.seconds(row), row.cached_prompt_tokens or 0)


def priced_rows(
    rows: Sequence[CaseRow], cost: BackendCost, run_terms: Terms, service: ServiceTime | None = None
) -> dict[tuple[str, str, int], float]:
    """The costs ``cost`` (one backend on one group) was measured on, by file, case id and draw."""
    timed = _timed(cost.backend, run_terms) and service is None
    pricing = run_terms.backend(cost.backend).pricing
    return {
        (r.file, r.id, r.sample): comparison_cost(r, pricing, service)
        for r in rows
        if r.backend == cost.backend and r.group == cost.group and _priced(r, timed)
    }


def paired_cost_se(
    tuned: Mapping[tuple[str, str, int], float],
    prompted: Mapping[tuple[str, str, int], float],
    rate_se_usd: Sequence[float] = (),
) -> float | None:
    """The standard error of the per-request cost difference over the cases both priced (None with fewer
    than two): paired, since a long ticket costs more on either backend; with ``rate_se_usd``, the errors of the
    two backends' estimated service times (from calls of their own, so independent) added in."""
    shared = sorted(tuned.keys() & prompted.keys())
    if len(shared) < 2:
        return None
    return math.hypot(mean_and_se([prompted[k] - tuned[k] for k in shared])[1], *rate_se_usd)


def backend_cost(
    stats: CategoryStats, rows: Sequence[CaseRow], run_terms: Terms, service: ServiceTime | None = None
) -> BackendCost:
    """The cost projection of ``stats.backend`` on ``stats.group`` (its side-by-side stats over the group)
    from the group's ``rows`` of that backend, its configured terms and, priced by the hour, its ``service`` time."""
    terms = run_terms.backend(stats.backend)
    pricing, volume = terms.pricing, run_terms.volume_per_day
    done = answered_rows(rows)
    timed = _timed(stats.backend, run_terms) and service is None  # cost is latency: fresh answers only
    counted = [r for r in done if _priced(r, timed)]
    priced = [comparison_cost(r, pricing, service) for r in counted]
    per_request, se = mean_and_se(priced)
    rate_se = 0.0 if service is None else compute_usd(pricing, service.mean_se_s(counted))
    monthly = horizon = None
    if per_request is not None and volume is not None:
        profile = CostProfile(per_request, pricing.per_month_usd, pricing.one_time_usd)
        monthly, horizon = profile.monthly_usd(volume), profile.horizon_usd(volume, run_terms.horizon_months)
    return BackendCost(
        backend=stats.backend,
        approach=terms.approach,
        accuracy=stats.accuracy,
        per_request_usd=per_request,
        per_correct_usd=None if per_request is None else cost_per_correct_usd(per_request, stats.accuracy),
        per_month_usd=pricing.per_month_usd,
        one_time_usd=pricing.one_time_usd,
        monthly_usd=monthly,
        horizon_usd=horizon,
        group=stats.group,
        per_request_se_usd=math.hypot(se, rate_se),
        priced=len(priced),
        cached_left_out=sum(_stale_cost(r) for r in done) if timed else 0,
        basis="tokens" if pricing.per_hour_usd <= 0 else "latency" if service is None else "service time",
        rate_se_usd=rate_se,
    )


def _ordered(a: str, b: str, terms: Terms) -> tuple[str, str]:
    """(control, challenger): of a mixed pair, the simpler approach (prompted, then fine_tuned, then hybrid)
    is the control."""
    if APPROACHES.index(terms.backend(a).approach) > APPROACHES.index(terms.backend(b).approach):
        return b, a
    return a, b


def _sort_key(row: CaseRow) -> tuple:
    return row.backend, row.group, row.file, row.id, row.sample


def judge_groups(rows: Sequence[CaseRow], terms: Terms) -> list[GroupGate]:
    """One gate per backend, group and category that has cases (rows of unknown category left out)."""
    buckets: dict[tuple[str, str, str], list[CaseRow]] = defaultdict(list)
    for row in rows:
        if row.category in CATEGORIES:
            buckets[(row.backend, row.group, row.category)].append(row)
    gates = []
    for backend, group, category in sorted(buckets, key=lambda k: (k[0], k[1], CATEGORIES.index(k[2]))):
        gate = terms.gate(group)
        stats = category_stats(backend, category, buckets[(backend, group, category)], group)
        suite_threshold, own = gate.thresholds.get(category), terms.backend(backend).thresholds.get(category)
        threshold = suite_threshold if own is None else own.over(suite_threshold)
        gates.append(judge_group(group, stats, threshold, gate.max_error_rate))
    return gates


def summarize_backend(overall: CategoryStats, rows: Sequence[CaseRow], pricing: Pricing) -> BackendSummary:
    """Cost, latency percentiles and token totals of one backend (``overall``: its stats over all its cases,
    every group pooled); the totals include what its perturbation searches spent."""
    done = answered_rows(rows)
    spent = [r for r in rows if r.answered]
    searches = [r.search for r in spent if r.search is not None]
    return BackendSummary(
        stats=overall,
        total_cost_usd=sum(r.cost_usd or 0.0 for r in done) + sum(s.cost_usd for s in searches),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in done) + sum(s.prompt_tokens for s in searches),
        completion_tokens=sum(r.completion_tokens or 0 for r in done) + sum(s.completion_tokens for s in searches),
        tokens_estimated=any(r.tokens_estimated for r in done),
        per_hour_priced=pricing.per_hour_usd > 0,
        cached=sum(r.cached for r in done),
        answered=len(spent),
    )


def threshold_warnings(gates: Sequence[GroupGate]) -> list[str]:
    """One line per gated group, category and metric with too few independent cases for its threshold."""
    warnings: dict[tuple[str, str, str], str] = {}
    for gate in gates:
        if gate.threshold is None or gate.status == "not measured":
            continue
        counts = {"accuracy": gate.stats.clusters, "format": gate.stats.formatted}
        for metric, minimum in (("accuracy", gate.threshold.accuracy), ("format", gate.threshold.format)):
            where = f"{gate.group} {gate.stats.category}"
            warning = None if minimum is None else threshold_warning(where, metric, counts[metric], minimum)
            if warning is not None:
                warnings.setdefault((gate.group, gate.stats.category, metric), warning)
    return list(warnings.values())


def notes_for(
    summaries: Sequence[BackendSummary],
    costs: Sequence[BackendCost],
    comparing: bool,
    services: Mapping[str, ServiceTime] | None = None,
) -> list[str]:
    """What a reader must know to read the numbers: estimated tokens, cached answers, what per-hour costs rest on."""
    notes = []
    if any(s.tokens_estimated for s in summaries):
        notes.append(
            "~ token counts estimated: the backend reported no usage; answers were counted with the server's "
            "tokenizer where it has one (llama_cpp.server), prompts estimated (see docs/config.md, 'stream')"
        )
    cached, answered_count = sum(s.cached for s in summaries), sum(s.stats.n for s in summaries)
    if cached:
        notes.append(
            f"{cached} of {answered_count} answers came from the response cache or a recording: their latency, TTFT "
            "and cost were measured when they were first produced, not in this run (--llm-refresh calls again)"
        )
    left_out = sum(c.cached_left_out for c in costs)
    if comparing and left_out:
        notes.append(
            f"{left_out} cached answers of backends priced by the hour are left out of the cost comparison "
            "(their latency is from another run; --llm-cost-from-cache counts them)"
        )
    services = services or {}
    notes += [
        f"cost of {s.backend} in the comparison: {services[s.backend].basis()} (its estimated service time "
        "x $/hour, which load does not move; docs/cost.md)"
        for s in summaries
        if s.per_hour_priced and s.backend in services
    ]
    timed = [s.backend for s in summaries if s.per_hour_priced and s.backend not in services]
    if timed:
        notes.append(
            f"cost of {', '.join(timed)} is measured latency times $/hour: fewer than 5 answers fresh in this run "
            "whose time to first token splits prompt from completion time (cached ones never count; a non-streamed "
            "answer has no split), so no service time was estimated, and a loaded machine makes requests dearer"
        )
    return notes


def analyze(rows: Sequence[CaseRow], facts: RunFacts, terms: Terms, baseline: BaselineCheck | None = None) -> Analysis:
    """Judge the gates, the regression against ``baseline`` and the verdict, summarize, and within each gate
    group compare every pair of backends, project costs and recommend. Draws that cannot differ count once."""
    rows = sorted(rows, key=_sort_key)
    judges = calibrations(rows)  # a judge below its rubric's min_kappa leaves the cases it graded unmeasured
    compared_pairs = [r for r in rows if r.kind == PAIRWISE]
    spent_judging = judge_costs(rows)
    rows = graded_by_trust([r for r in rows if r.kind in GRADED_KINDS], judges)
    judge_warnings, judge_notes = trust_notes(rows, judges)
    counted = counted_once(rows)
    decided = graded_by_trust(counted, judges, decision=True)  # the decision: calibrated judges only
    gates = judge_groups(counted, terms)
    regression, regressed, regression_notes = baseline.compare(rows, terms) if baseline else (None, [], [])
    backends = sorted({r.backend for r in rows})
    compared = side_by_side(decided)
    summaries = [
        summarize_backend(
            category_stats(name, ALL, mine := [r for r in counted if r.backend == name]),
            mine,
            terms.backend(name).pricing,
        )
        for name in backends
    ]
    z = two_sided_z(terms.policy.alpha)
    groups = groups_of(counted)
    comparisons = [
        paired(mine, *_ordered(a, b, terms), category, group, z)
        for group in groups
        for mine in [[r for r in decided if r.group == group]]
        for a, b in combinations(backends, 2)
        for category in categories_of(mine)
    ]
    comparisons = [c for c in comparisons if c.n]  # a pair with no case both answered compares nothing
    services = {  # per-hour backends: per-token service times from their fresh calls, every group's
        name: estimate
        for name in backends
        if terms.backend(name).pricing.per_hour_usd > 0
        and (estimate := service_time(name, counted, terms.cost_from_cache)) is not None
    }
    costs = [
        backend_cost(
            s, [r for r in counted if r.group == s.group and r.backend == s.backend], terms, services.get(s.backend)
        )
        for s in compared
        if s.category == ALL
    ]
    pair_costs = [
        PairCost(
            tuned.backend,
            prompted.backend,
            breakeven(
                tuned_profile,
                prompted_profile,
                terms.volume_per_day,
                terms.horizon_months,
                z,
                paired_cost_se(
                    priced_rows(counted, tuned, terms, services.get(tuned.backend)),
                    priced_rows(counted, prompted, terms, services.get(prompted.backend)),
                    (tuned.rate_se_usd, prompted.rate_se_usd),
                ),
            ),
            tuned.group,
        )
        for tuned in costs
        if tuned.approach != PROMPTED and (tuned_profile := tuned.profile) is not None
        for prompted in costs
        if prompted.group == tuned.group
        and APPROACHES.index(prompted.approach) < APPROACHES.index(tuned.approach)
        and (prompted_profile := prompted.profile) is not None
    ]
    recommendations = [
        recommend(
            terms.policy,
            [
                Contender(c.backend, c.approach, c.accuracy, c.profile, c.missing_note(), c.basis)
                for c in costs
                if c.group == group
            ],
            [p for p in comparisons if p.group == group],
            {(p.fine_tuned, p.prompted): p.breakeven for p in pair_costs if p.group == group},
            terms.volume_per_day,
            group,
        )
        for group in groups
    ]
    repeated, identical = repeated_cases(rows, counted)
    return Analysis(
        rows=tuple(rows),
        verdict=judge_run(
            counted,
            gates,
            facts.interrupted,
            facts.stop_reason,
            regressed,
            facts.subset,
            regression_gated=baseline is not None and baseline.tolerance is not None,
        ),
        gates=tuple(gates),
        backends=tuple(summaries),
        warnings=tuple(threshold_warnings(gates) + regression_notes + judge_warnings),
        notes=tuple(identical + notes_for(summaries, costs, len(backends) > 1, services) + judge_notes)
        + facts.concurrency_notes,
        repeated=tuple(repeated),
        repeats=tuple(repeat_summaries(repeated)),
        resistance=tuple(attack_resistance(counted)),
        tools=tuple(tool_accuracy(counted)),
        perturbations=tuple(r for r in rows if r.search is not None and r.answered),
        regression=regression,
        run_backends={name: terms.backend(name).identity() for name in backends},
        side_by_side=tuple(compared),
        paired=tuple(comparisons),
        classification=tuple(found for name in backends if (found := classification(name, counted)) is not None),
        costs=tuple(costs),
        pair_costs=tuple(pair_costs),
        volume_per_day=terms.volume_per_day,
        horizon_months=terms.horizon_months,
        policy=terms.policy,
        recommendations=tuple(recommendations),
        service_times=tuple(services.values()),
        calibrations=tuple(judges),
        pairwise=tuple(pairwise_summaries(compared_pairs)),
        pairwise_rows=tuple(compared_pairs),
        judging=tuple(spent_judging),
        judged=tuple(judged_cases(rows)),
    )
