"""Everything the reports show beyond the gates, computed once from the case rows and the
configured terms: the comparison, the cost projection and the recommendation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations

from .compare import (CategoryStats, Classification, PairedComparison, answered, categories_of,
                      classification, paired, side_by_side)
from .cost import DEFAULT_HORIZON_MONTHS, Breakeven, CostProfile, Pricing, breakeven, cost_per_correct_usd
from .decide import FINE_TUNED, PROMPTED, Contender, DecisionPolicy, Recommendation, recommend
from .results import CaseRow
from .stats import proportion


@dataclass(frozen=True)
class BackendTerms:
    """What the config says of a backend that rows do not carry: its approach and pricing."""

    approach: str = PROMPTED
    pricing: Pricing = field(default_factory=Pricing)


@dataclass(frozen=True)
class Economics:
    """The configured side of the decision: backend terms, volume, horizon and policy."""

    backends: Mapping[str, BackendTerms] = field(default_factory=dict)
    volume_per_day: float | None = None
    horizon_months: float = DEFAULT_HORIZON_MONTHS
    policy: DecisionPolicy = field(default_factory=DecisionPolicy)

    def terms(self, backend: str) -> BackendTerms:
        """The terms of ``backend``; defaults (prompted, free) when unknown."""
        return self.backends.get(backend, BackendTerms())


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
class Analysis:
    """The comparison, cost projection and recommendation of one run."""

    side_by_side: tuple[CategoryStats, ...]
    paired: tuple[PairedComparison, ...]
    classification: tuple[Classification, ...]
    costs: tuple[BackendCost, ...]
    pair_costs: tuple[PairCost, ...]
    volume_per_day: float | None
    horizon_months: float
    policy: DecisionPolicy
    recommendation: Recommendation

    def to_dict(self) -> dict:
        """The 'comparison', 'cost' and 'recommendation' sections of the JSON results."""
        return {
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


def backend_cost(backend: str, rows: Sequence[CaseRow], economics: Economics) -> BackendCost:
    """The cost projection of ``backend`` from its rows and its configured terms."""
    terms = economics.terms(backend)
    done = answered(r for r in rows if r.backend == backend)
    accuracy = proportion(sum(r.passed for r in done), len(done))
    costs = [r.cost_usd for r in done if r.cost_usd is not None]
    per_request = sum(costs) / len(costs) if costs else None
    pricing, volume = terms.pricing, economics.volume_per_day
    monthly = horizon = None
    if per_request is not None and volume is not None:
        profile = CostProfile(per_request, pricing.per_month_usd, pricing.one_time_usd)
        monthly, horizon = profile.monthly_usd(volume), profile.horizon_usd(volume, economics.horizon_months)
    return BackendCost(
        backend=backend, approach=terms.approach, accuracy=accuracy, per_request_usd=per_request,
        per_correct_usd=None if per_request is None else cost_per_correct_usd(per_request, accuracy),
        per_month_usd=pricing.per_month_usd, one_time_usd=pricing.one_time_usd,
        monthly_usd=monthly, horizon_usd=horizon,
    )


def _ordered(a: str, b: str, economics: Economics) -> tuple[str, str]:
    """(baseline, challenger): the prompted backend is the baseline of a mixed pair."""
    if economics.terms(a).approach == FINE_TUNED and economics.terms(b).approach == PROMPTED:
        return b, a
    return a, b


def analyze(rows: Sequence[CaseRow], economics: Economics) -> Analysis:
    """Compare every pair of backends, project costs and recommend."""
    backends = sorted({r.backend for r in rows})
    comparisons = [
        paired(rows, *_ordered(a, b, economics), category)
        for a, b in combinations(backends, 2)
        for category in categories_of(rows)
    ]
    costs = [backend_cost(name, rows, economics) for name in backends]
    pair_costs = [
        PairCost(tuned.backend, prompted.backend,
                 breakeven(tuned.profile, prompted.profile, economics.volume_per_day, economics.horizon_months))
        for tuned in costs if tuned.approach == FINE_TUNED and tuned.profile is not None
        for prompted in costs if prompted.approach == PROMPTED and prompted.profile is not None
    ]
    contenders = [Contender(c.backend, c.approach, c.accuracy, profile) for c in costs
                  if (profile := c.profile) is not None]
    return Analysis(
        side_by_side=tuple(side_by_side(rows)),
        paired=tuple(comparisons),
        classification=tuple(found for name in backends if (found := classification(name, rows)) is not None),
        costs=tuple(costs),
        pair_costs=tuple(pair_costs),
        volume_per_day=economics.volume_per_day,
        horizon_months=economics.horizon_months,
        policy=economics.policy,
        recommendation=recommend(economics.policy, contenders, comparisons, economics.volume_per_day,
                                 economics.horizon_months),
    )

