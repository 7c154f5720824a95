"""The recommendation: keep prompting or fine-tune, as a chain of reasons with measured numbers.

One recommendation per gate group (task) where a prompted and a fine-tuned backend both answered;
groups are never pooled. The procedure is documented step by step in docs/deciding.md, its error
rates in docs/stats.md; it is advice, never a gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal

from ..backends.spec import FINE_TUNED, HYBRID, PROMPTED
from ..suite.terms import DecisionPolicy
from .compare import ALL, PairedComparison
from .cost import Breakeven, CostProfile
from .service import CostBasis
from .stats import paired_cases_to_settle

Choice = Literal["keep prompting", "fine-tune", "hybrid", "trade-off", "undecided"]
KEEP_PROMPTING: Final = "keep prompting"
FINE_TUNE: Final = "fine-tune"
GO_HYBRID: Final = "hybrid"
TRADE_OFF: Final = "trade-off"
UNDECIDED: Final = "undecided"
CHOICE_NOTES = {
    KEEP_PROMPTING: "keep the prompted backend",
    FINE_TUNE: "the fine-tuned backend is worth it",
    GO_HYBRID: "the hybrid backend (fine-tune, short prompt, per-case few-shot) is worth it",
    TRADE_OFF: "the fine-tune is better but does not pay for itself in time: weigh the gain against the cost",
    UNDECIDED: "not enough to go on",
}


@dataclass(frozen=True)
class Contender:
    """What the procedure knows of one backend on one group: its approach, accuracy and cost drivers
    (None when its cost was not measured in this run, ``cost_note`` saying why), and what that cost rests on."""

    name: str
    approach: str
    accuracy: float | None
    cost: CostProfile | None
    cost_note: str = ""
    cost_basis: CostBasis = "tokens"


@dataclass(frozen=True)
class Reason:
    """One step of the chain: what was checked, what was found, and the numbers it used."""

    step: str
    text: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recommendation:
    """The choice on one gate group, the two backends it weighed, and the reasons in the order checked."""

    choice: Choice
    prompted: str | None = None
    fine_tuned: str | None = None
    reasons: tuple[Reason, ...] = ()
    group: str = ALL
    hybrid: str | None = None  # the hybrid backend weighed too, when the group has one
    summary: str = ""  # a trade-off in words: which side wins on quality, which on cost (else CHOICE_NOTES says it)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        data = asdict(self)
        data["reasons"] = [asdict(r) for r in self.reasons]
        return data


def _best(contenders: Sequence[Contender], approach: str) -> Contender | None:
    """The most accurate backend of ``approach``; the cheaper one on a tie."""
    candidates = [c for c in contenders if c.approach == approach and c.accuracy is not None]
    return max(
        candidates,
        key=lambda c: (c.accuracy or 0.0, -(c.cost.per_request_usd if c.cost else 0.0)),
        default=None,
    )


def _usd(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _versus(pair: PairedComparison) -> str:
    test = "McNemar" if pair.clusters == pair.n else "sign-flip test over clusters"
    return (
        f"{pair.challenger_accuracy:.2f} vs {pair.control_accuracy:.2f} on {pair.evidence} "
        f"({pair.gain_points:+.1f} points; won {len(pair.won)}, lost {len(pair.lost)}; {test} p={pair.p_value:.3g})"
    )


def _pair_values(pair: PairedComparison) -> dict[str, Any]:
    return {
        "group": pair.group,
        "category": pair.category,
        "n": pair.n,
        "clusters": pair.clusters,
        "effective_n": pair.effective_n,
        "control_accuracy": pair.control_accuracy,
        "challenger_accuracy": pair.challenger_accuracy,
        "gain_points": pair.gain_points,
        "won": len(pair.won),
        "lost": len(pair.lost),
        "p_value": pair.p_value,
        "ci_low_points": pair.ci_low_points,
        "ci_high_points": pair.ci_high_points,
    }


def _difference(pair: PairedComparison, alpha: float) -> str:
    return (
        f"{pair.gain_points:+.1f} points ({100 * (1 - alpha):g}% CI "
        f"{pair.ci_low_points:+.1f}..{pair.ci_high_points:+.1f})"
    )


def _too_few_cases(policy: DecisionPolicy, pair: PairedComparison) -> Reason:
    """The reason the quality step cannot decide: the interval still allows a drop that counts."""
    won, lost, n = pair.scaled()
    needed = paired_cases_to_settle(won, lost, n, policy.min_gain_points, policy.alpha, pair.clusters < pair.n)
    unit = "paired cases" if pair.clusters == pair.n else "independent source cases"
    settle = (
        f"about {needed:,} {unit} would settle it"
        if needed is not None
        else f"no number of {unit} at these rates would settle it"
    )
    return Reason(
        "quality",
        f"undecided: too few cases: the difference is {_difference(pair, policy.alpha)}; "
        f"{settle} (a drop of {policy.min_gain_points:g} points ruled out, or a drop shown): "
        f"{pair.challenger} {_versus(pair)}",
        {**_pair_values(pair), "cases_needed": needed},
    )


BASIS_WORDS: dict[CostBasis, str] = {  # what a per-hour cost rests on, as the cost step says it
    "service time": "estimated service time: its token counts on the fast end (10th percentile) of fresh calls",
    "latency": "measured latency, which machine load moves",
}


def _rests_on(*contenders: Contender) -> str:
    """What the per-hour costs among ``contenders`` rest on ('' when all are priced by tokens alone)."""
    return "; ".join(
        f"the cost of {' and '.join(c.name for c in contenders if c.cost_basis == basis)} rests on {word}"
        for basis, word in BASIS_WORDS.items()
        if any(c.cost_basis == basis for c in contenders)
    )


def _trade_off(
    policy: DecisionPolicy, prompted: Contender, tuned: Contender, overall: PairedComparison, money: Breakeven
) -> str:
    """A trade-off in words: the fine-tune wins on quality, and on cost the prompted backend wins, or neither
    clearly does; and what the cost side rests on."""
    saving, extra = money.monthly_saving_usd or 0.0, max(money.extra_one_time_usd, 0.0)
    if not money.clear:
        measured = f"saves {_usd(saving)}" if saving >= 0 else f"costs {_usd(-saving)} more"
        cost = (
            f"neither wins clearly on cost ({tuned.name} {measured}/month, an interval that spans zero), so its "
            f"one-time {_usd(extra)} is not shown to pay back"
        )
    elif saving < 0:
        cost = f"{prompted.name} wins on cost ({tuned.name} costs {_usd(-saving)}/month more)"
    else:
        cost = (
            f"{prompted.name} wins on cost over {policy.max_breakeven_months:g} months ({tuned.name} saves "
            f"{_usd(saving)}/month, but its one-time {_usd(extra)} takes up to {money.months_at_low or 0:.2f} months "
            "to repay)"
        )
    rests = _rests_on(prompted, tuned)
    return "; ".join(
        part for part in (f"{tuned.name} wins on quality ({overall.gain_points:+.1f} points)", cost, rests) if part
    )


def _cost_reason(
    policy: DecisionPolicy, prompted: Contender, tuned: Contender, money: Breakeven | None
) -> tuple[Reason, bool | None]:
    """The cost step: its reason, and whether the fine-tune clearly pays back in time (None: cost not
    measured). The saving must be clear (its interval excludes zero) and the extra one-time cost repaid
    within ``max_breakeven_months`` even at the interval's low end."""
    if money is None or money.monthly_saving_usd is None:
        missing = "; ".join(c.cost_note for c in (prompted, tuned) if c.cost is None and c.cost_note)
        return Reason("cost", f"cost not measured in this run: {missing or 'no answer priced'}"), None
    reason, pays_back = _cost_finding(policy, tuned, money)
    rests = _rests_on(prompted, tuned)
    return (replace(reason, text=f"{reason.text}; {rests}") if rests else reason), pays_back


def _cost_finding(policy: DecisionPolicy, tuned: Contender, money: Breakeven) -> tuple[Reason, bool]:
    """The cost step on a measured saving: what it found, and whether the fine-tune clearly pays back in time."""
    saving, extra = money.monthly_saving_usd, money.extra_one_time_usd
    low, high = money.saving_low_usd, money.saving_high_usd
    assert saving is not None and low is not None and high is not None  # a volume was given
    values = {
        "monthly_saving_usd": saving,
        "saving_low_usd": low,
        "saving_high_usd": high,
        "extra_one_time_usd": extra,
        "breakeven_months": money.months,
        "breakeven_months_at_low": money.months_at_low,
    }
    interval = f"{100 * (1 - policy.alpha):g}% CI {_usd(low)}..{_usd(high)}"
    if not money.clear:
        measured = f"saves {_usd(saving)}/month" if saving >= 0 else f"costs {_usd(-saving)}/month more"
        text = f"no clear difference in cost: {tuned.name} {measured} ({interval}), an interval that spans zero"
        return Reason("cost", text, values), False
    if high < 0:
        text = (
            f"{tuned.name} saves nothing at this volume ({_usd(-saving)}/month more; {interval}): "
            f"a one-time cost of {_usd(extra)} never pays back"
        )
        return Reason("cost", text, values), False
    months = money.months_at_low
    assert months is not None and money.months is not None  # a clear saving: its low end is above zero
    pays_back = months <= policy.max_breakeven_months
    text = (
        f"{tuned.name} saves {_usd(saving)}/month ({interval}): a one-time cost of {_usd(max(extra, 0))} "
        f"breaks even in {money.months:.2f} months (at most {months:.2f} at the interval's low end)"
    )
    limit = f" ({'within' if pays_back else 'beyond'} {policy.max_breakeven_months:g})"
    return Reason("cost", text + limit, values), pays_back


def recommend(
    policy: DecisionPolicy,
    contenders: Sequence[Contender],
    comparisons: Sequence[PairedComparison],
    costs: Mapping[tuple[str, str], Breakeven],
    volume_per_day: float | None,
    group: str = ALL,
) -> Recommendation:
    """Run the procedure on the best prompted and the best fine-tuned backend of one gate group, and, when
    the group has a hybrid backend, on hybrid vs prompted too; then choose among the three (docs/deciding.md).

    ``comparisons`` are the group's paired comparisons (``all`` and each category); ``costs`` the
    breakeven of each (challenger, control) pair on the group, computed once by the analysis."""
    base = _two_way(policy, contenders, comparisons, costs, volume_per_day, group, FINE_TUNED)
    if _best(contenders, HYBRID) is None:
        return base
    hybrid = _two_way(policy, contenders, comparisons, costs, volume_per_day, group, HYBRID)
    return _three_way(policy, base, hybrid, comparisons)


def _three_way(
    policy: DecisionPolicy, base: Recommendation, hybrid: Recommendation, comparisons: Sequence[PairedComparison]
) -> Recommendation:
    """Prompted, fine-tuned and hybrid: the hybrid wins when it is worth it over prompting and, where the
    fine-tune is worth it too, beats it by the gain that counts (else the simpler fine-tune, with its shorter
    prompt, is kept); when the hybrid is not worth it, the fine-tuned vs prompted choice stands."""
    name = hybrid.fine_tuned
    reasons = [*base.reasons, *(replace(r, text=f"{name} vs {hybrid.prompted}: {r.text}") for r in hybrid.reasons)]
    choice: Choice
    if hybrid.choice != FINE_TUNE:
        choice = base.choice if base.fine_tuned else hybrid.choice
        why = f"{name} is not worth it over prompting ({hybrid.choice})"
    elif base.choice != FINE_TUNE:
        choice, why = GO_HYBRID, f"{name} is worth it over prompting and the plain fine-tune is not ({base.choice})"
    else:
        pair = next(
            (c for c in comparisons if (c.control, c.challenger) == (base.fine_tuned, name) and c.category == ALL),
            None,
        )
        shown = pair is not None and (pair.significant(policy.alpha) or pair.ci_low_points > 0)
        if pair is not None and shown and pair.gain_points >= policy.min_gain_points:
            choice, why = GO_HYBRID, f"{name} is better than {base.fine_tuned}: {_versus(pair)}"
        else:
            measured = f": {name} {_versus(pair)}" if pair is not None else ""
            choice = FINE_TUNE
            why = (
                f"both are worth it, and {name} is not better than {base.fine_tuned} by "
                f"{policy.min_gain_points:g} points{measured}: keep the simpler fine-tune (a shorter prompt)"
            )
    reasons.append(Reason("three-way", why))
    decided = (base if base.fine_tuned else hybrid) if choice == TRADE_OFF else None  # whose trade-off it is
    summary = decided.summary if decided is not None else ""
    return Recommendation(
        choice, base.prompted or hybrid.prompted, base.fine_tuned, tuple(reasons), base.group, name, summary
    )


def _two_way(
    policy: DecisionPolicy,
    contenders: Sequence[Contender],
    comparisons: Sequence[PairedComparison],
    costs: Mapping[tuple[str, str], Breakeven],
    volume_per_day: float | None,
    group: str,
    challenger: str,
) -> Recommendation:
    """The procedure on the best prompted backend and the best one of ``challenger``'s approach (in the
    result's ``fine_tuned``)."""
    prompted, tuned = _best(contenders, PROMPTED), _best(contenders, challenger)
    if prompted is None or tuned is None:
        found = ", ".join(f"{c.name} ({c.approach})" for c in contenders if c.accuracy is not None) or "none"
        return Recommendation(
            UNDECIDED,
            reasons=(
                Reason(
                    "approaches",
                    f"needs a prompted and a {challenger} backend with graded answers on {group} "
                    f"(set 'approach:' per backend); got {found}",
                ),
            ),
            group=group,
        )
    reasons: list[Reason] = []

    def conclude(word: Choice, summary: str = "") -> Recommendation:
        return Recommendation(word, prompted.name, tuned.name, tuple(reasons), group, summary=summary)

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
    overall = next((c for c in mine if c.category == ALL and c.n), None)
    if overall is None:
        reasons.append(
            Reason("quality", f"no graded case of {group} was answered by both {tuned.name} and {prompted.name}")
        )
        return conclude(UNDECIDED)
    significant = overall.significant(policy.alpha)
    quality_values = _pair_values(overall)
    if significant and overall.gain_points < 0:
        reasons.append(
            Reason("quality", f"{tuned.name} is worse than {prompted.name}: {_versus(overall)}", quality_values)
        )
        return conclude(KEEP_PROMPTING)
    # Better: a gain that counts, shown by the test or by the interval (with few clusters the exact
    # sign-flip test cannot reach alpha however large the gain: 4 clusters give at best p = 0.125).
    shown = significant or overall.ci_low_points > 0
    better = shown and overall.gain_points >= policy.min_gain_points
    if better:
        how = "" if significant else f", the interval {_difference(overall, policy.alpha)} excluding no gain"
        finding = f"{tuned.name} is better than {prompted.name}{how}: {_versus(overall)}"
    elif overall.ci_low_points > -policy.min_gain_points:
        why = "not significant" if not significant else f"under {policy.min_gain_points:g} points"
        finding = (
            f"same quality: no quality gain that counts ({why}), and the difference, "
            f"{_difference(overall, policy.alpha)}, rules out a drop of "
            f"{policy.min_gain_points:g} points: {tuned.name} {_versus(overall)}"
        )
    else:
        # An insignificant difference is not equal quality: with few cases the interval still
        # allows a drop that matters, and a saving would recommend a worse model.
        reasons.append(_too_few_cases(policy, overall))
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
    reason, pays_back = _cost_reason(policy, prompted, tuned, costs.get((tuned.name, prompted.name)))
    reasons.append(reason)
    if pays_back is None:
        return conclude(UNDECIDED)
    if better and not pays_back:
        money = costs[(tuned.name, prompted.name)]  # the cost step measured it
        return conclude(TRADE_OFF, _trade_off(policy, prompted, tuned, overall, money))
    if better:
        return conclude(FINE_TUNE)
    return conclude(FINE_TUNE if pays_back else KEEP_PROMPTING)  # same quality: the money decides
