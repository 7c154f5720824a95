"""Whether a judge can be believed: its agreement with the user's labels (Cohen's kappa with an interval, the
base rate a constant guess reaches, the confusion matrix, its resistance to answers that argue for a pass),
which cases' verdicts therefore count, what judging cost, and the pairwise comparisons judges made.

Raw agreement flatters a judge when most labels are one verdict (a judge that always says pass agrees 80% with
labels that are 80% pass); kappa discounts that, so the gate on a judge is ``min_kappa``, not agreement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

from .rows import CALIBRATION, PAIRWISE, CaseRow
from .stats import cohen_kappa, kappa_interval, proportion

Trust = Literal["trusted", "below min_kappa", "no verdicts", "uncalibrated"]
TRUSTED: Trust = "trusted"
BELOW: Trust = "below min_kappa"
NO_VERDICTS: Trust = "no verdicts"  # the calibration errored, or its labels leave kappa undefined
UNCALIBRATED: Trust = "uncalibrated"


@dataclass(frozen=True)
class JudgeCalibration:
    """One judge measured on one rubric's labelled examples."""

    rubric: str
    judge: str
    file: str
    min_kappa: float
    examples: int  # labelled examples in the file
    graded: int  # examples the judge gave a verdict on
    agreement: float | None
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None
    base_rate: float | None  # the share of the majority label: what always guessing it agrees
    # judge verdict x human label: passes both agree on, passes only the judge gave, and so on
    true_pass: int = 0
    false_pass: int = 0
    false_fail: int = 0
    true_fail: int = 0
    unstable: int = 0  # examples whose samples split
    attacked: int = 0  # failing answers the judge failed, graded again with an attack appended
    flipped: int = 0  # of those, graded pass: the attack talked the judge round
    error: str | None = None  # why the calibration gave no verdicts at all

    @property
    def trust(self) -> Trust:
        """Whether the judge's verdicts on cases count."""
        if self.kappa is None:
            return NO_VERDICTS
        return TRUSTED if self.kappa >= self.min_kappa else BELOW

    @property
    def injection_resistance(self) -> float | None:
        """Share of the attacked failing answers that still failed."""
        return proportion(self.attacked - self.flipped, self.attacked)

    def summary(self) -> str:
        """One line: 'judge X on rubric R agrees with your labels at kappa 0.21 (0.05-0.37) on 40 examples'."""
        if self.kappa is None:
            why = self.error or (
                f"its {self.graded} verdicts and your labels leave kappa undefined (one verdict throughout)"
                if self.graded
                else "it gave no verdict"
            )
            return f"judge {self.judge} on rubric {self.rubric!r}: no kappa: {why}"
        interval = "" if self.kappa_low is None else f" ({self.kappa_low:.2f}-{self.kappa_high:.2f})"
        return (
            f"judge {self.judge} on rubric {self.rubric!r} agrees with your labels at kappa {self.kappa:.2f}"
            f"{interval} on {self.graded} examples"
        )

    def reason(self) -> str | None:
        """Why the judge's verdicts do not count, or None when they do."""
        if self.trust == TRUSTED:
            return None
        if self.trust == BELOW:
            return f"{self.summary()}: below {self.min_kappa:g}"
        return self.summary()

    def to_dict(self) -> dict:
        """A JSON-ready dict with the trust and injection resistance."""
        return {**asdict(self), "trust": self.trust, "injection_resistance": self.injection_resistance}


def calibrations(rows: Sequence[CaseRow]) -> list[JudgeCalibration]:
    """The calibration of each judge and rubric from the calibration rows of a run."""
    found = []
    for row in rows:
        if row.kind != CALIBRATION:
            continue
        record = row.calibration or {}
        rubric, judge = row.id.removeprefix("calibration."), row.backend
        if row.error is not None or not record:
            found.append(
                JudgeCalibration(rubric, judge, row.file, 0.0, 0, 0, None, None, None, None, None, error=row.error)
            )
            continue
        clean = [e for e in record["examples"] if e["attack"] is None]
        pairs = [(e["human"], e["judge"]) for e in clean if e["judge"] is not None]
        failed_clean = {e["line"] for e in clean if not e["human"] and e["judge"] is False}
        attacks = [e for e in record["examples"] if e["attack"] is not None and e["line"] in failed_clean]
        attacks = [e for e in attacks if e["judge"] is not None]
        interval = kappa_interval(pairs)
        humans = [human for human, _ in pairs]
        found.append(
            JudgeCalibration(
                rubric=record["rubric"],
                judge=record["judge"],
                file=record["file"],
                min_kappa=record["min_kappa"],
                examples=len(clean),
                graded=len(pairs),
                agreement=proportion(sum(a == b for a, b in pairs), len(pairs)),
                kappa=cohen_kappa(pairs),
                kappa_low=None if interval is None else interval[0],
                kappa_high=None if interval is None else interval[1],
                base_rate=proportion(max(sum(humans), len(humans) - sum(humans)), len(humans)),
                true_pass=sum(h and j for h, j in pairs),
                false_pass=sum(j and not h for h, j in pairs),
                false_fail=sum(h and not j for h, j in pairs),
                true_fail=sum(not h and not j for h, j in pairs),
                unstable=sum(bool(e["unstable"]) for e in clean),
                attacked=len(attacks),
                flipped=sum(bool(e["judge"]) for e in attacks),
            )
        )
    return found


def graded_by_trust(
    rows: Sequence[CaseRow], found: Sequence[JudgeCalibration], decision: bool = False
) -> list[CaseRow]:
    """``rows`` with the correctness of each row a distrusted judge graded left uncounted (``ungraded`` says
    why): a judge below its rubric's min_kappa, or one whose calibration gave no kappa. For the ``decision``, an
    uncalibrated judge's verdicts are left out too: the choice between approaches rests on measured judges only."""
    by_key = {(c.rubric, c.judge): c for c in found}
    out = []
    for row in rows:
        reasons = []
        for judgement in row.judged:
            calibration = by_key.get((judgement["rubric"], judgement["judge"]))
            if calibration is not None and calibration.reason() is not None:
                reasons.append(calibration.reason())
            elif calibration is None and decision:
                reasons.append(f"judge {judgement['judge']} on rubric {judgement['rubric']!r} is uncalibrated")
        if reasons and row.passed is not None:
            row = replace(row, passed=None, ungraded="; ".join(dict.fromkeys(r for r in reasons if r)))
        out.append(row)
    return out


def trust_notes(rows: Sequence[CaseRow], found: Sequence[JudgeCalibration]) -> tuple[list[str], list[str]]:
    """(warnings, notes) on judges: each distrusted judge with the cases it leaves unmeasured, and each
    uncalibrated one with the cases it grades unverified."""
    calibrated = {(c.rubric, c.judge): c for c in found}
    graded: dict[tuple[str, str], set[tuple[str, str, str]]] = defaultdict(set)
    for row in rows:
        for judgement in row.judged:
            graded[(judgement["rubric"], judgement["judge"])].add((row.backend, row.file, row.id))
    warnings, notes = [], []
    for key, cases in sorted(graded.items()):
        calibration = calibrated.get(key)
        rubric, judge = key
        if calibration is None:
            notes.append(
                f"judge {judge} on rubric {rubric!r} is uncalibrated (no calibration file, or its calibration did not "
                f"run): its verdicts on {len(cases)} cases count in the gates unverified and are left out of the "
                "decision; add 'calibration:' to the rubric (docs/judging.md)"
            )
        elif (reason := calibration.reason()) is not None:
            warnings.append(f"{reason}; its verdicts on {len(cases)} cases are not counted (unmeasured)")
    for calibration in found:
        if calibration.attacked and calibration.flipped:
            warnings.append(
                f"judge {calibration.judge} on rubric {calibration.rubric!r}: {calibration.flipped} of "
                f"{calibration.attacked} failing answers with an appended attack were graded pass"
            )
    return warnings, notes


@dataclass(frozen=True)
class JudgedCases:
    """One judge's verdicts on one backend's cases by one rubric: how many passed, and how steady its samples were."""

    judge: str
    rubric: str
    backend: str
    cases: int
    passed: int
    samples: int  # samples asked per answer (the most any case had)
    unstable: tuple[str, ...]  # 'file::id' of the cases whose samples split
    mean_agreement: float  # mean share of samples that voted with the majority

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {**asdict(self), "unstable": list(self.unstable)}


def judged_cases(rows: Sequence[CaseRow]) -> list[JudgedCases]:
    """Per judge, rubric and backend: the cases it graded, passes, and the cases whose samples split."""
    found: dict[tuple[str, str, str], list[tuple[CaseRow, Mapping]]] = defaultdict(list)
    for row in rows:
        for judgement in row.judged:
            found[(judgement["judge"], judgement["rubric"], row.backend)].append((row, judgement))
    return [
        JudgedCases(
            judge,
            rubric,
            backend,
            len(mine),
            sum(bool(j["passed"]) for _, j in mine),
            max(len(j["votes"]) for _, j in mine),
            tuple(dict.fromkeys(row.where for row, j in mine if j["unstable"])),
            sum(j["agreement"] for _, j in mine) / len(mine),
        )
        for (judge, rubric, backend), mine in sorted(found.items())
    ]


@dataclass(frozen=True)
class JudgeCost:
    """What one judge's calls spent in the run (cases, calibration, comparisons): never an approach's cost."""

    judge: str
    calls: int
    cached: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def judge_costs(rows: Sequence[CaseRow]) -> list[JudgeCost]:
    """Per judge, the calls, tokens, cost and time of its grading, apart from the answers'."""
    spent: dict[str, list[Mapping]] = defaultdict(list)
    for row in rows:
        for judgement in row.judged:
            calls = len(judgement["votes"])
            spent[judgement["judge"]].append(
                {**judgement, "calls": calls, "cached": calls if judgement["cached"] else 0}
            )
        record = row.calibration or row.pairwise
        if record and "usage" in record:
            spent[record["judge"]].append(record["usage"])
    return [
        JudgeCost(
            judge,
            sum(u["calls"] for u in used),
            sum(u["cached"] for u in used),
            sum(u["prompt_tokens"] for u in used),
            sum(u["completion_tokens"] for u in used),
            sum(u["cost_usd"] for u in used),
            round(sum(u["latency_ms"] for u in used), 3),
        )
        for judge, used in sorted(spent.items())
    ]


@dataclass(frozen=True)
class PairwiseSummary:
    """One judge's comparisons of two backends on one rubric: wins each way and ties (order-dependent ones apart)."""

    rubric: str
    judge: str
    first: str
    second: str
    cases: int
    first_wins: int
    second_wins: int
    ties: int
    order_dependent: int  # ties because the verdict followed the order the answers were shown in
    errors: int

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def pairwise_summaries(rows: Sequence[CaseRow]) -> list[PairwiseSummary]:
    """Per rubric, judge and pair of backends: the judge's choices over the cases compared."""
    found: dict[tuple[str, str, str, str], list[CaseRow]] = defaultdict(list)
    for row in rows:
        if row.pairwise is not None or (row.kind == PAIRWISE and row.error is not None):
            first, second = row.backend.split(" vs ", 1)
            record = row.pairwise or {}
            found[(record.get("rubric", ""), record.get("judge", ""), first, second)].append(row)
    summaries = []
    for (rubric, judge, first, second), mine in sorted(found.items()):
        done = [r.pairwise for r in mine if r.pairwise is not None]
        summaries.append(
            PairwiseSummary(
                rubric,
                judge,
                first,
                second,
                len(done),
                sum(d["winner"] == first for d in done),
                sum(d["winner"] == second for d in done),
                sum(d["winner"] is None for d in done),
                sum(bool(d["order_dependent"]) for d in done),
                len(mine) - len(done),
            )
        )
    return summaries
