"""Side-by-side metrics, paired comparisons and classification scores from hand-made rows."""

from __future__ import annotations

import pytest

from pytest_llmgate.verdict.compare import (
    ALL,
    OTHER_LABEL,
    categories_of,
    classification,
    paired,
    side_by_side,
    threshold_warning,
)
from pytest_llmgate.verdict.rows import CaseRow


def row(backend: str, case_id: str, passed: bool, category: str = "common", **fields) -> CaseRow:
    return CaseRow(
        id=case_id,
        file="common.llm.yaml",
        group=".",
        category=category,
        backend=backend,
        passed=passed,
        format_ok=True,
        **fields,
    )


def test_paired_counts_wins_and_losses_on_shared_cases() -> None:
    rows = [
        row("p", "a", True),
        row("f", "a", True),
        row("p", "b", False),
        row("f", "b", True),
        row("p", "c", False),
        row("f", "c", True),
        row("p", "d", True),
        row("f", "d", False),
        row("p", "e", True),
        row("f", "e", True, status="error", error="timeout"),  # not answered by f: left out
        row("p", "only-p", True),
    ]
    result = paired(rows, control="p", challenger="f")
    assert (result.n, result.won, result.lost) == (4, ("b", "c"), ("d",))
    assert (result.control_accuracy, result.challenger_accuracy) == (0.5, 0.75)
    assert result.gain_points == 25.0
    assert result.p_value == 1.0  # 2 vs 1 discordant: 2 * (1 + 3) / 8, capped at 1
    assert result.to_dict()["won"] == ["b", "c"]


def test_paired_matches_on_file_and_id() -> None:
    rows = [
        row("p", "x", True),
        row("f", "x", False),
        CaseRow(id="x", file="edge.llm.yaml", group=".", category="edge", backend="f", passed=True),
    ]
    assert paired(rows, "p", "f").n == 1
    assert paired(rows, "p", "f", category="edge").n == 0


def test_side_by_side_per_category_and_all() -> None:
    rows = [
        row("a", "1", True, latency_ms=100, ttft_ms=10, prompt_tokens=100, completion_tokens=2, cost_usd=0.001),
        row("a", "2", False, latency_ms=300, ttft_ms=30, prompt_tokens=300, completion_tokens=4, cost_usd=0.003),
        row(
            "a",
            "3",
            True,
            category="edge",
            latency_ms=200,
            ttft_ms=20,
            prompt_tokens=200,
            completion_tokens=3,
            cost_usd=0.002,
        ),
        row("b", "1", True, cost_usd=0.0),
    ]
    assert categories_of(rows) == ["common", "edge", ALL]
    stats = {(s.category, s.backend): s for s in side_by_side(rows)}
    common = stats[("common", "a")]
    assert (common.n, common.passed, common.accuracy) == (2, 1, 0.5)
    assert (common.mean_prompt_tokens, common.mean_completion_tokens) == (200, 3)
    assert common.latency_p50_ms == 200 and common.latency_p95_ms == pytest.approx(290)
    assert common.cost_per_1k_usd == pytest.approx(2.0)  # mean $0.002 a request
    everything = stats[(ALL, "a")]
    assert (everything.n, everything.accuracy) == (3, pytest.approx(2 / 3))
    assert stats[("edge", "b")].n == 0 and stats[("edge", "b")].accuracy is None


def test_confusion_matrix_and_per_label_scores() -> None:
    def labelled(case_id: str, expected: str, predicted: str) -> CaseRow:
        return row("m", case_id, expected == predicted, expected_label=expected, predicted_label=predicted)

    rows = [
        labelled("1", "billing", "billing"),
        labelled("2", "billing", "billing"),
        labelled("3", "billing", "technical"),
        labelled("4", "technical", "technical"),
        labelled("5", "technical", "i think billing"),
    ]
    result = classification("m", rows)
    assert result.labels == ("billing", "technical", OTHER_LABEL)
    assert result.matrix == ((2, 1, 0), (0, 1, 1), (0, 0, 0))
    billing, technical = result.scores
    # billing: 2 right of 2 predicted, 2 of 3 expected. technical: 1 of 2 predicted, 1 of 2 expected.
    assert (billing.support, billing.precision, billing.recall, billing.f1) == (
        3,
        1.0,
        pytest.approx(2 / 3),
        pytest.approx(0.8),
    )
    assert (technical.precision, technical.recall, technical.f1) == (0.5, 0.5, 0.5)
    assert classification("m", [row("m", "x", True)]) is None


def test_threshold_warning_rule() -> None:
    # 43 cases: even 43/43 has a lower bound of 43 / (43 + 3.84) = 0.92, under 0.95.
    warning = threshold_warning("example_suite edge", "accuracy", 43, 0.95)
    assert warning == (
        "example_suite edge: 43 cases against the accuracy threshold of 0.95: "
        "even 43/43 has a 95% lower bound of 0.92 (needs >= 73 cases)"
    )
    assert threshold_warning("g common", "accuracy", 105, 0.90) is None
    assert "needs >= 30 cases" in threshold_warning("g common", "accuracy", 10, 0.5)
    assert "no number of cases" in threshold_warning("g adversarial", "accuracy", 500, 1.0)
