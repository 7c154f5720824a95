"""Reports from a GateSession: terminal tables, Markdown, the verdict line, a case's miss text and JSON.

Tables are built once as (headers, rows) and rendered as text or Markdown, so both show the
same numbers; every number also sits in the JSON results (``GateSession.results``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .analysis import Analysis, PairCost
from .compare import CategoryStats, Classification, PairedComparison
from .decide import VERDICT_NOTES, Recommendation
from .results import CaseRow
from .session import BackendSummary, CategorySummary, GateSession


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


Table = tuple[list[str], list[list[str]]]  # headers and rows, rendered as text or Markdown


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


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
    """A GitHub-flavoured Markdown table: first column left-aligned, the others right-aligned."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return [line(headers), "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|"] + [line(r) for r in rows]


def category_table(summaries: Sequence[CategorySummary]) -> Table:
    """Per backend, group and category: cases, accuracy with its interval, format rate, thresholds, verdict."""
    rows = []
    for s in summaries:
        verdict = {True: "PASS", False: "FAIL", None: "-"}[s.gate_passed]
        threshold_acc = _rate(s.threshold_accuracy) + (" (lb)" if s.gate == "lower_bound" and s.threshold_accuracy is not None else "")
        rows.append([s.backend, s.group, s.category, str(s.n), str(s.errors), _rate(s.accuracy),
                     f"{_rate(s.accuracy_low)}-{_rate(s.accuracy_high)}", threshold_acc,
                     _rate(s.format_rate), _rate(s.threshold_format), verdict])
    return (["backend", "group", "category", "cases", "errors", "accuracy", "95% CI", "min",
             "format", "min", "gate"], rows)


def backend_table(summaries: Sequence[BackendSummary]) -> Table:
    """Per backend: cost, latency and TTFT percentiles, mean tokens per case."""
    rows = []
    for s in summaries:
        tokens = f"{_ms(s.mean_prompt_tokens)}/{_ms(s.mean_completion_tokens)}" + ("~" if s.tokens_estimated else "")
        rows.append([s.backend, str(s.n), _usd(s.total_cost_usd), _usd(s.mean_cost_usd),
                     _ms(s.latency_p50_ms), _ms(s.latency_p95_ms), _ms(s.ttft_p50_ms), _ms(s.ttft_p95_ms),
                     tokens])
    return (["backend", "cases", "cost", "cost/case", "p50 ms", "p95 ms", "ttft p50", "ttft p95",
             "tokens/case in/out"], rows)


def side_by_side_table(stats: Sequence[CategoryStats]) -> Table:
    """Per category (then all), each backend's quality, tokens, latency and cost per 1,000 requests."""
    rows = [[s.category, s.backend, str(s.n), _rate(s.accuracy), f"{_rate(s.accuracy_low)}-{_rate(s.accuracy_high)}",
             _rate(s.format_rate), _ms(s.mean_prompt_tokens), _ms(s.mean_completion_tokens),
             _ms(s.latency_p50_ms), _ms(s.latency_p95_ms), _ms(s.ttft_p50_ms), _ms(s.ttft_p95_ms),
             "-" if s.cost_per_1k_usd is None else f"${s.cost_per_1k_usd:.4f}"]
            for s in stats]
    return (["category", "backend", "cases", "accuracy", "95% CI", "format", "tok in", "tok out",
             "p50 ms", "p95 ms", "ttft p50", "ttft p95", "$/1k req"], rows)


def paired_table(comparisons: Sequence[PairedComparison]) -> Table:
    """Challenger against baseline on shared cases: accuracies, gain, wins, losses, McNemar p."""
    rows = [[f"{c.challenger} vs {c.baseline}", c.category, str(c.n), _rate(c.challenger_accuracy),
             _rate(c.baseline_accuracy), _points(c.gain_points), str(len(c.won)), str(len(c.lost)), f"{c.p_value:.3g}"]
            for c in comparisons]
    return (["pair", "category", "cases", "acc", "baseline acc", "points", "won", "lost", "McNemar p"], rows)


def cost_table(analysis: Analysis) -> Table:
    """Per backend: $ per request and per correct answer, fixed costs, and cost at the volume."""
    horizon = f"{analysis.horizon_months:g}-month total"
    rows = [[c.backend, c.approach, _rate(c.accuracy), _usd(c.per_request_usd), _usd(c.per_correct_usd),
             _money(c.per_month_usd), _money(c.one_time_usd), _money(c.monthly_usd), _money(c.horizon_usd)]
            for c in analysis.costs]
    return (["backend", "approach", "accuracy", "$/request", "$/correct", "fixed/month", "one-time",
             "$/month", horizon], rows)


def pair_cost_table(pairs: Sequence[PairCost]) -> Table:
    """Per fine-tuned and prompted pair: monthly saving, months to breakeven, equal-cost volume."""
    rows = [[f"{p.fine_tuned} vs {p.prompted}", _money(p.breakeven.monthly_saving_usd),
             _money(p.breakeven.extra_one_time_usd), _months(p.breakeven.months),
             _per_day(p.breakeven.equal_cost_daily_volume)]
            for p in pairs]
    return (["fine-tuned vs prompted", "saving/month", "extra one-time", "breakeven months", "equal cost at"], rows)


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


def recommendation_lines(recommendation: Recommendation) -> list[str]:
    """The verdict, then each reason of the chain, numbered."""
    pair = f" ({recommendation.fine_tuned} vs {recommendation.prompted})" if recommendation.fine_tuned else ""
    head = f"recommendation: {recommendation.verdict.upper()}{pair}: {VERDICT_NOTES[recommendation.verdict]}"
    return [head] + [f"  {i}. {r.step}: {r.text}" for i, r in enumerate(recommendation.reasons, 1)]


def won_lost_lines(comparisons: Sequence[PairedComparison]) -> list[str]:
    """The ids each challenger won and lost, one line each."""
    lines = []
    for c in comparisons:
        for word, ids in (("won", c.won), ("lost", c.lost)):
            if ids:
                lines.append(f"{c.challenger} vs {c.baseline} ({c.category}) {word}: {', '.join(ids)}")
    return lines


def summary_lines(session: GateSession, analysis: Analysis, verbose: bool = False) -> list[str]:
    """The terminal summary before the verdict (see verdict_lines). Compact with one backend (gates, cost and latency);
    with several it adds the overall paired comparison, the cost projection and the
    recommendation; ``verbose`` adds per-category, per-case and classification detail."""
    backends = session.backend_summaries()
    lines = table(*category_table(session.category_summaries())) + [""] + table(*backend_table(backends))
    if any(s.tokens_estimated for s in backends):
        lines.append("~ token counts estimated: the backend reported no usage (see docs/config.md, 'stream')")
    comparing = len(backends) > 1
    if comparing or verbose:
        lines += [f"warning: {w}" for w in session.threshold_warnings()]
    if comparing or verbose:
        lines += ["", "side by side:"] + table(*side_by_side_table(analysis.side_by_side))
    if verbose:
        for result in analysis.classification:
            lines += ["", f"classification, {result.backend}:"] + table(*label_table(result))
            lines += [""] + table(*confusion_table(result))
    if comparing:
        lines += ["", "paired comparison on the same cases:"] + table(*paired_table(analysis.paired))
        if verbose:
            lines += won_lost_lines(analysis.paired)
    if comparing or verbose:
        lines += ["", f"cost {volume_text(analysis)}:"] + table(*cost_table(analysis))
        if analysis.pair_costs:
            lines += [""] + table(*pair_cost_table(analysis.pair_costs))
    if comparing:
        lines += [""] + recommendation_lines(analysis.recommendation)
    return lines + [""]


def report_sections(session: GateSession, analysis: Analysis) -> list[tuple[str, Table]]:
    """The titled tables of the Markdown and HTML reports, in reading order."""
    return [
        ("Side by side", side_by_side_table(analysis.side_by_side)),
        ("Paired comparison on the same cases", paired_table(analysis.paired)),
        (f"Cost {volume_text(analysis)}", cost_table(analysis)),
        ("Breakeven", pair_cost_table(analysis.pair_costs)),
        ("Gates", category_table(session.category_summaries())),
        ("Latency and tokens", backend_table(session.backend_summaries())),
    ]


def markdown_report(session: GateSession, analysis: Analysis) -> str:
    """The whole report as GitHub-flavoured Markdown, fit for a PR comment or $GITHUB_STEP_SUMMARY."""
    rec = analysis.recommendation
    failures = session.gate_failures()
    lines = ["## llmgate report", "", f"**Gates:** {'passed' if not failures else 'FAILED'}"]
    lines += [f"- {f}" for f in failures]
    lines += ["", f"**Recommendation: {rec.verdict}**" + (f" ({rec.fine_tuned} vs {rec.prompted})" if rec.fine_tuned else "")
              + f": {VERDICT_NOTES[rec.verdict]}", ""]
    lines += [f"{i}. **{r.step}**: {r.text}" for i, r in enumerate(rec.reasons, 1)]
    warnings = session.threshold_warnings()
    if warnings:
        lines += ["", "### Warnings", ""] + [f"- {w}" for w in warnings]
    for title, (headers, rows) in report_sections(session, analysis):
        if rows:
            lines += ["", f"### {title}", ""] + markdown_table(headers, rows)
    won_lost = won_lost_lines(analysis.paired)
    if won_lost:
        lines += ["", "<details><summary>Cases won and lost</summary>", ""] + [f"- {line}" for line in won_lost]
        lines += ["", "</details>"]
    for result in analysis.classification:
        lines += ["", f"<details><summary>Classification: {result.backend}</summary>", ""]
        lines += markdown_table(*label_table(result)) + [""] + markdown_table(*confusion_table(result))
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def verdict_lines(failures: Sequence[str]) -> list[str]:
    """'llmgate: all gates passed', or 'llmgate: GATE FAILED: <first reason>' and one line per other reason."""
    if not failures:
        return ["llmgate: all gates passed"]
    first, *others = failures
    return [f"llmgate: GATE FAILED: {first}"] + [f"  and {reason}" for reason in others]


def miss_text(row: CaseRow) -> str:
    """What a reader needs to see of a missed case: input, output and the failed checks."""
    lines = [f"{row.file}::{row.id} [{row.backend}] ({row.category}) missed"]
    lines.append(f"  input:  {_one_line(row.input)}")
    lines.append(f"  output: {_one_line(row.output)}")
    for check in row.failed_checks:
        lines.append(f"  failed {check['kind']} check {check['name']}: {check['detail']}")
    return "\n".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    flat = repr(text)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def write_json(path: Path, document: dict) -> None:
    """Write ``document`` to ``path`` as indented JSON, atomically."""
    write_text(path, json.dumps(document, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp creates the file 0600; a report gets the usual permissions of a new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_reports(session: GateSession, analysis: Analysis, json_path: Path | None, md_path: Path | None,
                  html_path: Path | None) -> None:
    """Write each report asked for, all from one analysis; plotly is imported only for HTML."""
    if json_path is not None:
        write_json(json_path, session.results(analysis))
    if md_path is not None:
        write_text(md_path, markdown_report(session, analysis))
    if html_path is not None:
        from .html_report import html_report  # plotly is heavy: load it only when asked

        write_text(html_path, html_report(session, analysis))
