"""Regression against a saved run: match this run's cases with a baseline results file, list the
cases that flipped, and fail the gate only on drops that exceed the tolerance and are not noise.

Cases are matched on (file, case id, backend), or every backend of this run against one baseline
backend when asked. A case *passes* when it was answered and neither a correctness nor a format
check failed; it *regressed* when it passed in the baseline and fails now, it is *fixed* the other
way round. Cases in one run only (new, removed) and cases unanswered in either run (errored, not
run) are listed apart and never counted as flips. Skipped rows count as absent.

Accuracy and format rate are compared per backend, gate group and category, and per backend over
all its cases (group and category ``all``, which catches a drop spread thin over categories), on
the cases both runs answered and measured: so only flips move them, and McNemar's exact test on
those flips says whether the drop could be chance. The gate rule is in ``judge_regression``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..checks.text import clip
from ..errors import SpecError
from ..suite.terms import ACCURACY, CATEGORIES, FORMAT, Tolerance
from .compare import ALL
from .results import read_results
from .rows import SKIPPED, CaseRow
from .stats import mcnemar_exact, proportion

REGRESSED, FIXED, NEW, REMOVED, UNMATCHED = "regressed", "fixed", "new", "removed", "unmatched"
DEFAULT_ALPHA = 0.05
SAVE_OPTION = "--llm-save-baseline"
_KIND_TITLES = {
    NEW: "new: not in the baseline",
    REMOVED: "removed: in the baseline only",
    UNMATCHED: "unmatched: errored or not run",
}


@dataclass(frozen=True)
class Baseline:
    """A saved run: its case rows and, from newer files, each backend's provider, model and fingerprint."""

    path: str
    rows: tuple[CaseRow, ...]
    backends: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # empty for files without a run section

    @property
    def backend_names(self) -> list[str]:
        """The backends the baseline has cases of, by name."""
        return sorted({r.backend for r in self.rows})


def load_baseline(path: str | Path) -> Baseline:
    """Read a saved results file; SpecError naming the file and how to save one when it is missing or invalid."""
    results = read_results(path, "baseline", f"save one with `pytest {SAVE_OPTION}={path}`")
    return Baseline(results.path, results.rows, results.backends)


@dataclass(frozen=True)
class MetricChange:
    """One rate (accuracy or format) before and after, on the cases both runs answered and measured."""

    metric: str  # accuracy or format
    n: int  # cases measured in both runs
    baseline: float | None  # None when n is 0
    current: float | None
    worse: int  # cases right in the baseline and wrong now
    better: int  # cases wrong in the baseline and right now

    @property
    def change_points(self) -> float | None:
        """Current minus baseline rate in percentage points; None with nothing measured."""
        return 100 * (self.better - self.worse) / self.n if self.n else None

    @property
    def p_value(self) -> float:
        """Two-sided exact McNemar p of the flips: how likely so lopsided a split is by chance."""
        return mcnemar_exact(self.better, self.worse)

    def describe(self) -> str:
        """'accuracy 0.92 -> 0.84 (-8.0 points, 8 regressed / 0 fixed, McNemar p=0.0078)'."""
        if self.baseline is None or self.current is None or self.change_points is None:
            return f"{self.metric} not measured in both runs"
        return (
            f"{self.metric} {self.baseline:.2f} -> {self.current:.2f} ({self.change_points:+.1f} points, "
            f"{self.worse} regressed / {self.better} fixed, McNemar p={self.p_value:.2g})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the change in points and the p-value."""
        return {**asdict(self), "change_points": self.change_points, "p_value": self.p_value}


@dataclass(frozen=True)
class CaseChange:
    """A case that is not simply the same in both runs: flipped, new, removed or unanswered on a side."""

    kind: str  # regressed, fixed, new, removed or unmatched
    id: str
    file: str
    group: str
    category: str
    backend: str
    baseline_backend: str
    must_pass: bool
    baseline_status: str | None  # None: not in the baseline
    status: str | None  # None: not in this run
    baseline_output: str | None
    output: str | None

    @property
    def where(self) -> str:
        """'file::id' for messages."""
        return f"{self.file}::{self.id}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class CategoryChange:
    """One backend on one gate group and category (or on ``all`` its cases) against the baseline."""

    backend: str
    baseline_backend: str
    group: str  # ``all`` with category ``all``: every case of the backend
    category: str
    accuracy: MetricChange
    format: MetricChange
    regressed: int
    fixed: int
    new: int
    removed: int
    unmatched: int

    @property
    def p_value(self) -> float:
        """Two-sided exact McNemar p of the regressed and fixed cases (pass meaning no check failed)."""
        return mcnemar_exact(self.fixed, self.regressed)

    @property
    def where(self) -> str:
        """'backend: group category', or 'backend: all cases'."""
        if self.group == ALL and self.category == ALL:
            return f"{self.backend}: all cases"
        return f"{self.backend}: {self.group} {self.category}"

    def metrics(self) -> tuple[MetricChange, MetricChange]:
        """Accuracy and format rate changes."""
        return self.accuracy, self.format

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with both metrics and the flips' p-value."""
        return {
            **asdict(self),
            "accuracy": self.accuracy.to_dict(),
            "format": self.format.to_dict(),
            "p_value": self.p_value,
        }


@dataclass(frozen=True)
class Regression:
    """This run against a baseline: changes per backend, group and category, the changed cases, and notes
    on what differs in what was run (another backend, model or prompt, other cases)."""

    baseline_path: str
    baseline_backend: str | None  # the one baseline backend every backend was compared with, if asked
    categories: tuple[CategoryChange, ...]
    cases: tuple[CaseChange, ...]  # each changed case once, by backend, file and id
    notes: tuple[str, ...]

    def of_kind(self, kind: str) -> tuple[CaseChange, ...]:
        """The cases of one kind: regressed, fixed, new, removed or unmatched."""
        return tuple(c for c in self.cases if c.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: baseline, notes, per-category changes, changed cases and their counts."""
        return {
            "baseline": self.baseline_path,
            "baseline_backend": self.baseline_backend,
            "notes": list(self.notes),
            "categories": [c.to_dict() for c in self.categories],
            "cases": [c.to_dict() for c in self.cases],
            "counts": {kind: len(self.of_kind(kind)) for kind in (REGRESSED, FIXED, NEW, REMOVED, UNMATCHED)},
        }


def _passes(row: CaseRow) -> bool:
    return row.answered and not row.missed


def _kind(old: CaseRow | None, new: CaseRow | None) -> str | None:
    """How a case changed; None when it is answered in both and passes or fails in both."""
    if old is None:
        return NEW
    if new is None:
        return REMOVED
    if not (old.answered and new.answered):
        return UNMATCHED
    if _passes(old) != _passes(new):
        return REGRESSED if _passes(old) else FIXED
    return None


def _metric_change(metric: str, pairs: Sequence[tuple[CaseRow, CaseRow]]) -> MetricChange:
    """``metric`` over the answered pairs where both runs measured it."""
    value: Callable[[CaseRow], bool | None] = (lambda r: r.passed) if metric == ACCURACY else (lambda r: r.format_ok)
    measured = [
        (old, new) for old, new in ((value(a), value(b)) for a, b in pairs) if old is not None and new is not None
    ]
    return MetricChange(
        metric=metric,
        n=len(measured),
        baseline=proportion(sum(old for old, _ in measured), len(measured)),
        current=proportion(sum(new for _, new in measured), len(measured)),
        worse=sum(old and not new for old, new in measured),
        better=sum(new and not old for old, new in measured),
    )


def _category_order(category: str) -> tuple[int, str]:
    return (CATEGORIES.index(category), "") if category in CATEGORIES else (len(CATEGORIES), category)


def _keyed(rows: Iterable[CaseRow], backend: str) -> dict[tuple[str, str], CaseRow]:
    """``backend``'s rows by (file, id), skipped ones left out as never measured."""
    return {(r.file, r.id): r for r in rows if r.backend == backend and r.status != SKIPPED}


def _identity_text(identity: Mapping[str, str]) -> str:
    return " ".join(part for part in (identity.get("provider"), identity.get("model")) if part)


def _backend_labels(
    backend: str, old_backend: str, baseline: Baseline, run_backends: Mapping[str, Mapping[str, str]] | None
) -> list[str]:
    """Notes on how ``backend`` differs from the baseline backend it is compared with."""
    old_identity = baseline.backends.get(old_backend, {})
    new_identity = (run_backends or {}).get(backend, {})
    if old_backend != backend:
        described = _identity_text(old_identity)
        return [f"{backend}: baseline from another backend: {old_backend}" + (f" ({described})" if described else "")]
    old_print, new_print = old_identity.get("fingerprint"), new_identity.get("fingerprint")
    if old_print and new_print and old_print != new_print:
        old_model, new_model = old_identity.get("model"), new_identity.get("model")
        model = f"model {old_model} -> {new_model}, " if old_model and new_model and old_model != new_model else ""
        return [f"baseline from another model or prompt for {backend} ({model}fingerprint {old_print} -> {new_print})"]
    return []


def _count_label(change: CategoryChange) -> str | None:
    """'backend: cases 3 new since the baseline, ...' when the two runs did not hold the same answered cases."""
    parts = [
        f"{change.new} new since the baseline" if change.new else "",
        f"{change.removed} in the baseline only" if change.removed else "",
        f"{change.unmatched} unanswered in one run" if change.unmatched else "",
    ]
    listed = [p for p in parts if p]
    return f"{change.backend}: cases {', '.join(listed)} (listed, not counted as flips)" if listed else None


def _compare_backend(
    backend: str,
    old_backend: str,
    old_rows: Mapping[tuple[str, str], CaseRow],
    new_rows: Mapping[tuple[str, str], CaseRow],
) -> tuple[list[CaseChange], list[CategoryChange]]:
    """The changed cases of one backend and its changes per group and category, then over all its cases."""
    pairs: dict[tuple[str, str], list[tuple[CaseRow, CaseRow]]] = defaultdict(list)
    found: dict[tuple[str, str], list[CaseChange]] = defaultdict(list)
    changes = []
    for key in sorted(old_rows.keys() | new_rows.keys()):
        old, new = old_rows.get(key), new_rows.get(key)
        either = new or old
        assert either is not None  # the key comes from one side or the other
        # A case moved to another group or category counts where it is now.
        place = ((new and new.group) or either.group, (new and new.category) or either.category)
        if old is not None and new is not None and old.answered and new.answered:
            pairs[place].append((old, new))
            pairs[(ALL, ALL)].append((old, new))
        kind = _kind(old, new)
        if kind is not None:
            change = CaseChange(
                kind=kind,
                id=either.id,
                file=either.file,
                group=place[0],
                category=place[1],
                backend=backend,
                baseline_backend=old_backend,
                must_pass=bool(new and new.must_pass),
                baseline_status=old.status if old else None,
                status=new.status if new else None,
                baseline_output=old.output if old else None,
                output=new.output if new else None,
            )
            changes.append(change)
            found[place].append(change)
            found[(ALL, ALL)].append(change)
    places = sorted(
        (p for p in pairs.keys() | found.keys() if p != (ALL, ALL)), key=lambda p: (p[0], _category_order(p[1]))
    )
    categories = []
    for group, category in [*places, (ALL, ALL)]:
        counts = {
            kind: sum(c.kind == kind for c in found[(group, category)])
            for kind in (REGRESSED, FIXED, NEW, REMOVED, UNMATCHED)
        }
        categories.append(
            CategoryChange(
                backend=backend,
                baseline_backend=old_backend,
                group=group,
                category=category,
                accuracy=_metric_change(ACCURACY, pairs[(group, category)]),
                format=_metric_change(FORMAT, pairs[(group, category)]),
                regressed=counts[REGRESSED],
                fixed=counts[FIXED],
                new=counts[NEW],
                removed=counts[REMOVED],
                unmatched=counts[UNMATCHED],
            )
        )
    return changes, categories


def compare_with_baseline(
    baseline: Baseline,
    rows: Sequence[CaseRow],
    run_backends: Mapping[str, Mapping[str, str]] | None = None,
    baseline_backend: str | None = None,
) -> Regression:
    """This run's ``rows`` against ``baseline``: each backend against the baseline backend of the same name,
    or every backend against ``baseline_backend``. ``run_backends`` is this run's ``run.backends`` section."""
    present = baseline.backend_names
    if baseline_backend is not None and baseline_backend not in present:
        raise SpecError(
            baseline.path,
            None,
            f"the baseline has no backend '{baseline_backend}'; it has: {', '.join(present) or 'no cases at all'}",
        )
    compared = {b: baseline_backend or b for b in sorted({r.backend for r in rows})}
    notes: list[str] = []
    if run_backends and baseline.rows and not baseline.backends:
        notes.append(
            "the baseline records no model or prompt fingerprints (saved by an older version): "
            "a changed model or prompt cannot be told apart"
        )
    if baseline_backend is None:
        notes += [f"baseline backend {b} is not in this run" for b in present if b not in compared]
    changes: list[CaseChange] = []
    categories: list[CategoryChange] = []
    for backend, old_backend in compared.items():
        if old_backend not in present:
            notes.append(f"{backend}: not in the baseline, nothing to compare with")
            continue
        notes += _backend_labels(backend, old_backend, baseline, run_backends)
        found, measured = _compare_backend(
            backend, old_backend, _keyed(baseline.rows, old_backend), _keyed(rows, backend)
        )
        changes += found
        categories += measured
        label = _count_label(measured[-1])  # the last is the backend over all its cases
        if label is not None:
            notes.append(label)
    return Regression(baseline.path, baseline_backend, tuple(categories), tuple(changes), tuple(notes))


def flips_to_notice(alpha: float = DEFAULT_ALPHA) -> int:
    """The fewest flips, all one way, that McNemar's exact test calls significant at ``alpha`` (6 at 0.05)."""
    flips = 1
    while mcnemar_exact(0, flips) >= alpha:
        flips += 1
    return flips


def judge_regression(
    regression: Regression,
    tolerance: Tolerance,
    per_category: Mapping[str, Tolerance] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[list[str], list[str]]:
    """(failures, warnings) of the baseline gate, judged once: why it fails, one line per reason, and the
    drops beyond the tolerance that are not significant (shown to the reader, never failed).

    A metric (accuracy or format rate) of a backend's group and category, or of all its cases,
    fails when it dropped by more than its tolerance (``per_category[category]``, the key ``all``
    for the backend's line over all its cases, else ``tolerance``) AND the flips of that metric are
    significant: McNemar's exact two-sided p < ``alpha``.
    Both are needed: the tolerance says what drop matters, the test that it is not noise. So a
    category with fewer than ``flips_to_notice(alpha)`` flips (6 at 0.05) never fails however
    large its drop (it is a warning), and a tolerance of 0 fails any significant drop.
    A must-pass case that passed in the baseline and fails now always fails the gate.
    """
    failures, warnings = [], []
    for change in regression.categories:
        allowed = (per_category or {}).get(change.category, tolerance)
        for metric in change.metrics():
            points, limit = metric.change_points, allowed.points(metric.metric)
            if points is None or -points <= limit:
                continue
            text = f"{change.where} {metric.describe()} exceeds the allowed drop of {limit:.1f} points"
            if metric.p_value < alpha:
                failures.append(text)
            else:
                warnings.append(
                    f"{text}, but so few flips could be chance (p >= {alpha:g}; it takes at least "
                    f"{flips_to_notice(alpha)} regressed cases and none fixed): not failed"
                )
    failures += [
        f"{case.backend}: must-pass case {case.where} passed in the baseline and fails now"
        for case in regression.of_kind(REGRESSED)
        if case.must_pass
    ]
    return failures, warnings


def _quoted(text: str | None, chars: int) -> str:
    return "(none)" if text is None else repr(clip(text, chars))


def flip_lines(regression: Regression, limit: int = 20, output_chars: int = 200) -> list[str]:
    """Text lines for reports: each regressed then fixed case with its old and new output (up to ``limit``
    of each), then one line each listing the new, removed and unmatched cases."""
    lines = []
    for kind in (REGRESSED, FIXED):
        found = regression.of_kind(kind)
        lines += [
            f"{kind}: {c.where} [{c.backend}]{' (must pass)' if c.must_pass else ''}: "
            f"{_quoted(c.baseline_output, output_chars)} -> {_quoted(c.output, output_chars)}"
            for c in found[:limit]
        ]
        if len(found) > limit:
            lines.append(f"{kind}: ... and {len(found) - limit} more")
    for kind, title in _KIND_TITLES.items():
        found = regression.of_kind(kind)
        if not found:
            continue
        named = [
            f"{c.where} [{c.backend}]"
            + (f" ({c.baseline_status or 'absent'} -> {c.status or 'absent'})" if kind == UNMATCHED else "")
            for c in found[:limit]
        ]
        more = f" and {len(found) - limit} more" if len(found) > limit else ""
        lines.append(f"{title}: {len(found)}: {', '.join(named)}{more}")
    return lines
