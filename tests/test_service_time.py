"""Per-hour backends priced at their estimated service time: the cost and the decision do not follow machine load."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from pytest_llmgate.backends.spec import Pricing
from pytest_llmgate.report.tables import recommendation_head
from pytest_llmgate.verdict.analysis import Analysis, BackendTerms, RunFacts, Terms, analyze
from pytest_llmgate.verdict.rows import CaseRow
from pytest_llmgate.verdict.service import service_time

PER_HOUR = 1.0
CASES = 200
# (prompt tokens, of them cached by the prefix cache, completion tokens) of the backends' requests, and how
# many of the 200 cases each gets right: the fine-tune is clearly better.
SHAPES = {"prompted": (900, 800, 30), "tuned": (90, 0, 4)}
RIGHT = {"prompted": 120, "tuned": 180}
# The machine's true service time: a fixed time a call and a time per uncached prompt token to the first token, then
# a time per completion token.
CALL_S, PREFILL_S, DECODE_S = 0.020, 0.001, 0.010


def terms(one_time_usd: float = 50.0) -> Terms:
    return Terms(
        backends={
            "prompted": BackendTerms("prompted", Pricing(per_hour_usd=PER_HOUR)),
            "tuned": BackendTerms("fine_tuned", Pricing(per_hour_usd=PER_HOUR, one_time_usd=one_time_usd)),
        },
        volume_per_day=10_000,
    )


def quiet_rows(seed: int = 1, shapes: dict[str, tuple[int, int, int]] = SHAPES) -> list[CaseRow]:
    """One row per case and backend as a quiet machine answers it: token counts that vary by ticket, timings at
    the true service time with 5% jitter, cost as the run prices it (latency x $/hour)."""
    rng = random.Random(seed)
    rows = []
    for backend, (prompt, cached, completion) in shapes.items():
        for i in range(CASES):
            uncached = prompt - cached + rng.randint(-30, 30)  # the ticket's own text
            tokens = max(completion + rng.randint(-2, 2), 1)
            ttft = (CALL_S + uncached * PREFILL_S) * rng.uniform(0.95, 1.05)
            latency = ttft + tokens * DECODE_S * rng.uniform(0.95, 1.05)
            rows.append(
                CaseRow(
                    id=f"case-{i:03d}",
                    file="common.llm.yaml",
                    group=".",
                    category="common",
                    backend=backend,
                    passed=i < RIGHT[backend],
                    format_ok=True,
                    latency_ms=latency * 1000,
                    ttft_ms=ttft * 1000,
                    prompt_tokens=cached + uncached,
                    cached_prompt_tokens=cached,
                    completion_tokens=tokens,
                    cost_usd=latency * PER_HOUR / 3600,
                )
            )
    return rows


def slowed(row: CaseRow, factor: float) -> CaseRow:
    """``row`` as a machine ``factor`` times slower would have timed and priced it."""
    assert row.latency_ms is not None and row.ttft_ms is not None and row.cost_usd is not None
    return replace(
        row, latency_ms=row.latency_ms * factor, ttft_ms=row.ttft_ms * factor, cost_usd=row.cost_usd * factor
    )


def loaded(rows: list[CaseRow], seed: int = 2) -> list[CaseRow]:
    """The same run on a loaded machine: a random half of the calls took twice as long."""
    slow = set(random.Random(seed).sample(range(len(rows)), len(rows) // 2))
    return [slowed(row, 2.0) if i in slow else row for i, row in enumerate(rows)]


def per_request(analysis: Analysis) -> dict[str, float]:
    return {c.backend: c.per_request_usd or 0.0 for c in analysis.costs}


def test_a_loaded_machine_gives_the_same_cost_and_recommendation() -> None:
    rows = quiet_rows()
    quiet, busy = analyze(rows, RunFacts(), terms()), analyze(loaded(rows), RunFacts(), terms())
    measured = {s.backend: s.total_cost_usd for s in quiet.backends}
    measured_busy = {s.backend: s.total_cost_usd for s in busy.backends}
    assert all(measured_busy[b] > 1.4 * measured[b] for b in measured)  # what the run spent follows the load
    assert per_request(busy) == pytest.approx(per_request(quiet), rel=0.03)  # the comparison's cost does not
    # Priced at the true service time: a call, 90 prompt tokens and 4 completion tokens, 0.15 s of the machine.
    true_s = CALL_S + 90 * PREFILL_S + 4 * DECODE_S
    assert per_request(quiet)["tuned"] == pytest.approx(true_s * PER_HOUR / 3600, rel=0.06)
    [pair], [pair_busy] = quiet.pair_costs, busy.pair_costs
    assert pair_busy.breakeven.monthly_saving_usd == pytest.approx(pair.breakeven.monthly_saving_usd, rel=0.03)
    [decision], [decision_busy] = quiet.recommendations, busy.recommendations
    assert decision.choice == decision_busy.choice == "fine-tune"
    assert "rests on estimated service time" in decision_busy.reasons[-1].text


def test_the_cost_basis_is_said_and_cached_timings_never_enter_it() -> None:
    rows = quiet_rows()
    # Answers replayed from the cache carry timings from another run, here 50 times slower: they are priced by their
    # token counts, at the rates of the fresh calls alone.
    cached = [slowed(replace(r, cached=True), 50.0) if r.id < "case-100" else r for r in rows]
    analysis = analyze(cached, RunFacts(), terms())
    fresh = service_time("tuned", [r for r in rows if r.id >= "case-100"])
    timed = {s.backend: s for s in analysis.service_times}
    assert timed["tuned"] == fresh and timed["tuned"].calls == 100
    assert {c.backend: (c.priced, c.cached_left_out, c.basis) for c in analysis.costs} == {
        "prompted": (200, 0, "service time"),
        "tuned": (200, 0, "service time"),
    }
    [note] = [n for n in analysis.notes if n.startswith("cost of tuned")]
    assert note.startswith("cost of tuned in the comparison: priced at 1") and " ms a call + 9," in note
    assert (
        "ms/1k completion tokens + " in note
        and "ms/1k prompt tokens, 10th-percentile lines through 100 fresh calls" in note
    )
    assert analysis.to_dict()["cost"]["service_times"][0]["calls"] == 100


def test_without_a_first_token_time_the_cost_is_measured_latency_and_said_so() -> None:
    unsplit = [replace(r, ttft_ms=r.latency_ms) for r in quiet_rows()]  # a non-streamed server: first token at the end
    analysis = analyze(unsplit, RunFacts(), terms())
    assert analysis.service_times == ()
    assert {c.basis for c in analysis.costs} == {"latency"}
    assert any(n.startswith("cost of prompted, tuned is measured latency times $/hour") for n in analysis.notes)
    assert "rests on measured latency, which machine load moves" in analysis.recommendations[0].reasons[-1].text


def test_a_trade_off_says_which_side_wins_on_quality_and_which_on_cost() -> None:
    # The fine-tune answers at length (60 completion tokens against 30): better, and dearer per request.
    shapes = {**SHAPES, "tuned": (90, 0, 160)}
    [decision] = analyze(quiet_rows(shapes=shapes), RunFacts(), terms()).recommendations
    assert decision.choice == "trade-off"
    assert decision.summary.startswith("tuned wins on quality (+30.0 points); prompted wins on cost (tuned costs $")
    assert decision.summary.endswith(
        "the cost of prompted and tuned rests on estimated service time: its token counts on the fast end (10th "
        "percentile) of fresh calls"
    )
    assert recommendation_head(decision) == f"recommendation, .: TRADE-OFF (tuned vs prompted): {decision.summary}"
    # Cheaper each month, but its one-time cost repaid too late: the prompted backend wins on cost over the horizon.
    [slow_repay] = analyze(quiet_rows(), RunFacts(), terms(one_time_usd=500.0)).recommendations
    assert slow_repay.choice == "trade-off"
    assert "; prompted wins on cost over 6 months (tuned saves $" in slow_repay.summary
    assert "but its one-time $500.00 takes up to" in slow_repay.summary
