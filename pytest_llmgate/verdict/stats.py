"""Statistics over case results: proportions with Wilson intervals, percentiles, and paired
comparisons of two backends on the same cases (McNemar's test, Tango's interval, cases needed)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from statistics import NormalDist

Z_95 = 1.959963984540054
MAX_PAIRED_CASES = 1_000_000  # the cases-needed search gives up beyond this
EXACT_MCNEMAR_LIMIT = 1000  # discordant pairs up to which McNemar's p is summed in integers


def proportion(successes: int, total: int) -> float | None:
    """successes / total, or None when there is nothing to count."""
    return successes / total if total else None


def wilson_interval(successes: float, total: float, z: float = Z_95) -> tuple[float, float]:
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


def two_sided_z(alpha: float) -> float:
    """The standard normal quantile of a two-sided (1 - alpha) interval: 1.96 for alpha 0.05."""
    return NormalDist().inv_cdf(1 - alpha / 2)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: cases only A got right and
    cases only B got right. Under no difference each discordant case is a fair coin toss."""
    discordant = only_a + only_b
    smaller = min(only_a, only_b)
    if 2 * smaller >= discordant:  # no discordant case, or a tie: the smaller tail holds half or more
        return 1.0
    if discordant <= EXACT_MCNEMAR_LIMIT:  # integers, correctly rounded once
        return min(1.0, 2 * sum(math.comb(discordant, k) for k in range(smaller + 1)) / 2**discordant)
    # Beyond that, integers take seconds to minutes (the cases-needed search projects such
    # counts): sum the binomial(discordant, 1/2) tail in floating point from its largest term
    # down, each term the one above times k / (discordant - k + 1).
    log_largest = (
        math.lgamma(discordant + 1)
        - math.lgamma(smaller + 1)
        - math.lgamma(discordant - smaller + 1)
        - discordant * math.log(2)
    )
    term = total = 1.0
    for k in range(smaller, 0, -1):
        term *= k / (discordant - k + 1)
        total += term
        if term < total * 1e-17:
            break
    return min(1.0, 2 * total * math.exp(log_largest))


def _tango_statistic(only_a: float, only_b: float, n: float, delta: float) -> float:
    """Tango's score statistic for "P(only A right) - P(only B right) = delta" (delta a fraction)."""
    # The restricted maximum-likelihood estimate of P(only B right) under that hypothesis, the
    # positive root of 2n q^2 + w q - only_b delta (1 - delta) = 0 (Tango 1998, with the 1999 correction).
    w = -only_a - only_b + (2 * n - only_a + only_b) * delta
    only_b_rate = (math.sqrt(max(0.0, w * w + 8 * n * only_b * delta * (1 - delta))) - w) / (4 * n)
    variance = n * (2 * only_b_rate + delta * (1 - delta))
    excess = only_a - only_b - n * delta
    if variance <= 0:  # only at delta = -1 or 1, where the data are all on one side
        return 0.0 if excess == 0 else math.copysign(math.inf, excess)
    return excess / math.sqrt(variance)


def _last_inside(inside: Callable[[float], bool], start: float, end: float) -> float:
    """The point between ``start`` (inside) and ``end`` where ``inside`` turns false, by bisection."""
    if inside(end):
        return end
    for _ in range(200):
        middle = (start + end) / 2
        if middle in (start, end) or abs(end - start) < 1e-10:  # adjacent floats, or far finer than printed
            break
        start, end = (middle, end) if inside(middle) else (start, middle)
    return start


def paired_difference_interval(
    only_challenger: float, only_baseline: float, n: float, z: float = Z_95
) -> tuple[float, float]:
    """Score interval, in points, for challenger minus control accuracy on the same n cases.

    Tango's asymptotic score interval for the difference of paired proportions: the differences
    delta whose score statistic lies within +-z, with P(only baseline right) estimated under
    each delta. It needs only the discordant counts and n, stays inside [-100, 100], and keeps
    close to its nominal coverage in small samples (Fagerland, Lydersen & Laake 2014 recommend it).
    References: T. Tango, Equivalence test and confidence interval for the difference in
    proportions for the paired-sample design, Statistics in Medicine 17 (1998) 891-908, and its
    correction, 18 (1999) 3511; M. W. Fagerland, S. Lydersen, P. Laake, Recommended tests and
    confidence intervals for paired binomial proportions, Statistics in Medicine 33 (2014) 2850-2875.
    Counts may be fractional (projected). With no cases it is (-100, 100).
    """
    if n <= 0:
        return -100.0, 100.0
    estimate = (only_challenger - only_baseline) / n
    lower = _last_inside(lambda d: _tango_statistic(only_challenger, only_baseline, n, d) <= z, estimate, -1.0)
    upper = _last_inside(lambda d: _tango_statistic(only_challenger, only_baseline, n, d) >= -z, estimate, 1.0)
    return 100 * lower, 100 * upper


def paired_cases_to_settle(
    only_challenger: float,
    only_baseline: float,
    n: float,
    margin_points: float,
    alpha: float = 0.05,
    clustered: bool = False,
) -> int | None:
    """About how many paired cases in all (n or more) would settle "as good, within margin_points?".

    Assumption: the rates of cases only the challenger and only the baseline gets right stay as
    observed; the counts are scaled to N cases and rounded. Settled means what the decision
    procedure acts on: the (1 - alpha) interval's lower bound above -margin_points (no drop that
    large; a gain shows the same way), or a drop significant by McNemar's exact test (p < alpha).
    None when there are no cases, or no N up to MAX_PAIRED_CASES would do (say a tie with margin 0).
    ``clustered``: the counts are effective ones of clustered pairs, N counts source cases, and the
    interval at N uses Student's t with N - 1 degrees of freedom, as ``cluster_z`` does.
    """
    if n <= 0:
        return None
    z = two_sided_z(alpha)

    def settles(total: int) -> bool:
        won, lost = round(only_challenger * total / n), round(only_baseline * total / n)
        critical = cluster_z(z, total, math.inf) if clustered else z
        if paired_difference_interval(won, lost, total, critical)[0] > -margin_points:
            return True
        return lost > won and mcnemar_exact(won, lost) < alpha

    start = max(1, round(n))  # counts may be effective (fractional) ones: start from the nearest whole number
    if settles(start):
        return start
    # Double until settled, then bisect. Rounding makes "settles" a little ragged near the
    # boundary, so the answer is approximate, which is all a projection can be.
    unsettled, settled = start, 2 * start
    while not settles(settled):
        if settled >= MAX_PAIRED_CASES:
            return None
        unsettled, settled = settled, min(2 * settled, MAX_PAIRED_CASES)
    while settled - unsettled > 1:
        middle = (unsettled + settled) // 2
        unsettled, settled = (unsettled, middle) if settles(middle) else (middle, settled)
    return settled


def precision_recall_f1(
    true_pos: int, false_pos: int, false_neg: int
) -> tuple[float | None, float | None, float | None]:
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


SIGN_FLIP_EXACT_LIMIT = 4_000_000  # clusters x sums up to which the sign-flip test is enumerated exactly


def effective_cases(clusters: Sequence[tuple[float, int]]) -> float:
    """How many independent cases ``clusters`` ((successes, cases) per source case) are worth for a
    proportion: n / design effect, from the cluster-robust variance of the pooled rate (docs/stats.md).

    The design effect is the cluster-robust variance over the variance the same n independent cases
    would have, never under 1 (clustering never adds evidence). When that ratio cannot be estimated
    (one cluster, or a rate of 0 or 1) every cluster counts as one case. Independent cases (clusters of
    one) are worth exactly n."""
    n = sum(size for _, size in clusters)
    k = len(clusters)
    if k == n:
        return float(n)
    p = sum(successes for successes, _ in clusters) / n
    independent = p * (1 - p) / (n - 1)
    if k < 2 or independent <= 0:
        return float(k)
    robust = k / (k - 1) * sum((successes - p * size) ** 2 for successes, size in clusters) / (n * n)
    return n / max(1.0, robust / independent)


def effective_pairs(clusters: Sequence[tuple[int, int, int]]) -> float:
    """How many independent pairs ``clusters`` ((won, lost, pairs) per source case) are worth for a paired
    difference: n / design effect, as ``effective_cases`` does for a proportion."""
    n = sum(size for _, _, size in clusters)
    k = len(clusters)
    if k == n or n == 0:
        return float(n)
    won, lost = sum(w for w, _, _ in clusters), sum(lo for _, lo, _ in clusters)
    difference = (won - lost) / n
    independent = ((won + lost) - n * difference * difference) / (n * (n - 1))
    if k < 2 or independent <= 0:
        return float(k)
    robust = k / (k - 1) * sum((w - lo - difference * size) ** 2 for w, lo, size in clusters) / (n * n)
    return n / max(1.0, robust / independent)


def sign_flip_p(totals: Sequence[int]) -> float:
    """Two-sided p of the cluster sign-flip (randomization) test: under no difference each cluster's total
    (cases won minus cases lost) is as likely negative as positive. With clusters of one case it is
    McNemar's exact test; with many large clusters, its normal approximation (Durkalski et al. 2003)."""
    moved = [abs(t) for t in totals if t]
    observed = abs(sum(totals))
    if not moved or observed == 0:
        return 1.0
    if len(moved) * (2 * sum(moved) + 1) > SIGN_FLIP_EXACT_LIMIT:
        z = observed / math.sqrt(sum(t * t for t in moved))
        return min(1.0, 2 * (1 - NormalDist().cdf(z)))
    ways: dict[int, int] = {0: 1}  # sum of the signed totals -> number of sign assignments reaching it
    for total in moved:
        step: dict[int, int] = {}
        for value, count in ways.items():
            for signed in (value + total, value - total):
                step[signed] = step.get(signed, 0) + count
        ways = step
    extreme = sum(count for value, count in ways.items() if abs(value) >= observed)
    return min(1.0, extreme / 2 ** len(moved))


def mean_and_se(values: Sequence[float]) -> tuple[float | None, float]:
    """The mean of ``values`` and its standard error (0 for fewer than two values); None with no value."""
    if not values:
        return None, 0.0
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))


def cluster_z(z: float, clusters: int, cases: float) -> float:
    """The critical value for an interval over ``clusters`` source cases behind ``cases`` cases: ``z``
    itself for independent cases, else Student's t with clusters - 1 degrees of freedom at the same
    level, since a variance estimated from few clusters is itself uncertain (Cameron and Miller 2015)."""
    if clusters >= cases or clusters < 2:
        return z
    degrees = clusters - 1
    # The Cornish-Fisher expansion of t's quantile in z (Abramowitz and Stegun 26.7.5): within 1% of the
    # exact value from 3 degrees of freedom on; for 1 or 2 degrees it still widens the interval a lot.
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(term / degrees ** (i + 1) for i, term in enumerate(terms))


KAPPA_RESAMPLES = 2000  # bootstrap resamples behind kappa's interval; seeded, so a rerun prints the same


def cohen_kappa(pairs: Sequence[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' pass/fail verdicts (``pairs``: (human, judge)): agreement beyond what their
    base rates give by chance. None when chance alone agrees fully (both gave one verdict throughout)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    chance = first * second + (1 - first) * (1 - second)
    return None if chance >= 1 else (observed - chance) / (1 - chance)


def kappa_interval(pairs: Sequence[tuple[bool, bool]], z: float = Z_95) -> tuple[float, float] | None:
    """A percentile-bootstrap interval (95% by default) for Cohen's kappa over the examples, resampled with a
    fixed seed; None with fewer than two examples or when no resample has a kappa."""
    if len(pairs) < 2:
        return None
    rng = random.Random(0)
    found = sorted(
        kappa
        for _ in range(KAPPA_RESAMPLES)
        if (kappa := cohen_kappa([pairs[rng.randrange(len(pairs))] for _ in pairs])) is not None
    )
    if not found:
        return None
    tail = NormalDist().cdf(-z)
    low, high = percentile(found, 100 * tail), percentile(found, 100 * (1 - tail))
    assert low is not None and high is not None  # found is not empty
    return low, high
