"""Statistics over case results: proportions with Wilson intervals and percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z_95 = 1.959963984540054


def proportion(successes: int, total: int) -> float | None:
    """successes / total, or None when there is nothing to count."""
    return successes / total if total else None


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: cases only A got right and
    cases only B got right. Under no difference each discordant case is a fair coin toss."""
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def precision_recall_f1(true_pos: int, false_pos: int, false_neg: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 of one label; None where a denominator is zero."""
    precision = proportion(true_pos, true_pos + false_pos)
    recall = proportion(true_pos, true_pos + false_neg)
    if precision is None or recall is None:
        return precision, recall, None
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def min_cases_for_threshold(threshold: float, z: float = Z_95) -> int | None:
    """The fewest cases whose perfect score has a Wilson lower bound at or above ``threshold``.

    With all n passed the lower bound is n / (n + z^2), so n >= z^2 * t / (1 - t);
    None when no number of cases is enough (threshold 1.0).
    """
    if threshold >= 1.0:
        return None
    n = max(1, math.ceil(z * z * threshold / (1 - threshold)))
    while wilson_interval(n, n, z)[0] < threshold:  # guards float rounding at the boundary
        n += 1
    return n
