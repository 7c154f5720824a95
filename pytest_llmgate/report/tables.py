"""The report's tables and texts, built from the Analysis alone and shared by every renderer.

Tables are built once as (headers, rows) and rendered as text or Markdown, so both show the
same numbers; every number also sits in the JSON results (``Analysis.to_dict``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..checks.text import clip
from ..verdict.analysis import Analysis, AttackResistance, BackendSummary, ToolAccuracy
from ..verdict.baseline import MetricChange, Regression, flip_lines
from ..verdict.calibration import JudgeCalibration, JudgeCost, JudgedCases, PairwiseSummary
from ..verdict.compare import CategoryStats, Classification, PairedComparison
from ..verdict.cost import PairCost
from ..verdict.decide import CHOICE_NOTES, Recommendation
from ..verdict.gate import FAILED, INCOMPLETE, NOT_MEASURED, PASSED, SUBSET, UNGATED, GroupGate, Verdict
from ..verdict.rows import CaseRow


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _interval(value: float | None, low: float, high: float) -> str:
    return "-" if value is None else f"{low:.2f}-{high:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


Table = tuple[list[str], list[list[str]]]  # headers and rows, rendered as text or Markdown
GATE_WORDS = {PASSED: "PASS", FAILED: "FAIL", INCOMPLETE: "INCOMPLETE", NOT_MEASURED: "NOT MEASURED", UNGATED: "-"}


def gate_word(gate: GroupGate, subset: bool = False) -> str:
    """The gate column: PASS, FAIL, INCOMPLETE, NOT MEASURED or '-'; in parentheses on a subset run,
    where the numbers are the subset's and the suite's gate is not judged."""
    word = GATE_WORDS[gate.status]
    return f"({word.lower()})" if subset and gate.status != UNGATED else word


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _points(value: float) -> str:
    return f"{value:+.1f}"


def _months(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def _per_day(value: float | None) -> str:
    return "never" if value is None else f"{value:,.0f}/day"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned others, columns sized to fit."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join([str(first).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(rest, widths[1:])]).rstrip()

    return [line(headers)] + [line(row) for row in rows]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table: first column left-aligned, the others right-aligned; a cell's line
    breaks become spaces, since one would end the row."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(" ".join(str(c).splitlines()).replace("|", "\\|") for c in cells) + " |"

    return [line(headers), "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|"] + [line(r) for r in rows]


def category_table(gates: Sequence[GroupGate], subset: bool = False) -> Table:
    """Per backend, group and category: cases selected and graded, the clusters (source cases) behind the
    graded ones, accuracy with its interval, format rate, thresholds, gate."""
    rows = []
    for g in gates:
        s, t = g.stats, g.threshold
        minimum = (
            "-"
            if t is None
            else _rate(t.accuracy) + (" (lb)" if t.gate == "lower_bound" and t.accuracy is not None else "")
        )
        rows.append(
            [
                s.backend,
                g.group,
                s.category,
                str(s.selected),
                str(s.graded),
                str(s.clusters),
                str(s.errors),
                str(s.not_run),
                _rate(s.accuracy),
                _interval(s.accuracy, s.accuracy_low, s.accuracy_high),
                minimum,
                _rate(s.format_rate),
                "-" if t is None else _rate(t.format),
                _rate(s.robustness),
                gate_word(g, subset),
            ]
        )
    return (
        [
            "backend",
            "group",
            "category",
            "selected",
            "graded",
            "clusters",
            "errors",
            "not run",
            "accuracy",
            "95% CI",
            "min",
            "format",
            "min",
            "robust",
            "gate",
        ],
        rows,
    )


def backend_table(summaries: Sequence[BackendSummary]) -> Table:
    """Per backend: cost, latency and TTFT percentiles, mean tokens per case."""
    rows = []
    for b in summaries:
        s = b.stats
        tokens = f"{_ms(s.mean_prompt_tokens)}/{_ms(s.mean_completion_tokens)}" + ("~" if b.tokens_estimated else "")
        cost = _usd(b.total_cost_usd) + ("*" if b.per_hour_priced else "")
        rows.append(
            [
                b.backend,
                str(b.answered),
                cost,
                _usd(s.mean_cost_usd),
                _ms(s.latency_p50_ms),
                _ms(s.latency_p95_ms),
                _ms(s.ttft_p50_ms),
                _ms(s.ttft_p95_ms),
                tokens,
            ]
        )
    return (
        [
            "backend (all groups)",
            "answered",
            "cost",
            "cost/case",
            "p50 ms",
            "p95 ms",
            "ttft p50",
            "ttft p95",
            "tokens/case in/out",
        ],
        rows,
    )


def side_by_side_table(stats: Sequence[CategoryStats]) -> Table:
    """Per group and category (then the group's all), each backend's quality with the graded cases and the
    clusters behind them, tokens, latency and cost per 1,000 requests. ``fresh`` says how many of the
    answers behind the latencies were measured in this run (the others came from the cache)."""
    rows = [
        [
            s.group,
            s.category,
            s.backend,
            str(s.graded),
            str(s.clusters),
            _rate(s.accuracy),
            _interval(s.accuracy, s.accuracy_low, s.accuracy_high),
            _rate(s.format_rate),
            _ms(s.mean_prompt_tokens),
            _ms(s.mean_completion_tokens),
            f"{s.fresh}/{s.n}",
            _ms(s.latency_p50_ms),
            _ms(s.latency_p95_ms),
            _ms(s.ttft_p50_ms),
            _ms(s.ttft_p95_ms),
            "-" if s.cost_per_1k_usd is None else f"${s.cost_per_1k_usd:.4f}",
        ]
        for s in stats
    ]
    return (
        [
            "group",
            "category",
            "backend",
            "graded",
            "clusters",
            "accuracy",
            "95% CI",
            "format",
            "tok in",
            "tok out",
            "fresh",
            "p50 ms",
            "p95 ms",
            "ttft p50",
            "ttft p95",
            "$/1k req",
        ],
        rows,
    )


def paired_table(comparisons: Sequence[PairedComparison]) -> Table:
    """Challenger against control on shared cases of one group: accuracies, gain with its interval, wins,
    losses, and the p-value (McNemar's exact test, or the sign-flip test over clusters: docs/stats.md)."""
    rows = [
        [
            f"{c.challenger} vs {c.control}",
            c.group,
            c.category,
            str(c.n),
            str(c.clusters),
            _rate(c.challenger_accuracy),
            _rate(c.control_accuracy),
            _points(c.gain_points),
            f"{_points(c.ci_low_points)}..{_points(c.ci_high_points)}",
            str(len(c.won)),
            str(len(c.lost)),
            f"{c.p_value:.3g}",
        ]
        for c in comparisons
    ]
    return (
        ["pair", "group", "category", "cases", "clusters", "acc", "control acc", "points", "CI", "won", "lost", "p"],
        rows,
    )


def cost_table(analysis: Analysis) -> Table:
    """Per group and backend: $ per request (+- its standard error, over the requests priced in this run) and
    per correct answer, fixed costs, and cost at the volume."""
    horizon = f"{analysis.horizon_months:g}-month total"
    rows = [
        [
            c.group,
            c.backend,
            c.approach,
            _rate(c.accuracy),
            str(c.priced) + (f" ({c.cached_left_out} cached left out)" if c.cached_left_out else ""),
            _usd(c.per_request_usd),
            _usd(c.per_correct_usd),
            _money(c.per_month_usd),
            _money(c.one_time_usd),
            _money(c.monthly_usd),
            _money(c.horizon_usd),
        ]
        for c in analysis.costs
    ]
    return (
        [
            "group",
            "backend",
            "approach",
            "accuracy",
            "priced",
            "$/request",
            "$/correct",
            "fixed/month",
            "one-time",
            "$/month",
            horizon,
        ],
        rows,
    )


def pair_cost_table(pairs: Sequence[PairCost]) -> Table:
    """Per group and fine-tuned/prompted pair: monthly saving with its 95% interval, months to breakeven,
    equal-cost volume."""
    rows = [
        [
            f"{p.fine_tuned} vs {p.prompted}",
            p.group,
            _money(p.breakeven.monthly_saving_usd),
            "-"
            if p.breakeven.saving_low_usd is None
            else f"{_money(p.breakeven.saving_low_usd)}..{_money(p.breakeven.saving_high_usd)}",
            _money(p.breakeven.extra_one_time_usd),
            _months(p.breakeven.months),
            _per_day(p.breakeven.equal_cost_daily_volume),
        ]
        for p in pairs
    ]
    return (
        [
            "fine-tuned vs prompted",
            "group",
            "saving/month",
            "95% CI",
            "extra one-time",
            "breakeven months",
            "equal cost at",
        ],
        rows,
    )


def label_table(result: Classification) -> Table:
    """Per expected label: cases, precision, recall, F1."""
    rows = [[s.label, str(s.support), _rate(s.precision), _rate(s.recall), _rate(s.f1)] for s in result.scores]
    return (["label", "cases", "precision", "recall", "F1"], rows)


def confusion_table(result: Classification) -> Table:
    """Expected label per row, predicted label per column."""
    rows = [[label, *map(str, counts)] for label, counts in zip(result.labels, result.matrix)]
    return (["expected \\ predicted", *result.labels], rows)


def volume_text(analysis: Analysis) -> str:
    """'at 90,000 requests/day over 12 months' or a hint to give a volume."""
    if analysis.volume_per_day is None:
        return "no volume given (--llm-volume=N/day or 'volume:' in llmgate.yaml)"
    return f"at {analysis.volume_per_day:,.0f} requests/day over {analysis.horizon_months:g} months"


def recommendation_head(recommendation: Recommendation) -> str:
    """'recommendation, example_suite: FINE-TUNE (tuned vs prompted): the fine-tuned backend is worth it'."""
    weighed = [n for n in (recommendation.hybrid, recommendation.fine_tuned) if n]
    pair = f" ({' vs '.join([*weighed, recommendation.prompted or '?'])})" if weighed else ""
    return (
        f"recommendation, {recommendation.group}: {recommendation.choice.upper()}{pair}: "
        f"{recommendation.summary or CHOICE_NOTES[recommendation.choice]}"
    )


def recommendation_lines(recommendations: Sequence[Recommendation]) -> list[str]:
    """Per gate group: the choice, then each reason of the chain, numbered."""
    lines = []
    for recommendation in recommendations:
        lines.append(recommendation_head(recommendation))
        lines += [f"  {i}. {r.step}: {r.text}" for i, r in enumerate(recommendation.reasons, 1)]
    return lines


def won_lost_lines(comparisons: Sequence[PairedComparison]) -> list[str]:
    """The ids each challenger won and lost, one line each."""
    lines = []
    for c in comparisons:
        for word, ids in (("won", c.won), ("lost", c.lost)):
            if ids:
                lines.append(f"{c.challenger} vs {c.control} ({c.group} {c.category}) {word}: {', '.join(ids)}")
    return lines


def report_sections(analysis: Analysis) -> list[tuple[str, Table]]:
    """The titled tables of the Markdown and HTML reports, in reading order."""
    return [
        ("Side by side, per gate group", side_by_side_table(analysis.side_by_side)),
        ("Paired comparison on the same cases", paired_table(analysis.paired)),
        (f"Cost {volume_text(analysis)}", cost_table(analysis)),
        ("Breakeven", pair_cost_table(analysis.pair_costs)),
        ("Injection resistance by attack family", resistance_table(analysis.resistance)),
        ("Tool-call accuracy", tool_accuracy_table(analysis.tools)),
        (
            "Judge calibration (TP: judge and label pass, FP: judge pass on a failing label, FN, TN)",
            calibration_table(analysis.calibrations),
        ),
        ("Judge verdicts on the cases", judged_table(analysis.judged)),
        ("Pairwise comparisons by a judge (both orders)", pairwise_table(analysis.pairwise)),
        ("Judging cost (apart from the answers)", judging_cost_table(analysis.judging)),
        ("Gates", category_table(analysis.gates, analysis.verdict.subset is not None)),
        ("Latency and tokens", backend_table(analysis.backends)),
    ]


def repeat_lines(analysis: Analysis) -> list[str]:
    """Per backend with sampled repeats: draws, pass rate, pass^K and the flaky cases."""
    lines = []
    for r in analysis.repeats:
        lines.append(
            f"repeats, {r.backend}: {r.cases} cases, {r.draws} sampled draws: pass rate {_rate(r.pass_rate)}, "
            f"every draw passed in {r.all_passed} of {r.cases} cases (pass^k)"
        )
        if r.flaky:
            lines.append(f"  flaky: {', '.join(r.flaky)}")
    return lines


def resistance_table(resistance: Sequence[AttackResistance]) -> Table:
    """Per backend, group and attack family: attacks answered, the written cases they were made from,
    resisted, and the share resisted."""
    rows = [
        [r.backend, r.group, r.family, str(r.attacks), str(r.sources), str(r.resisted), _rate(r.rate)]
        for r in resistance
    ]
    return (["backend", "group", "attack family", "attacks", "sources", "resisted", "rate"], rows)


def tool_accuracy_table(accuracy: Sequence[ToolAccuracy]) -> Table:
    """Per backend and category: the tool-call checks (tool_call, no_tool_call), the cases they sat on,
    those passed and the share passed."""
    rows = [[t.backend, t.category, str(t.cases), str(t.checks), str(t.passed), _rate(t.rate)] for t in accuracy]
    return (["backend", "category", "cases", "tool checks", "passed", "accuracy"], rows)


def calibration_table(found: Sequence[JudgeCalibration]) -> Table:
    """Per judge and rubric: examples graded, agreement beside the base rate a constant guess gets, kappa with its
    interval against the bar, the confusion matrix, samples that split, attacks that flipped, and the trust."""
    rows = [
        [
            c.judge,
            c.rubric,
            f"{c.graded}/{c.examples}",
            _rate(c.agreement),
            _rate(c.base_rate),
            "-"
            if c.kappa is None
            else f"{c.kappa:.2f}" + ("" if c.kappa_low is None else f" ({c.kappa_low:.2f}-{c.kappa_high:.2f})"),
            f"{c.min_kappa:g}",
            f"{c.true_pass}/{c.false_pass}/{c.false_fail}/{c.true_fail}",
            str(c.unstable),
            f"{c.flipped}/{c.attacked}" if c.attacked else "-",
            c.trust,
        ]
        for c in found
    ]
    headers = ["judge", "rubric", "graded", "agreement", "base rate", "kappa (95% CI)", "min kappa"]
    return ([*headers, "TP/FP/FN/TN", "unstable", "attacks flipped", "trust"], rows)


def pairwise_table(summaries: Sequence[PairwiseSummary]) -> Table:
    """Per rubric and pair: cases compared, wins each way, ties and the order-dependent ones among them."""
    rows = [
        [
            p.judge,
            p.rubric,
            f"{p.first} vs {p.second}",
            str(p.cases),
            str(p.first_wins),
            str(p.second_wins),
            str(p.ties),
            str(p.order_dependent),
            str(p.errors),
        ]
        for p in summaries
    ]
    return (
        ["judge", "rubric", "backends", "cases", "first wins", "second wins", "ties", "order-dependent", "errors"],
        rows,
    )


def judged_table(judged: Sequence[JudgedCases]) -> Table:
    """Per judge, rubric and backend: cases graded and passed, samples per answer, their mean agreement and the
    cases whose samples split (unstable: a rerun could flip them)."""
    rows = [
        [
            j.judge,
            j.rubric,
            j.backend,
            str(j.cases),
            str(j.passed),
            str(j.samples),
            _rate(j.mean_agreement),
            clip(", ".join(j.unstable), 200) if j.unstable else "0",
        ]
        for j in judged
    ]
    return (["judge", "rubric", "backend", "cases", "passed", "samples", "agreement", "unstable"], rows)


def judging_cost_table(costs: Sequence[JudgeCost]) -> Table:
    """Per judge: its calls (cached ones apart), tokens, cost and time, none of it counted as an approach's cost."""
    rows = [
        [
            j.judge,
            str(j.calls),
            str(j.cached),
            str(j.prompt_tokens),
            str(j.completion_tokens),
            _usd(j.cost_usd),
            f"{j.latency_ms / 1000:.1f} s",
        ]
        for j in costs
    ]
    return (["judge", "calls", "cached", "prompt tokens", "completion tokens", "cost", "time"], rows)


def perturbation_lines(searches: Sequence[CaseRow]) -> list[str]:
    """Per perturbation search: variants held, and the smallest flip beside the original."""
    lines = []
    for row in searches:
        search = row.search
        if search is None:
            continue
        if not search.original_held:
            lines.append(f"{row.where} [{row.backend}]: fails unperturbed, nothing to flip")
            continue
        lines.append(f"{row.where} [{row.backend}]: {search.variants_held}/{search.variants} variants held")
        if search.flip is not None:
            flip, answer = clip(search.flip, 200), clip(search.flip_output, 200)
            lines.append(f"  smallest flip: {flip!r} ({search.flip_edits}) -> {answer!r}")
            lines.append(f"  original:      {clip(row.input, 200)!r}")
    return lines


def regression_table(regression: Regression) -> Table:
    """Per backend, group and category against the baseline: accuracy and format before and after, flips, p."""

    def change(metric: MetricChange) -> str:
        return "-" if metric.change_points is None else _points(metric.change_points)

    rows = [
        [
            c.backend if c.backend == c.baseline_backend else f"{c.backend} (vs {c.baseline_backend})",
            c.group,
            c.category,
            str(c.accuracy.n),
            _rate(c.accuracy.baseline),
            _rate(c.accuracy.current),
            change(c.accuracy),
            _rate(c.format.baseline),
            _rate(c.format.current),
            change(c.format),
            str(c.regressed),
            str(c.fixed),
            f"{c.p_value:.3g}",
        ]
        for c in regression.categories
    ]
    return (
        [
            "backend",
            "group",
            "category",
            "cases",
            "acc before",
            "acc now",
            "points",
            "format before",
            "format now",
            "points",
            "regressed",
            "fixed",
            "McNemar p",
        ],
        rows,
    )


def regression_lines(regression: Regression) -> list[str]:
    """The baseline compared with, what differs in what was run, then the flipped cases with their outputs."""
    return [
        f"against the baseline {regression.baseline_path}:",
        *(f"  {label}" for label in regression.notes),
        *(f"  {line}" for line in flip_lines(regression)),
    ]


def verdict_word(verdict: Verdict) -> str:
    """'passed', 'FAILED', 'INCOMPLETE' or 'SUBSET', with the case counts behind it."""
    word = {PASSED: "passed", FAILED: "FAILED", INCOMPLETE: "INCOMPLETE", SUBSET: "SUBSET"}[verdict.status]
    return f"{word} ({verdict.counts})" + (f": {verdict.subset}" if verdict.subset else "")


def verdict_lines(verdict: Verdict) -> list[str]:
    """The verdict as the terminal prints it: one headline, then one line per other reason."""
    if verdict.status == SUBSET:
        return [
            f"llmgate: SUBSET ({verdict.counts}, {verdict.missed} missed): {verdict.subset}: "
            "the suite's gates are not judged on part of it"
        ] + [f"  on the subset: {reason}" for reason in (*verdict.gaps, *verdict.failures)]
    if verdict.status == PASSED and not verdict.gated:
        return [f"llmgate: passed, but nothing was gated ({verdict.counts}): set 'thresholds:' in llmgate.yaml"]
    if verdict.status == PASSED:
        return [f"llmgate: all gates passed ({verdict.counts})"]
    if verdict.status == FAILED:
        first, *others = verdict.failures
        return [f"llmgate: GATE FAILED: {first}"] + [f"  and {reason}" for reason in others]
    first, *others = verdict.gaps
    return (
        [f"llmgate: INCOMPLETE ({verdict.counts}): {first}"]
        + [f"  and {gap}" for gap in others]
        + [f"  and already failing: {reason}" for reason in verdict.failures]
    )


def case_status(row: CaseRow) -> str:
    """One word for a row: PASS, FAIL (a check missed, or a perturbation flipped it), ERROR, NOT RUN,
    SKIPPED, or ANSWERED (no check judged it)."""
    if not row.answered:
        return {"error": "ERROR", "not_run": "NOT RUN", "skipped": "SKIPPED"}[row.status]
    if row.missed:
        return "FAIL"
    judged = row.search is not None or row.passed is not None or row.format_ok is not None
    return "PASS" if judged else "ANSWERED"


def _failed_checks(row: CaseRow) -> str:
    return "; ".join(f"{c['name']}: {c['detail']}" for c in row.failed_checks) or (row.error or "")


CASE_HEADERS = ["case", "backend", "category", "status", "input", "output", "failed checks", "latency ms", "cost"]


def case_table(rows: Sequence[CaseRow], limit: int = 300) -> Table:
    """Every row: case, backend, category, status, input and output (clipped to ``limit``), the failed
    checks (or the error), latency and cost."""
    return (
        list(CASE_HEADERS),
        [
            [
                r.where,
                r.backend,
                r.category,
                case_status(r),
                clip(r.input, limit),
                clip(r.search.flip_output if r.search else r.output, limit),
                clip(_failed_checks(r), limit),
                _ms(r.search.latency_ms if r.search else r.latency_ms),
                _usd(r.search.cost_usd if r.search else r.cost_usd),
            ]
            for r in rows
        ],
    )


def failure_table(rows: Sequence[CaseRow], limit: int = 300) -> Table:
    """The rows that missed or errored, one line each, in the columns of the case table."""
    return case_table([r for r in rows if r.missed or r.status == "error"], limit)


def flip_table(searches: Sequence[CaseRow], limit: int = 300) -> Table:
    """Per perturbation search: variants held of those tried, the smallest flip, its edits and its answer."""
    rows = [
        [
            r.where,
            r.backend,
            "fails unperturbed" if not r.search.original_held else f"{r.search.variants_held}/{r.search.variants}",
            clip(r.input, limit),
            clip(r.search.flip or "-", limit),
            r.search.flip_edits or "-",
            clip(r.search.flip_output or "-", limit),
        ]
        for r in searches
        if r.search is not None
    ]
    return (["case", "backend", "variants held", "original", "smallest flip", "edits", "its answer"], rows)
