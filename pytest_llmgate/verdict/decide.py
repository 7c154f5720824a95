"""The recommendation: keep prompting or fine-tune, as a chain of reasons with measured numbers.

The procedure is documented step by step in docs/deciding.md; it is advice, never a gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..backends.spec import FINE_TUNED, PROMPTED
from ..suite.terms import DecisionPolicy
from .compare import ALL, PairedComparison
from .cost import CostProfile, breakeven
from .stats import paired_cases_to_settle, paired_difference_interval, two_sided_z

KEEP_PROMPTING, FINE_TUNE, TRADE_OFF, UNDECIDED = "keep prompting", "fine-tune", "trade-off", "undecided"
CHOICE_NOTES = {
    KEEP_PROMPTING: "keep the prompted backend",
    FINE_TUNE: "the fine-tuned backend is worth it",
    TRADE_OFF: "the fine-tune is better but does not pay for itself in time: weigh the gain against the cost",
    UNDECIDED: "not enough to go on",
}


@dataclass(frozen=True)
class Contender:
    """What the procedure knows of one backend: its approach, overall accuracy and cost drivers."""

    name: str
    approach: str
    accuracy: float | None
    cost: CostProfile


@dataclass(frozen=True)
class Reason:
    """One step of the chain: what was checked, what was found, and the numbers it used."""

    step: str
    text: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recommendation:
    """The choice, the two backends it weighed, and the reasons in the order they were checked."""

    choice: str  # keep prompting, fine-tune, trade-off or undecided
    prompted: str | None = None
    fine_tuned: str | None = None
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        data = asdict(self)
        data["reasons"] = [asdict(r) for r in self.reasons]
        return data


def _best(contenders: Sequence[Contender], approach: str) -> Contender | None:
    """The most accurate backend of ``approach``; the cheaper one on a tie."""
    candidates = [c for c in contenders if c.approach == approach and c.accuracy is not None]
    return max(candidates, key=lambda c: (c.accuracy or 0.0, -c.cost.per_request_usd), default=None)


def _usd(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _versus(pair: PairedComparison) -> str:
    return (
        f"{pair.challenger_accuracy:.2f} vs {pair.control_accuracy:.2f} on {pair.n} cases "
        f"({pair.gain_points:+.1f} points; won {len(pair.won)}, lost {len(pair.lost)}; McNemar p={pair.p_value:.3g})"
    )


def _pair_values(pair: PairedComparison) -> dict[str, Any]:
    return {
        "category": pair.category,
        "n": pair.n,
        "control_accuracy": pair.control_accuracy,
        "challenger_accuracy": pair.challenger_accuracy,
        "gain_points": pair.gain_points,
        "won": len(pair.won),
        "lost": len(pair.lost),
        "p_value": pair.p_value,
    }


def _difference(pair: PairedComparison, low: float, high: float, alpha: float) -> str:
    return f"{pair.gain_points:+.1f} points ({100 * (1 - alpha):g}% CI {low:+.1f}..{high:+.1f})"


def _too_few_cases(policy: DecisionPolicy, pair: PairedComparison, values: Mapping[str, Any]) -> Reason:
    """The reason the quality step cannot decide: the interval still allows a drop that counts."""
    low, high = values["ci_low_points"], values["ci_high_points"]
    needed = paired_cases_to_settle(len(pair.won), len(pair.lost), pair.n, policy.min_gain_points, policy.alpha)
    settle = (
        f"about {needed:,} paired cases would settle it"
        if needed is not None
        else "no number of paired cases at these rates would settle it"
    )
    return Reason(
        "quality",
        f"undecided: too few cases: the difference is {_difference(pair, low, high, policy.alpha)}; "
        f"{settle} (a drop of {policy.min_gain_points:g} points ruled out, or a drop shown): "
        f"{pair.challenger} {_versus(pair)}",
        {**values, "cases_needed": needed},
    )


def recommend(
    policy: DecisionPolicy,
    contenders: Sequence[Contender],
    comparisons: Sequence[PairedComparison],
    volume_per_day: float | None,
    horizon_months: float,
) -> Recommendation:
    """Run the procedure on the best prompted and the best fine-tuned backend.

    ``comparisons`` must hold that pair (prompted as baseline) for ``all`` and each category.
    """
    prompted, tuned = _best(contenders, PROMPTED), _best(contenders, FINE_TUNED)
    if prompted is None or tuned is None:
        found = ", ".join(f"{c.name} ({c.approach})" for c in contenders) or "none"
        return Recommendation(
            UNDECIDED,
            reasons=(
                Reason(
                    "approaches",
                    f"needs a prompted and a fine_tuned backend with answers (set 'approach:' per backend); got {found}",
                ),
            ),
        )
    reasons: list[Reason] = []

    def conclude(word: str) -> Recommendation:
        return Recommendation(word, prompted.name, tuned.name, tuple(reasons))

    if volume_per_day is not None and volume_per_day < policy.min_daily_volume:
        reasons.append(
            Reason(
                "volume",
                f"{volume_per_day:,.0f} requests/day < {policy.min_daily_volume:,.0f}/day: "
                "too few requests for a fine-tune to repay its upkeep",
                {"volume_per_day": volume_per_day},
            )
        )
        return conclude(KEEP_PROMPTING)
    if volume_per_day is not None:
        reasons.append(
            Reason(
                "volume",
                f"{volume_per_day:,.0f} requests/day >= {policy.min_daily_volume:,.0f}/day",
                {"volume_per_day": volume_per_day},
            )
        )

    mine = [c for c in comparisons if (c.control, c.challenger) == (prompted.name, tuned.name)]
    overall = next(c for c in mine if c.category == ALL)
    significant = overall.significant(policy.alpha)
    low, high = paired_difference_interval(len(overall.won), len(overall.lost), overall.n, two_sided_z(policy.alpha))
    quality_values = {**_pair_values(overall), "ci_low_points": low, "ci_high_points": high}
    if significant and overall.gain_points < 0:
        reasons.append(
            Reason("quality", f"{tuned.name} is worse than {prompted.name}: {_versus(overall)}", quality_values)
        )
        return conclude(KEEP_PROMPTING)
    better = significant and overall.gain_points >= policy.min_gain_points
    if better:
        finding = f"{tuned.name} is better than {prompted.name}: {_versus(overall)}"
    elif low > -policy.min_gain_points:
        why = "not significant" if not significant else f"under {policy.min_gain_points:g} points"
        finding = (
            f"same quality: no quality gain that counts ({why}), and the difference, "
            f"{_difference(overall, low, high, policy.alpha)}, rules out a drop of "
            f"{policy.min_gain_points:g} points: {tuned.name} {_versus(overall)}"
        )
    else:
        # An insignificant difference is not equal quality: with few cases the interval still
        # allows a drop that matters, and a saving would recommend a worse model.
        reasons.append(_too_few_cases(policy, overall, quality_values))
        return conclude(UNDECIDED)
    reasons.append(Reason("quality", finding, quality_values))
    for pair in mine:
        if (
            pair.category != ALL
            and pair.gain_points < 0
            and (pair.significant(policy.alpha) or -pair.gain_points >= policy.min_gain_points)
        ):
            reasons.append(
                Reason(
                    "category",
                    f"caution: {tuned.name} is worse on {pair.category}: {_versus(pair)}",
                    _pair_values(pair),
                )
            )

    if volume_per_day is None:
        reasons.append(
            Reason("cost", "no volume given (--llm-volume or 'volume:' in llmgate.yaml): cost cannot be weighed")
        )
        return conclude(UNDECIDED)
    money = breakeven(tuned.cost, prompted.cost, volume_per_day, horizon_months)
    saving, extra, months = money.monthly_saving_usd, money.extra_one_time_usd, money.months
    assert saving is not None  # a volume was given
    values = {"monthly_saving_usd": saving, "extra_one_time_usd": extra, "breakeven_months": months}
    if months is None:
        cost_text = (
            f"{tuned.name} saves nothing at this volume ({_usd(-saving)}/month more): "
            f"a one-time cost of {_usd(extra)} never pays back"
        )
    else:
        cost_text = f"{tuned.name} saves {_usd(saving)}/month: a one-time cost of {_usd(max(extra, 0))} breaks even in {months:.2f} months"
    pays_back = months is not None and months <= policy.max_breakeven_months
    limit = f" ({'within' if pays_back else 'beyond'} {policy.max_breakeven_months:g})" if months is not None else ""
    reasons.append(Reason("cost", cost_text + limit, values))
    if better:
        return conclude(FINE_TUNE if pays_back else TRADE_OFF)
    return conclude(FINE_TUNE if pays_back else KEEP_PROMPTING)  # same quality: the money decides
