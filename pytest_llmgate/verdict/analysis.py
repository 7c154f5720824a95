"""The one place results become conclusions: case rows, what the run knows and the configured
terms go in; one frozen Analysis comes out (gates and verdict, summaries, warnings, comparison,
cost projection, recommendation). Every report renders this object and nothing else."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations

from ..backends.spec import APPROACHES, PROMPTED, Pricing
from ..suite.terms import CATEGORIES, DEFAULT_HORIZON_MONTHS, DecisionPolicy, Threshold, Tolerance
from .baseline import Baseline, Regression, compare_with_baseline, judge_regression
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
from .cost import CostProfile, PairCost, breakeven, cost_per_correct_usd
from .decide import Contender, Recommendation, recommend
from .gate import GateTerms, GroupGate, Verdict, judge_group, judge_run
from .results import SCHEMA_VERSION
from .rows import CaseRow
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
    cost_from_cache: bool = False  # --llm-cost-from-cache: price cached answers by their old latencies too

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

    ``per_request_usd`` is the mean cost of the requests priced in this run: for a backend priced by the
    hour (cost = latency x $/hour) only fresh answers count, since a cached answer's latency was measured
    in another run, unless --llm-cost-from-cache."""

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
            "recommendations": [r.to_dict() for r in self.recommendations],
            "decision_policy": asdict(self.policy),
        }


def _priced(row: CaseRow, timed: bool) -> bool:
    """Whether ``row``'s cost counts: an answer with a cost, from this run when cost is latency-priced."""
    return row.answered and row.kind == "case" and row.cost_usd is not None and not (timed and row.cached)


def _timed(backend: str, run_terms: Terms) -> bool:
    """True when ``backend``'s cost is latency times $/hour and cached latencies are not wanted."""
    return run_terms.backend(backend).pricing.per_hour_usd > 0 and not run_terms.cost_from_cache


def priced_rows(rows: Sequence[CaseRow], cost: BackendCost, run_terms: Terms) -> dict[tuple[str, str, int], float]:
    """The costs ``cost`` (one backend on one group) was measured on, by file, case id and draw."""
    timed = _timed(cost.backend, run_terms)
    return {
        (r.file, r.id, r.sample): r.cost_usd or 0.0
        for r in rows
        if r.backend == cost.backend and r.group == cost.group and _priced(r, timed)
    }


def paired_cost_se(
    tuned: Mapping[tuple[str, str, int], float], prompted: Mapping[tuple[str, str, int], float]
) -> float | None:
    """The standard error of the per-request cost difference over the cases both priced (None with fewer
    than two): paired, since a long ticket costs more on either backend."""
    shared = sorted(tuned.keys() & prompted.keys())
    if len(shared) < 2:
        return None
    return mean_and_se([prompted[k] - tuned[k] for k in shared])[1]


def backend_cost(stats: CategoryStats, rows: Sequence[CaseRow], run_terms: Terms) -> BackendCost:
    """The cost projection of ``stats.backend`` on ``stats.group`` (its side-by-side stats over the group)
    from the group's ``rows`` of that backend and its configured terms."""
    terms = run_terms.backend(stats.backend)
    pricing, volume = terms.pricing, run_terms.volume_per_day
    done = answered_rows(rows)
    timed = _timed(stats.backend, run_terms)  # cost is latency: fresh answers only
    priced = [r.cost_usd or 0.0 for r in done if _priced(r, timed)]
    per_request, se = mean_and_se(priced)
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
        per_request_se_usd=se,
        priced=len(priced),
        cached_left_out=sum(r.cached for r in done) if timed else 0,
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


def notes_for(summaries: Sequence[BackendSummary], costs: Sequence[BackendCost], comparing: bool) -> list[str]:
    """What a reader must know to read the numbers: estimated tokens, cached answers, latency-based costs."""
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
    hourly = [s.backend for s in summaries if s.per_hour_priced]
    if hourly:
        notes.append(
            f"cost of {', '.join(hourly)} is measured latency times $/hour: a loaded machine makes "
            "requests slower and so dearer; compare such costs between equally loaded runs (docs/cost.md)"
        )
    return notes


def analyze(rows: Sequence[CaseRow], facts: RunFacts, terms: Terms, baseline: BaselineCheck | None = None) -> Analysis:
    """Judge the gates, the regression against ``baseline`` and the verdict, summarize, and within each gate
    group compare every pair of backends, project costs and recommend. Draws that cannot differ count once."""
    rows = sorted(rows, key=_sort_key)
    counted = counted_once(rows)
    gates = judge_groups(counted, terms)
    regression, regressed, regression_notes = baseline.compare(rows, terms) if baseline else (None, [], [])
    backends = sorted({r.backend for r in rows})
    compared = side_by_side(counted)
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
        for mine in [[r for r in counted if r.group == group]]
        for a, b in combinations(backends, 2)
        for category in categories_of(mine)
    ]
    comparisons = [c for c in comparisons if c.n]  # a pair with no case both answered compares nothing
    costs = [
        backend_cost(s, [r for r in counted if r.group == s.group and r.backend == s.backend], terms)
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
                paired_cost_se(priced_rows(counted, tuned, terms), priced_rows(counted, prompted, terms)),
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
                Contender(c.backend, c.approach, c.accuracy, c.profile, c.missing_note())
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
        warnings=tuple(threshold_warnings(gates) + regression_notes),
        notes=tuple(identical + notes_for(summaries, costs, len(backends) > 1)) + facts.concurrency_notes,
        repeated=tuple(repeated),
        repeats=tuple(repeat_summaries(repeated)),
        resistance=tuple(attack_resistance(counted)),
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
    )
