"""The terminal summary: compact with one backend, the comparison and advice with several."""

from __future__ import annotations

from ..verdict.analysis import Analysis
from .tables import (
    backend_table,
    calibration_table,
    category_table,
    confusion_table,
    cost_table,
    judged_table,
    judging_cost_table,
    label_table,
    pair_cost_table,
    paired_table,
    pairwise_table,
    perturbation_lines,
    recommendation_lines,
    regression_lines,
    regression_table,
    repeat_lines,
    resistance_table,
    side_by_side_table,
    table,
    tool_accuracy_table,
    volume_text,
    won_lost_lines,
)


def summary_lines(analysis: Analysis, verbose: bool = False) -> list[str]:
    """The summary printed before the verdict (which ends the output). With one backend: gates, cost and latency;
    with several: also the paired comparison, the cost projection and the recommendation;
    ``verbose`` adds per-category, per-case and classification detail."""
    comparing = analysis.comparing
    subset = analysis.verdict.subset is not None
    lines = table(*category_table(analysis.gates, subset)) + [""] + table(*backend_table(analysis.backends))
    lines += list(analysis.notes) + repeat_lines(analysis)
    if analysis.perturbations:
        lines += ["", "robustness (perturbed variants):", *perturbation_lines(analysis.perturbations)]
    if analysis.resistance:
        lines += ["", "injection resistance:"] + table(*resistance_table(analysis.resistance))
    if analysis.tools:
        lines += ["", "tool-call accuracy:"] + table(*tool_accuracy_table(analysis.tools))
    if analysis.calibrations:
        lines += ["", "judge calibration (TP: judge and label pass, FP: judge pass on a failing label):"]
        lines += table(*calibration_table(analysis.calibrations))
        lines += [f"  {c.reason()}: its verdicts do not count" for c in analysis.calibrations if c.reason()]
    if analysis.judged:
        lines += ["", "judge verdicts on the cases (unstable: the samples split):"] + table(
            *judged_table(analysis.judged)
        )
    if analysis.pairwise:
        lines += ["", "pairwise comparisons by a judge (both orders; order-dependent verdicts are ties):"]
        lines += table(*pairwise_table(analysis.pairwise))
    if analysis.judging:
        lines += ["", "judging cost (not counted as any approach's cost):"] + table(
            *judging_cost_table(analysis.judging)
        )
    if comparing or verbose or analysis.regression is not None:
        lines += [f"warning: {w}" for w in analysis.warnings]
    if comparing or verbose:
        lines += ["", "side by side, per gate group:"] + table(*side_by_side_table(analysis.side_by_side))
    if verbose:
        for result in analysis.classification:
            lines += ["", f"classification, {result.backend}:"] + table(*label_table(result))
            lines += [""] + table(*confusion_table(result))
    if comparing:
        lines += ["", "paired comparison on the same cases:"] + table(*paired_table(analysis.paired))
        if verbose:
            lines += won_lost_lines(analysis.paired)
    if comparing or verbose:
        lines += ["", f"cost {volume_text(analysis)}:"] + table(*cost_table(analysis))
        if analysis.pair_costs:
            lines += [""] + table(*pair_cost_table(analysis.pair_costs))
    if comparing:
        lines += [""] + recommendation_lines(analysis.recommendations)
    if analysis.regression is not None:
        lines += ["", *regression_lines(analysis.regression)] + table(*regression_table(analysis.regression))
    return lines + [""]
