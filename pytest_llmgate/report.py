"""Reports from a GateSession: terminal tables, the verdict line, a case's miss text and JSON."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .results import CaseRow
from .session import BackendSummary, CategorySummary, GateSession


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned others, columns sized to fit."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join([str(first).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(rest, widths[1:])]).rstrip()
    return [line(headers)] + [line(row) for row in rows]


def category_table(summaries: Sequence[CategorySummary]) -> list[str]:
    """Per backend, group and category: cases, accuracy with its interval, format rate, thresholds, verdict."""
    rows = []
    for s in summaries:
        verdict = {True: "PASS", False: "FAIL", None: "-"}[s.gate_passed]
        threshold_acc = _rate(s.threshold_accuracy) + (" (lb)" if s.gate == "lower_bound" and s.threshold_accuracy is not None else "")
        rows.append([s.backend, s.group, s.category, str(s.n), str(s.errors), _rate(s.accuracy),
                     f"{_rate(s.accuracy_low)}-{_rate(s.accuracy_high)}", threshold_acc,
                     _rate(s.format_rate), _rate(s.threshold_format), verdict])
    return table(["backend", "group", "category", "cases", "errors", "accuracy", "95% CI", "min",
                  "format", "min", "gate"], rows)


def backend_table(summaries: Sequence[BackendSummary]) -> list[str]:
    """Per backend: cost, latency and TTFT percentiles, tokens."""
    rows = []
    for s in summaries:
        tokens = f"{s.prompt_tokens}/{s.completion_tokens}" + ("~" if s.tokens_estimated else "")
        rows.append([s.backend, str(s.n), _usd(s.total_cost_usd), _usd(s.mean_cost_usd),
                     _ms(s.latency_p50_ms), _ms(s.latency_p95_ms), _ms(s.ttft_p50_ms), _ms(s.ttft_p95_ms),
                     tokens])
    return table(["backend", "cases", "cost", "cost/case", "p50 ms", "p95 ms", "ttft p50", "ttft p95",
                  "tokens in/out"], rows)


def summary_lines(session: GateSession) -> list[str]:
    """The whole terminal summary: both tables, a note on estimates, and the verdict."""
    lines = category_table(session.category_summaries()) + [""] + backend_table(session.backend_summaries())
    if any(s.tokens_estimated for s in session.backend_summaries()):
        lines.append("~ token counts estimated: the backend reported no usage (see docs/config.md, 'stream')")
    return lines + ["", verdict_line(session.gate_failures())]


def verdict_line(failures: Sequence[str]) -> str:
    """'llmgate: gates passed' or 'llmgate: GATE FAILED: reason; reason'."""
    if not failures:
        return "llmgate: all gates passed"
    return "llmgate: GATE FAILED: " + "; ".join(failures)


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
    """Write ``document`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
