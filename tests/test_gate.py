"""The gate rules of verdict/gate.py, as plain functions on hand-made stats and rows (no pytester)."""

from __future__ import annotations

from pytest_llmgate.suite.terms import Threshold
from pytest_llmgate.verdict.compare import category_stats
from pytest_llmgate.verdict.gate import (
    FAILED,
    INCOMPLETE,
    NOT_MEASURED,
    PASSED,
    SUBSET,
    UNGATED,
    judge_group,
    judge_run,
    must_pass_findings,
)
from pytest_llmgate.verdict.rows import CaseRow


def row(case_id: str, passed: bool | None = True, status: str = "answered", **fields) -> CaseRow:
    return CaseRow(
        id=case_id, file="f.llm.yaml", group=".", category="common", backend="b", status=status, passed=passed, **fields
    )


HALF = Threshold(accuracy=0.5)


def gate(rows: list[CaseRow], threshold: Threshold | None = HALF, max_error_rate: float = 0.0):
    return judge_group(".", category_stats("b", "common", rows, "."), threshold, max_error_rate)


def test_a_category_over_its_threshold_passes_and_under_it_fails() -> None:
    assert gate([row("a"), row("b"), row("c", False)]).status == PASSED
    failed = gate([row("a"), row("b", False), row("c", False)])
    assert failed.status == FAILED
    assert failed.failures == ("b: . common accuracy 0.33 < 0.50 (3 graded cases)",)


def test_the_failure_line_names_the_count_the_table_shows_as_graded() -> None:
    # Two of the four selected rows are perturbation searches: selected 4, graded 2, and the line says 2.
    rows = [row("a", False), row("b", False), row("a", None, kind="perturb"), row("b", None, kind="perturb")]
    result = gate(rows)
    assert (result.stats.selected, result.stats.graded) == (4, 2)
    assert result.failures == ("b: . common accuracy 0.00 < 0.50 (2 graded cases)",)


def test_attacks_of_one_case_are_one_cluster() -> None:
    attacks = [row(f"ticket-{t}.attack-{a}", source=f"ticket-{t}") for t in range(4) for a in range(26)]
    result = gate(attacks, Threshold(accuracy=0.9, gate="lower_bound"))
    stats = result.stats
    assert (stats.graded, stats.clusters, stats.effective_n) == (104, 4, 4.0)
    assert stats.evidence == "104 graded cases in 4 clusters"
    # 104 of 104 would have a lower bound of 0.96; four tickets, all right, 0.51 at z = 1.96 and 0.28 at
    # Student's t with 3 degrees of freedom (3.18), the critical value for four clusters.
    assert round(stats.accuracy_low, 2) == 0.28
    assert result.failures == ("b: . common accuracy lower bound 0.28 < 0.90 (104 graded cases in 4 clusters)",)


def test_a_gated_category_with_nothing_answered_is_not_measured_never_passed() -> None:
    skipped = [row("a", None, status="skipped"), row("b", None, status="skipped")]
    result = gate(skipped)
    assert result.status == NOT_MEASURED
    assert result.gaps == ("b: . common: not measured (every case skipped, none answered)",)
    verdict = judge_run(skipped, [result], interrupted=False, stop_reason=None)
    assert verdict.status == INCOMPLETE and not verdict.passed
    assert gate(skipped, None).status == UNGATED  # no threshold: nothing to measure against


def test_errors_beyond_the_tolerated_rate_are_incomplete() -> None:
    rows = [row(str(i)) for i in range(9)] + [row("x", None, status="error")]
    assert gate(rows).status == INCOMPLETE
    assert gate(rows, max_error_rate=0.1).status == PASSED


def test_must_pass_misses_fail_and_unanswered_ones_are_gaps() -> None:
    rows = [row("a", False, must_pass=True), row("b", None, status="error", must_pass=True)]
    failures, gaps = must_pass_findings(rows)
    assert failures == ["b: must-pass case f.llm.yaml::a missed"]
    assert gaps == ["b: must-pass case f.llm.yaml::b errored"]


def test_a_subset_is_never_passed() -> None:
    rows = [row("a"), row("b", False, format_ok=None)]
    passing = gate(rows)
    verdict = judge_run(rows, [passing], False, None, subset="subset: 2 of 10 cases (-k)")
    assert verdict.status == SUBSET and not verdict.passed
    assert (verdict.missed, verdict.to_dict()["subset"]) == (1, "subset: 2 of 10 cases (-k)")
