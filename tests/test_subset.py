"""A run over part of the suite names the suite's total and is never gated as the suite, --lf included: --lf drops
most cases while collecting, unseen, and skips files with no failure whole."""

from __future__ import annotations

import json

import pytest

PASSING = """
cases:
  - {id: refund, category: common, input: I was charged twice for one order, expect: {label: billing}}
  - {id: crash-on-login, category: common, input: The app crashes on login, expect: {label: technical}}
"""
LAST_FAILED = ("-p", "cacheprovider", "--lf", "--llm-report-json=r.json")


@pytest.fixture
def two_files(fake_suite: pytest.Pytester) -> pytest.Pytester:
    """The fake suite (3 cases, dark-mode misses) and a second file of 2 cases that pass: 5 cases, 1 miss, run once."""
    fake_suite.makefile(".llm.yaml", passing=PASSING)
    first = fake_suite.runpytest("-p", "cacheprovider")
    first.stdout.fnmatch_lines(["llmgate: all gates passed (5 answered)"])
    return fake_suite


def verdict_of(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "r.json").read_text())["verdict"]


def test_last_failed_names_the_suite_total_and_is_no_gate(two_files: pytest.Pytester) -> None:
    result = two_files.runpytest(*LAST_FAILED)
    result.stdout.fnmatch_lines(
        [
            "run-last-failure: rerun previous 1 failure (skipped 1 file)",  # the passing file was never collected
            "fake * common * 1 * 0.00 *(fail)",  # the subset's numbers; the gate column in parentheses: not judged
            "llmgate: SUBSET (1 answered, 1 missed): subset: 1 of 5 cases (--lf): "
            "the suite's gates are not judged on part of it",
            "  on the subset: fake: . common accuracy 0.00 < 0.50 (1 graded cases)",
        ]
    )
    assert "gates passed" not in result.stdout.str() and " PASS " not in result.stdout.str()
    verdict = verdict_of(two_files)
    assert (verdict["status"], verdict["passed"], verdict["subset"]) == ("subset", False, "subset: 1 of 5 cases (--lf)")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the case it re-ran still misses


def test_last_failed_under_xdist_counts_the_same_total(two_files: pytest.Pytester) -> None:
    result = two_files.runpytest_subprocess(*LAST_FAILED, "-n", "2")
    result.stdout.fnmatch_lines(["llmgate: SUBSET (1 answered, 1 missed): subset: 1 of 5 cases (--lf): *"])
    assert verdict_of(two_files)["subset"] == "subset: 1 of 5 cases (--lf)"


def test_the_whole_suite_after_last_failed_is_gated_again(two_files: pytest.Pytester) -> None:
    two_files.runpytest(*LAST_FAILED)
    result = two_files.runpytest("-p", "cacheprovider", "--llm-report-json=r.json")
    result.stdout.fnmatch_lines(["llmgate: all gates passed (5 answered)"])
    assert verdict_of(two_files)["subset"] is None
