"""The service time of a backend priced by the hour, estimated so that machine load does not move it.

A per-hour backend's request costs the compute it occupies. Its measured latency is that service time plus
whatever slowed the machine besides (another model answering on the same cores, other jobs), so priced by
latency a request looks dearer on a loaded machine and the decision's cost step follows the load. Load only
adds time, so the fast end of the fresh calls is the service time. Each call's time to first token splits it in
two phases, and each phase gets its 10th-percentile regression line on its tokens: time to first token on the
uncached prompt tokens (evaluating the prompt), the rest of the call on the completion tokens (decoding), each a
fixed time a call plus a time a token, with a tenth of the calls below it. A request is then priced by its own
token counts on those lines, the same on a quiet and on a loaded machine. Answers from the cache or a recording
carry timings from another run and never enter the lines; their token counts are priced like any other.
docs/stats.md says why a low quantile line and not a least-squares fit, or a ratio of time to tokens.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Final, Literal

from .rows import CASE, CaseRow

SERVICE_PERCENTILE: Final = 10.0  # the low quantile of the calls taken as the unloaded service time
MIN_TIMED_CALLS: Final = 5  # fewer fresh calls with a first-token time: the service time is not estimated
BOOTSTRAP_DRAWS: Final = 50  # resamples of the calls that give the lines' own uncertainty (seeded: reports repeat)
_GOLDEN: Final = (math.sqrt(5) - 1) / 2
_SEARCH_STEPS: Final = 36  # golden-section steps for a line's slope: the bracket shrinks to 3e-8 of its width
# What a backend's cost in a comparison rests on: token prices alone, its estimated service time (per hour,
# the lines below known), or its answers' measured latencies (per hour, too few calls to estimate the lines).
CostBasis = Literal["tokens", "service time", "latency"]
Line = tuple[float, float]  # (seconds a call, seconds a token)


def _tokens(row: CaseRow) -> tuple[int, int, int]:
    """(calls, uncached prompt tokens, completion tokens) of ``row``; a conversation's summed over its steps."""
    calls = sum(len(turn.get("steps", ())) for turn in row.turns) or 1
    uncached = max((row.prompt_tokens or 0) - (row.cached_prompt_tokens or 0), 0)
    return calls, uncached, row.completion_tokens or 0


@dataclass(frozen=True)
class ServiceTime:
    """One backend's estimated service time: a line for each phase of a call, from ``calls`` fresh calls."""

    backend: str
    prompt: Line  # time to first token: a fixed time a call, plus a time per uncached prompt token
    completion: Line  # the rest of the call: a fixed time a call, plus a time per completion token
    calls: int  # fresh calls the lines were fitted on
    percentile: float = SERVICE_PERCENTILE
    cached_timings: bool = False  # cached answers' old timings were let in (--llm-cost-from-cache)
    # the covariance of (prompt fixed, prompt per token, completion fixed, completion per token) over a bootstrap of
    # the calls: what a rerun could move
    covariance: tuple[tuple[float, ...], ...] = field(default=(), repr=False)

    def seconds(self, row: CaseRow) -> float:
        """The compute ``row``'s request occupies on these lines."""
        calls, uncached, completion = _tokens(row)
        prompt = calls * self.prompt[0] + uncached * self.prompt[1]
        return max(prompt, 0.0) + max(calls * self.completion[0] + completion * self.completion[1], 0.0)

    def mean_se_s(self, rows: Sequence[CaseRow]) -> float:
        """The standard error of the mean of ``seconds`` over ``rows`` that the lines' own uncertainty makes."""
        if not rows or not self.covariance:
            return 0.0
        counts = [_tokens(r) for r in rows]
        calls, uncached, completion = (sum(c[i] for c in counts) / len(rows) for i in range(3))
        weights = (calls, uncached, calls, completion)  # the mean is linear in the four parameters
        variance = sum(wi * wj * self.covariance[i][j] for i, wi in enumerate(weights) for j, wj in enumerate(weights))
        return math.sqrt(max(variance, 0.0))

    def basis(self) -> str:
        """'priced at 12 ms a call + 1.0 ms/prompt token + 9.8 ms/completion token, 10th-percentile lines
        through 185 fresh calls'."""
        return (
            f"priced at {1000 * (self.prompt[0] + self.completion[0]):,.0f} ms a call + "
            f"{1e6 * self.completion[1]:,.0f} ms/1k completion tokens + {1e6 * self.prompt[1]:,.0f} ms/1k prompt "
            f"tokens, {self.percentile:g}th-percentile lines through {self.calls} "
            + ("calls, cached ones' old timings included" if self.cached_timings else "fresh calls")
        )

    def to_dict(self) -> dict:
        """A JSON-ready dict (the bootstrap's covariance left out: it only widens the saving's interval)."""
        data = asdict(self)
        del data["covariance"]
        return data


def _phases(row: CaseRow) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """((uncached prompt tokens, seconds to first token), (completion tokens, seconds after it)) of one single-call
    answer whose time to first token splits its latency; None when it cannot say."""
    if row.turns or row.latency_ms is None or row.ttft_ms is None:
        return None  # a conversation's latency spans several calls, its first-token time only the first
    _, uncached, completion = _tokens(row)
    if not 0 < row.ttft_ms < row.latency_ms:
        return None  # a non-streamed answer reports its first token at the end: no split
    return (uncached, row.ttft_ms / 1000), (completion, (row.latency_ms - row.ttft_ms) / 1000)


def _fixed_part(points: Sequence[tuple[float, float]], slope: float) -> tuple[float, float]:
    """(fixed time, loss): for a line of ``slope``, the fixed time with a tenth of the points below it (the exact
    minimiser of the quantile loss) and the loss it leaves."""
    residuals = sorted(y - slope * x for x, y in points)
    q = SERVICE_PERCENTILE / 100
    fixed = residuals[max(math.ceil(q * len(residuals)) - 1, 0)]
    loss = sum(q * (r - fixed) if r >= fixed else (1 - q) * (fixed - r) for r in residuals)
    return fixed, loss


def _low_line(points: Sequence[tuple[float, float]]) -> Line:
    """The 10th-percentile regression line of time on tokens: the slope by golden-section search on [0, steepest
    line through the origin], where the quantile loss, minimised over the fixed part, is convex; on a plateau (every
    call the same size) the flattest."""

    def loss(slope: float) -> float:
        return _fixed_part(points, slope)[1]

    low, high = 0.0, max((y / x for x, y in points if x > 0), default=0.0)
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(_SEARCH_STEPS):
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - _GOLDEN * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + _GOLDEN * (high - low)
            loss_b = loss(b)
    slope = (low + high) / 2
    return _fixed_part(points, slope)[0], slope


def _lines(split: Sequence[tuple[tuple[float, float], tuple[float, float]]]) -> tuple[Line, Line]:
    return _low_line([prompt for prompt, _ in split]), _low_line([completion for _, completion in split])


def service_time(backend: str, rows: Iterable[CaseRow], from_cache: bool = False) -> ServiceTime | None:
    """The service time of ``backend`` from its fresh answered calls in ``rows`` (cached ones too when
    ``from_cache``: --llm-cost-from-cache); None with fewer than MIN_TIMED_CALLS calls that split."""
    split = [
        found
        for row in rows
        if row.backend == backend
        and row.answered
        and row.kind == CASE
        and (from_cache or not row.cached)
        and (found := _phases(row)) is not None
    ]
    if len(split) < MIN_TIMED_CALLS:
        return None
    prompt, completion = _lines(split)
    rng = random.Random(0)
    draws = [_lines([split[rng.randrange(len(split))] for _ in split]) for _ in range(BOOTSTRAP_DRAWS)]
    covariance = _covariance([(*p, *c) for p, c in draws])
    return ServiceTime(backend, prompt, completion, len(split), cached_timings=from_cache, covariance=covariance)


def _covariance(draws: Sequence[tuple[float, ...]]) -> tuple[tuple[float, ...], ...]:
    """The sample covariance matrix of the vectors ``draws``."""
    n, width = len(draws), len(draws[0])
    means = [sum(d[i] for d in draws) / n for i in range(width)]
    return tuple(
        tuple(sum((d[i] - means[i]) * (d[j] - means[j]) for d in draws) / (n - 1) for j in range(width))
        for i in range(width)
    )
