"""The baseline gate: loading a saved run, matching cases, flips, labels, tolerance and the gate rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.terms import Tolerance, parse_tolerance
from pytest_llmgate.verdict.baseline import (
    ALL,
    FIXED,
    NEW,
    REGRESSED,
    REMOVED,
    UNMATCHED,
    Baseline,
    compare_with_baseline,
    flip_lines,
    flips_to_notice,
    judge_regression,
    load_baseline,
)
from pytest_llmgate.verdict.rows import CaseRow

BACKEND = "smollm2-prompted"


def row(case_id: str, passed: bool | None, backend: str = BACKEND, category: str = "common", **fields: Any) -> CaseRow:
    fields.setdefault("output", f"{case_id} says {'yes' if passed else 'no'}")
    return CaseRow(
        id=case_id,
        file="suite/common.llm.yaml",
        group="suite",
        category=category,
        backend=backend,
        passed=passed,
        **fields,
    )


def save(tmp_path: Path, rows: list[CaseRow], run: dict | None = None) -> Path:
    document: dict[str, Any] = {"verdict": {"status": "passed"}, "summary": [], "cases": [r.to_dict() for r in rows]}
    if run is not None:
        document["run"] = run
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def suite(passing: int, failing: int, prefix: str = "c", **fields: Any) -> list[CaseRow]:
    """``passing`` cases that pass then ``failing`` that fail, ids c00, c01, ..."""
    return [row(f"{prefix}{i:02d}", i < passing, **fields) for i in range(passing + failing)]


def test_flips_are_listed_with_outputs_and_counted(tmp_path: Path) -> None:
    old = [row("a", True), row("b", False), row("c", True), row("d", True, format_ok=True)]
    new = [row("a", False), row("b", True), row("c", True), row("d", True, format_ok=False)]
    regression = compare_with_baseline(load_baseline(save(tmp_path, old)), new)
    assert [(c.kind, c.id) for c in regression.cases] == [(REGRESSED, "a"), (FIXED, "b"), (REGRESSED, "d")]
    flipped = regression.of_kind(REGRESSED)[0]
    assert (flipped.baseline_output, flipped.output) == ("a says yes", "a says no")
    common = next(c for c in regression.categories if c.category == "common")
    assert (common.regressed, common.fixed) == (2, 1)
    assert (common.accuracy.n, common.accuracy.worse, common.accuracy.better) == (4, 1, 1)
    assert common.accuracy.change_points == 0.0
    assert (common.format.n, common.format.worse, common.format.change_points) == (1, 1, -100.0)
    lines = flip_lines(regression)
    assert lines[0] == "regressed: suite/common.llm.yaml::a [smollm2-prompted]: 'a says yes' -> 'a says no'"
    assert lines[2].startswith("fixed: suite/common.llm.yaml::b")


def test_new_removed_and_unanswered_cases_are_listed_not_counted(tmp_path: Path) -> None:
    old = [row("kept", True), row("gone", True), row("broke", True), row("late", False, status="not_run")]
    new = [
        row("kept", True),
        row("added", False),
        row("broke", None, status="error", error="timeout"),
        row("late", True),
    ]
    regression = compare_with_baseline(load_baseline(save(tmp_path, old)), new)
    kinds = {c.id: c.kind for c in regression.cases}
    assert kinds == {"added": NEW, "gone": REMOVED, "broke": UNMATCHED, "late": UNMATCHED}
    everything = regression.categories[-1]
    assert (everything.group, everything.category) == (ALL, ALL)
    assert (everything.regressed, everything.fixed, everything.new, everything.removed, everything.unmatched) == (
        0,
        0,
        1,
        1,
        2,
    )
    assert everything.accuracy.n == 1 and everything.p_value == 1.0
    assert (
        "smollm2-prompted: cases 1 new since the baseline, 1 in the baseline only, 2 unanswered in one run "
        "(listed, not counted as flips)" in regression.notes
    )
    lines = flip_lines(regression)
    assert (
        "unmatched: errored or not run: 2: suite/common.llm.yaml::broke [smollm2-prompted] (answered -> error), "
        "suite/common.llm.yaml::late [smollm2-prompted] (not_run -> answered)" in lines
    )
    assert judge_regression(regression, Tolerance())[0] == []


def test_skipped_cases_count_as_absent(tmp_path: Path) -> None:
    regression = compare_with_baseline(
        load_baseline(save(tmp_path, [row("a", True)])), [row("a", None, status="skipped")]
    )
    assert [(c.kind, c.status) for c in regression.cases] == [(REMOVED, None)]


def test_mcnemar_p_on_the_flips(tmp_path: Path) -> None:
    old = suite(40, 0)
    new = suite(32, 8)  # c32..c39 regressed
    regression = compare_with_baseline(load_baseline(save(tmp_path, old)), new)
    common = regression.categories[0]
    assert (common.regressed, common.fixed) == (8, 0)
    assert common.p_value == pytest.approx(2 / 2**8)
    assert common.accuracy.p_value == pytest.approx(0.0078125)
    assert common.accuracy.change_points == -20.0


def test_tolerance_parsing() -> None:
    assert parse_tolerance("") == Tolerance(0.0, 0.0)
    assert parse_tolerance("  ") == Tolerance()
    assert parse_tolerance("accuracy:2%") == Tolerance(accuracy=2.0)
    assert parse_tolerance("accuracy:2%, format: 5.5%") == Tolerance(accuracy=2.0, format=5.5)
    assert parse_tolerance("format:0%").points("format") == 0.0


@pytest.mark.parametrize(
    "spec",
    [
        "accuracy:2",
        "accuracy:0.02",
        "latency:2%",
        "accuracy:-2%",
        "accuracy:150%",
        "accuracy:2%,accuracy:3%",
        "accuracy=2%",
        "accuracy:2%,",
        "2%",
    ],
)
def test_bad_tolerance_names_the_form(spec: str) -> None:
    with pytest.raises(ValueError, match="METRIC:N%"):
        parse_tolerance(spec)


def test_one_flip_in_three_cases_is_noise(tmp_path: Path) -> None:
    regression = compare_with_baseline(load_baseline(save(tmp_path, suite(3, 0))), suite(2, 1))
    assert regression.categories[0].accuracy.change_points == pytest.approx(-100 / 3)
    assert judge_regression(regression, Tolerance())[0] == []
    warnings = judge_regression(regression, Tolerance())[1]
    assert len(warnings) == 2  # the category and the backend's cases together
    assert "could be chance" in warnings[0] and "at least 6 regressed cases" in warnings[0]
    assert flips_to_notice() == 6 and flips_to_notice(0.01) == 8  # 2 / 2**k below alpha
    assert flip_lines(regression)[0].startswith("regressed: suite/common.llm.yaml::c02")


def test_eight_flips_of_forty_fail_the_gate(tmp_path: Path) -> None:
    baseline = load_baseline(save(tmp_path, suite(40, 0)))
    regression = compare_with_baseline(baseline, suite(32, 8))
    failures = judge_regression(regression, parse_tolerance("accuracy:2%"))[0]
    assert failures[0] == (
        "smollm2-prompted: suite common accuracy 1.00 -> 0.80 (-20.0 points, 8 regressed / "
        "0 fixed, McNemar p=0.0078) exceeds the allowed drop of 2.0 points"
    )
    assert failures[1].startswith("smollm2-prompted: all cases accuracy 1.00 -> 0.80")
    assert judge_regression(regression, parse_tolerance("accuracy:25%"))[0] == []
    assert (
        judge_regression(regression, Tolerance(), per_category={"common": Tolerance(25), ALL: Tolerance(25)})[0] == []
    )
    assert judge_regression(regression, Tolerance(), alpha=0.005)[0] == []  # p = 0.0078


def test_a_drop_spread_over_categories_fails_on_all_cases(tmp_path: Path) -> None:
    old = suite(20, 0, prefix="e", category="edge") + suite(20, 0, prefix="c")
    new = suite(16, 4, prefix="e", category="edge") + suite(16, 4, prefix="c")
    regression = compare_with_baseline(load_baseline(save(tmp_path, old)), new)
    assert [(c.group, c.category) for c in regression.categories] == [
        ("suite", "common"),
        ("suite", "edge"),
        (ALL, ALL),
    ]
    failures = judge_regression(regression, Tolerance())[0]
    assert len(failures) == 1 and failures[0].startswith("smollm2-prompted: all cases accuracy")


def test_a_must_pass_flip_always_fails(tmp_path: Path) -> None:
    old = [row("safety", True, must_pass=True), row("other", True)]
    new = [row("safety", False, must_pass=True), row("other", True)]
    regression = compare_with_baseline(load_baseline(save(tmp_path, old)), new)
    failures = judge_regression(regression, parse_tolerance("accuracy:100%"))[0]
    assert failures == [
        ("smollm2-prompted: must-pass case suite/common.llm.yaml::safety passed in the baseline and fails now")
    ]
    assert "(must pass)" in flip_lines(regression)[0]


def test_another_backends_baseline_is_labelled(tmp_path: Path) -> None:
    run = {"backends": {"gpt-4o-mini-prompted": {"provider": "openai", "model": "gpt-4o-mini", "fingerprint": "a1b2"}}}
    baseline = load_baseline(save(tmp_path, suite(3, 0, backend="gpt-4o-mini-prompted"), run))
    regression = compare_with_baseline(baseline, suite(2, 1), baseline_backend="gpt-4o-mini-prompted")
    assert regression.notes[0] == (
        "smollm2-prompted: baseline from another backend: gpt-4o-mini-prompted (openai gpt-4o-mini)"
    )
    assert regression.of_kind(REGRESSED)[0].baseline_backend == "gpt-4o-mini-prompted"
    with pytest.raises(SpecError, match="has no backend 'nope'; it has: gpt-4o-mini-prompted"):
        compare_with_baseline(baseline, suite(2, 1), baseline_backend="nope")
    unmapped = compare_with_baseline(baseline, suite(2, 1))
    assert unmapped.cases == () and unmapped.notes == (
        "baseline backend gpt-4o-mini-prompted is not in this run",
        "smollm2-prompted: not in the baseline, nothing to compare with",
    )


def test_changed_fingerprint_and_missing_run_section_are_labelled(tmp_path: Path) -> None:
    old_run = {"backends": {BACKEND: {"provider": "llama_cpp", "model": "smollm2", "fingerprint": "a1b2"}}}
    now = {BACKEND: {"provider": "llama_cpp", "model": "smollm2", "fingerprint": "c3d4"}}
    regression = compare_with_baseline(load_baseline(save(tmp_path, suite(2, 0), old_run)), suite(2, 0), now)
    assert regression.notes == (
        "baseline from another model or prompt for smollm2-prompted (fingerprint a1b2 -> c3d4)",
    )
    same = compare_with_baseline(
        load_baseline(save(tmp_path, suite(2, 0), old_run)), suite(2, 0), {BACKEND: old_run["backends"][BACKEND]}
    )
    assert same.notes == ()
    older = compare_with_baseline(load_baseline(save(tmp_path, suite(2, 0))), suite(2, 0), now)
    assert older.notes[0].startswith("the baseline records no model or prompt fingerprints")


def test_to_dict_is_json_ready(tmp_path: Path) -> None:
    regression = compare_with_baseline(load_baseline(save(tmp_path, suite(40, 0))), suite(32, 8))
    data = json.loads(json.dumps(regression.to_dict()))
    assert data["counts"] == {"regressed": 8, "fixed": 0, "new": 0, "removed": 0, "unmatched": 0}
    assert data["categories"][0]["accuracy"]["change_points"] == -20.0
    assert data["categories"][0]["p_value"] == pytest.approx(0.0078125)
    assert data["cases"][0]["output"] == "c32 says no"


def test_flip_lines_clip_outputs_and_limit_the_list(tmp_path: Path) -> None:
    old = suite(30, 0)
    new = [row(r.id, False, output="x" * 500) for r in old]
    lines = flip_lines(compare_with_baseline(load_baseline(save(tmp_path, old)), new), limit=5, output_chars=50)
    assert len(lines) == 6 and lines[-1] == "regressed: ... and 25 more"
    assert "[truncated: 500 characters in all]" in lines[0] and len(lines[0]) < 200


def test_missing_baseline_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no baseline here; .*--llm-save-baseline=") as info:
        load_baseline(tmp_path / "nope.json")
    assert info.value.path == tmp_path / "nope.json"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "no 'cases' list"),
        ('{"summary": []}', "no 'cases' list"),
        ('{"cases": [3]}', r"cases/0: 3 is not of type 'object'"),
        ('{"cases": [{"id": "a", "file": "f"}]}', r"cases/0: 'backend' is a required property"),
        (
            '{"cases": [{"id": "a", "file": "f", "backend": "b", "passed": "yes"}]}',
            "cases/0/passed: 'yes' is not of type 'boolean', 'null'",
        ),
        ('{"cases": [], "run": {"backends": []}}', r"run/backends: \[\] is not of type 'object'"),
    ],
)
def test_invalid_baseline_is_a_spec_error(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SpecError, match=problem) as info:
        load_baseline(path)
    assert "--llm-save-baseline" in str(info.value)


def test_loading_tolerates_unknown_and_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(
        json.dumps({"cases": [{"id": "a", "file": "f.llm.yaml", "backend": "b", "passed": True, "added_later": 1}]}),
        encoding="utf-8",
    )
    baseline = load_baseline(path)
    assert baseline == Baseline(
        str(path), (CaseRow(id="a", file="f.llm.yaml", group="", category="", backend="b", passed=True),), {}
    )
