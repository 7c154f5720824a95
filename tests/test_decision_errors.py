"""The recommendation as a statistical test with known error rates: a seeded simulation over scenarios
with known true accuracies and costs, run through the whole analysis (rows in, recommendation out).

"fine-tune" is an error when the fine-tune is not truly better: it is truly worse by the margin that
counts (``min_gain_points``) or more, or it truly does not repay its one-time cost within
``max_breakeven_months``. The measured rates are in docs/stats.md."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from pytest_llmgate.backends.spec import Pricing
from pytest_llmgate.suite.terms import DecisionPolicy
from pytest_llmgate.verdict.analysis import BackendTerms, RunFacts, Terms, analyze
from pytest_llmgate.verdict.rows import CaseRow

POLICY = DecisionPolicy()  # 1,000/day, a 5-point margin, alpha 0.05, breakeven within 6 months
VOLUME = 10_000  # requests a day: 300,000 a month
ONE_TIME = 50.0  # the fine-tune's training run, in USD
PROMPTED_COST = 0.0002  # $ per request; each request's cost varies by 30% around its backend's mean


@dataclass(frozen=True)
class Scenario:
    """True accuracies, the true months to repay the one-time cost, and the shape of the evidence."""

    prompted: float
    tuned: float
    breakeven_months: float | None  # None: the fine-tune saves nothing per request
    sources: int = 200
    variants: int = 1  # cases made from each source (attacks, perturbations): correlated within a source

    @property
    def truly_better(self) -> bool:
        """Not worse by the margin, and truly repaid in time."""
        not_worse = 100 * (self.tuned - self.prompted) > -POLICY.min_gain_points
        pays = self.breakeven_months is not None and self.breakeven_months <= POLICY.max_breakeven_months
        return not_worse and pays


def rows(scenario: Scenario, rng: random.Random) -> Iterator[CaseRow]:
    """One run's rows: for each source a difficulty shared by its variants (none with one variant)."""
    saving = 0.0 if scenario.breakeven_months is None else ONE_TIME / (scenario.breakeven_months * 30 * VOLUME)
    means = {"prompt": (scenario.prompted, PROMPTED_COST), "tuned": (scenario.tuned, PROMPTED_COST - saving)}
    for source in range(scenario.sources):
        # A hard or an easy ticket for both backends, never pushing a rate past 0 or 1 (which would change the
        # true difference the scenario states).
        shift = rng.uniform(-0.15, 0.15) if scenario.variants > 1 else 0.0
        for variant in range(scenario.variants):
            for backend, (accuracy, cost) in means.items():
                yield CaseRow(
                    id=f"s{source}.v{variant}",
                    file="f.llm.yaml",
                    group=".",
                    category="common",
                    backend=backend,
                    source=f"s{source}",
                    passed=rng.random() < min(1.0, max(0.0, accuracy + shift)),
                    cost_usd=max(0.0, rng.gauss(cost, 0.3 * cost)),
                )


TERMS = Terms(
    backends={
        "prompt": BackendTerms("prompted", Pricing()),
        "tuned": BackendTerms("fine_tuned", Pricing(one_time_usd=ONE_TIME)),
    },
    volume_per_day=VOLUME,
    policy=POLICY,
)


def fine_tune_rate(scenario: Scenario, runs: int, seed: int) -> float:
    """Share of ``runs`` simulated runs of ``scenario`` that recommend the fine-tune."""
    rng = random.Random(seed)
    chosen = 0
    for _ in range(runs):
        [decision] = analyze(list(rows(scenario, rng)), RunFacts(), TERMS).recommendations
        chosen += decision.choice == "fine-tune"
    return chosen / runs


NOT_BETTER = {
    "5 points worse, pays back in a month": Scenario(0.80, 0.75, 1.0),
    "8 points worse, pays back in a month": Scenario(0.85, 0.77, 1.0),
    "as good, repaid in 7 months": Scenario(0.80, 0.80, 7.0),
    "as good, no saving": Scenario(0.80, 0.80, None),
    "5 points worse, 20 tickets x 10 variants": Scenario(0.80, 0.75, 1.0, sources=20, variants=10),
}
CLEARLY_BETTER = {
    "10 points better on 200 cases, pays back in a month": Scenario(0.70, 0.80, 1.0),
    "10 points better on 200 cases, pays back in 3 months": Scenario(0.70, 0.80, 3.0),
}


def test_fine_tune_is_rarely_recommended_when_it_is_not_truly_better() -> None:
    rates = {name: fine_tune_rate(s, 100, seed) for seed, (name, s) in enumerate(NOT_BETTER.items())}
    assert all(not s.truly_better for s in NOT_BETTER.values())
    assert all(rate <= POLICY.alpha for rate in rates.values()), rates


def test_fine_tune_is_recommended_when_it_is_clearly_better() -> None:
    rates = {name: fine_tune_rate(s, 60, 100 + seed) for seed, (name, s) in enumerate(CLEARLY_BETTER.items())}
    assert all(s.truly_better for s in CLEARLY_BETTER.values())
    assert all(rate >= 0.8 for rate in rates.values()), rates
