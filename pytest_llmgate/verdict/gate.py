"""The gate: per-category thresholds, must-pass cases and completeness, turned into one verdict.

A gate group (a config folder, or a case file with its own thresholds) is judged per backend and
category. It is *incomplete* when a selected case has no answer beyond the errors the suite
tolerates (``errors: {max_rate: ...}``, none by default) or was never run, and *not measured* when a
gated category has no answered case at all (every case skipped); the run's verdict is *passed* only
when every group is complete and measured and no threshold or must-pass case failed. A run over a
subset of the suite (-k, -m, --lf, node ids) is judged *subset*: its numbers are reported, and the
suite's gates are never said to pass on part of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Final, Literal

from ..suite.terms import Threshold
from .compare import CategoryStats
from .rows import ANSWERED, ERROR, NOT_RUN, SKIPPED, CaseRow

GateStatus = Literal["passed", "failed", "incomplete", "not measured", "ungated"]  # one group's gate
RunStatus = Literal["passed", "failed", "incomplete", "subset"]  # the run's verdict
PASSED: Final = "passed"
FAILED: Final = "failed"
INCOMPLETE: Final = "incomplete"
UNGATED: Final = "ungated"
NOT_MEASURED: Final = "not measured"  # a gate with no answered case
SUBSET: Final = "subset"  # a run over part of the suite


@dataclass(frozen=True)
class GateTerms:
    """What one gate group requires: a threshold per category and the error rate it tolerates."""

    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    max_error_rate: float = 0.0

    @cached_property
    def as_dict(self) -> dict:
        """A JSON-ready dict: what travels with each case's report to the process that judges the run (made once
        per group, shared by its reports: read it, do not change it)."""
        return {"thresholds": {c: asdict(t) for c, t in self.thresholds.items()}, "max_error_rate": self.max_error_rate}

    @classmethod
    def from_dict(cls, data: Mapping) -> GateTerms:
        """The terms ``as_dict`` holds."""
        return cls({c: Threshold(**t) for c, t in data["thresholds"].items()}, data["max_error_rate"])


@dataclass(frozen=True)
class GroupGate:
    """The gate of one backend on one category of one group, with the numbers it was judged on."""

    group: str
    stats: CategoryStats
    threshold: Threshold | None
    status: GateStatus
    failures: tuple[str, ...]  # thresholds missed
    gaps: tuple[str, ...]  # why the group was not fully measured

    def to_dict(self) -> dict:
        """A JSON-ready dict: the stats' fields flattened beside the group, thresholds and status."""
        threshold = self.threshold or Threshold()
        return {
            "group": self.group,
            **self.stats.to_dict(),
            "threshold_accuracy": threshold.accuracy,
            "threshold_format": threshold.format,
            "gate": threshold.gate,
            "threshold": asdict(threshold),
            "status": self.status,
            "gate_passed": {PASSED: True, FAILED: False}.get(self.status),
            "failures": list(self.failures),
            "gaps": list(self.gaps),
        }


@dataclass(frozen=True)
class Verdict:
    """The run's verdict with the counts behind it and every reason it is not 'passed'."""

    status: RunStatus
    answered_count: int  # JSON: "answered"
    errored: int
    not_run: int
    skipped: int
    interrupted: bool
    failures: tuple[str, ...]
    gaps: tuple[str, ...]
    subset: str | None = None  # 'subset: 24 of 646 cases (-k)' when only part of the suite ran
    missed: int = 0  # answered cases whose checks failed
    gated: int = 0  # thresholds or budgets (per group, backend and category), must-pass cases and a baseline gate

    @property
    def passed(self) -> bool:
        """True only for a complete run with no failed gate."""
        return self.status == PASSED

    @property
    def counts(self) -> str:
        """'12 answered, 2 errored, 1 not run, 3 skipped': the answered count, then each other count that is not 0."""
        others = ((self.errored, "errored"), (self.not_run, "not run"), (self.skipped, "skipped"))
        return ", ".join([f"{self.answered_count} answered"] + [f"{n} {what}" for n, what in others if n])

    def to_dict(self) -> dict:
        """A JSON-ready dict; ``passed`` is true only for the verdict 'passed'."""
        data = asdict(self)
        data["answered"] = data.pop("answered_count")
        return {**data, "passed": self.passed, "failures": list(self.failures), "gaps": list(self.gaps)}


def judge_group(group: str, stats: CategoryStats, threshold: Threshold | None, max_error_rate: float) -> GroupGate:
    """The gate of one group's category from its stats: incomplete, failed, passed or ungated."""
    where = f"{stats.backend}: {group} {stats.category}"
    tolerated = math.floor(max_error_rate * stats.selected + 1e-9)
    gaps = []
    gated = threshold is not None and threshold != Threshold(gate=threshold.gate)
    if gated and stats.n == 0 and not (stats.not_run or stats.errors):
        # Every case skipped (say, a backend without a prompt for the task): nothing measured is no pass.
        gaps.append(f"{where}: not measured (every case skipped, none answered)")
        return GroupGate(group, stats, threshold, NOT_MEASURED, (), tuple(gaps))
    if threshold is not None and threshold.accuracy is not None and stats.ungraded and not stats.graded:
        # Answered, but graded only by judges whose verdicts do not count: the accuracy was not measured.
        gaps.append(f"{where}: accuracy not measured ({stats.ungraded} cases graded by a judge below its min_kappa)")
        return GroupGate(group, stats, threshold, NOT_MEASURED, (), tuple(gaps))
    if stats.not_run or stats.errors > tolerated:
        allowed = f"; {tolerated} tolerated" if tolerated else ""
        gaps.append(
            f"{where}: {stats.errors + stats.not_run} of {stats.selected} cases unanswered "
            f"({stats.errors} errored, {stats.not_run} not run{allowed})"
        )
    failures = []
    if threshold is not None:
        measured = {
            "accuracy": (stats.accuracy, stats.accuracy_low),
            "format": (stats.format_rate, stats.format_low),
        }
        evidence = {"accuracy": stats.evidence, "format": f"{stats.formatted} cases with format checks"}
        for metric, minimum in (("accuracy", threshold.accuracy), ("format", threshold.format)):
            point, lower = measured[metric]
            if minimum is None or point is None:
                continue  # no threshold, or no answered case has checks of this kind (nothing answered is a gap above)
            value, label = (lower, f"{metric} lower bound") if threshold.gate == "lower_bound" else (point, metric)
            if value < minimum:
                failures.append(f"{where} {label} {value:.2f} < {minimum:.2f} ({evidence[metric]})")
        if (
            threshold.robustness is not None
            and stats.robustness is not None
            and stats.robustness < threshold.robustness
        ):
            failures.append(
                f"{where} robustness {stats.robustness:.2f} < {threshold.robustness:.2f} ({stats.variants} variants)"
            )
        failures += budget_failures(where, stats, threshold)
    status: GateStatus = INCOMPLETE if gaps else FAILED if failures else PASSED if gated else UNGATED
    return GroupGate(group, stats, threshold, status, tuple(failures), tuple(gaps))


BUDGETS = (
    ("latency_p95_ms", "p95 latency", "fresh_latency_p95_ms", " ms"),
    ("ttft_p95_ms", "p95 TTFT", "fresh_ttft_p95_ms", " ms"),
    ("cost_per_request_usd", "cost per request", "mean_cost_usd", " USD"),
)


def budget_failures(where: str, stats: CategoryStats, threshold: Threshold) -> list[str]:
    """One line per budget exceeded. Timings count fresh answers only: a cached answer's latency was
    measured in another run, so a budget with no fresh answer is not judged."""
    failures = []
    for key, label, measure, unit in BUDGETS:
        limit, value = getattr(threshold, key), getattr(stats, measure)
        if limit is not None and value is not None and value > limit:
            failures.append(f"{where} {label} {value:.6g}{unit} > {limit:g}{unit}")
    return failures


def must_pass_findings(rows: Sequence[CaseRow]) -> tuple[list[str], list[str]]:
    """(failures, gaps) of the must-pass cases: each missed one fails, each unanswered one is a gap."""
    failures = [f"{r.backend}: must-pass case {r.where} missed" for r in rows if r.must_pass and r.missed]
    gaps = [
        f"{r.backend}: must-pass case {r.where} {'errored' if r.status == ERROR else 'not run'}"
        for r in rows
        if r.must_pass and r.status in (ERROR, NOT_RUN)
    ]
    return failures, gaps


def judge_run(
    rows: Sequence[CaseRow],
    groups: Sequence[GroupGate],
    interrupted: bool,
    stop_reason: str | None,
    regressions: Sequence[str] = (),
    subset: str | None = None,
    regression_gated: bool = False,
) -> Verdict:
    """The run's verdict: subset when only part of the suite was selected (``subset`` says which part),
    else incomplete when anything gated went unmeasured, else failed (a threshold, a must-pass case or a
    regression against the baseline) or passed."""
    failures, gaps = must_pass_findings(rows)
    failures = [f for g in groups for f in g.failures] + failures + list(regressions)
    gaps = [gap for g in groups for gap in g.gaps] + gaps
    unplaced = [r for r in rows if r.status == NOT_RUN and not r.category]  # under xdist: known by node id only
    if unplaced:
        gaps.append(f"{len(unplaced)} collected cases never ran")
    count = {s: sum(r.status == s for r in rows) for s in (ANSWERED, ERROR, NOT_RUN, SKIPPED)}
    if stop_reason and count[NOT_RUN]:
        gaps.insert(0, f"the run stopped early ({stop_reason})")
    if interrupted:
        gaps.insert(0, "the run was interrupted")
    status: RunStatus = SUBSET if subset else INCOMPLETE if gaps else FAILED if failures else PASSED
    return Verdict(
        status,
        count[ANSWERED],
        count[ERROR],
        count[NOT_RUN],
        count[SKIPPED],
        interrupted,
        tuple(failures),
        tuple(dict.fromkeys(gaps)),
        subset,
        sum(r.missed for r in rows),
        sum(g.status != UNGATED for g in groups) + sum(r.must_pass for r in rows) + regression_gated,
    )
