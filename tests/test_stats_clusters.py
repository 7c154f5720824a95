"""Clustered statistics (docs/stats.md): they reduce to the usual ones for independent cases and count
the source cases, not the variants, when cases share a source."""

from __future__ import annotations

import pytest

from pytest_llmgate.verdict.stats import (
    cluster_z,
    effective_cases,
    effective_pairs,
    mcnemar_exact,
    mean_and_se,
    sign_flip_p,
)


@pytest.mark.parametrize("won, lost", [(0, 0), (3, 0), (6, 1), (20, 9), (119, 7)])
def test_the_sign_flip_test_over_single_pairs_is_mcnemars_exact_test(won: int, lost: int) -> None:
    assert sign_flip_p([1] * won + [-1] * lost + [0] * 5) == pytest.approx(mcnemar_exact(won, lost))


def test_the_sign_flip_test_counts_clusters() -> None:
    # Four tickets, each +26 (every attack won): 2 of the 16 sign assignments are as extreme.
    assert sign_flip_p([26, 26, 26, 26]) == 2 / 16
    assert sign_flip_p([26, 25, -1, 24]) == 4 / 16  # (+, +, +, +), (+, +, -, +) and their mirrors
    assert sign_flip_p([]) == 1.0


def test_independent_cases_are_worth_themselves() -> None:
    assert effective_cases([(1, 1)] * 7 + [(0, 1)] * 3) == 10
    assert effective_pairs([(1, 0, 1)] * 7 + [(0, 0, 1)] * 3) == 10


def test_identical_variants_are_worth_one_case_each_source() -> None:
    # Five sources of 20 variants each, each source all right or all wrong: 5 cases' worth, not 100.
    clusters = [(20, 20), (20, 20), (0, 20), (20, 20), (0, 20)]
    # Design effect (5/4 x 480 / 100^2) / (0.6 x 0.4 / 99) = 24.75: 100 cases are worth 4.04, about the
    # 5 sources (under 5 by the small-sample factors k/(k-1) and n-1).
    assert effective_cases(clusters) == pytest.approx(100 / 24.75)
    assert effective_cases([(20, 20)] * 5) == 5  # a rate of 1: the variance says nothing, clusters count
    assert effective_pairs([(10, 0, 10)] * 4) == 4


def test_the_critical_value_is_students_t_for_few_clusters() -> None:
    z = 1.959963984540054
    assert cluster_z(z, 30, 30) == z  # independent: the normal quantile
    # t(0.975) with 3, 4, 19 degrees of freedom: 3.182, 2.776, 2.093.
    assert cluster_z(z, 4, 104) == pytest.approx(3.182, abs=0.01)
    assert cluster_z(z, 5, 105) == pytest.approx(2.776, abs=0.005)
    assert cluster_z(z, 20, 200) == pytest.approx(2.093, abs=0.002)


def test_mean_and_standard_error() -> None:
    assert mean_and_se([]) == (None, 0.0)
    assert mean_and_se([2.0]) == (2.0, 0.0)
    mean, se = mean_and_se([1.0, 2.0, 3.0, 4.0])
    assert (mean, se) == (2.5, pytest.approx((5 / 3 / 4) ** 0.5))
