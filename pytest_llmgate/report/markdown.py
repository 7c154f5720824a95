"""The Markdown report: GitHub-flavoured, fit for a PR comment or $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from ..verdict.analysis import Analysis
from ..verdict.baseline import flip_lines
from .tables import (
    confusion_table,
    failure_table,
    flip_table,
    label_table,
    markdown_table,
    recommendation_head,
    regression_table,
    repeat_lines,
    report_sections,
    verdict_word,
    won_lost_lines,
)

# A PR comment holds at most 65,536 characters: the failures table shows this many rows, clipped this short;
# every one is in the JSON results and the HTML report's case table.
FAILURE_ROWS = 50
CELL_CHARS = 120


def markdown_report(analysis: Analysis) -> str:
    """The whole report as Markdown: verdict and its reasons, recommendation, tables, details."""
    verdict = analysis.verdict
    lines = ["## llmgate report", "", f"**Gates:** {verdict_word(verdict)}"]
    lines += [f"- {gap}" for gap in verdict.gaps] + [f"- {failure}" for failure in verdict.failures]
    for rec in analysis.recommendations:
        lines += ["", f"**{_sentence(recommendation_head(rec))}**", ""]
        lines += [f"{i}. **{r.step}**: {r.text}" for i, r in enumerate(rec.reasons, 1)]
    if analysis.warnings:
        lines += ["", "### Warnings", ""] + [f"- {w}" for w in analysis.warnings]
    if analysis.notes:  # how to read the numbers: cached answers, estimated tokens, concurrency lowered
        lines += ["", "### Notes", ""] + [f"- {note}" for note in analysis.notes]
    lines += failure_lines(analysis)
    headers, searches = flip_table(analysis.perturbations, CELL_CHARS)
    if searches:
        lines += ["", "### Robustness (perturbed variants)", ""] + markdown_table(headers, searches)
    if analysis.repeated:
        lines += ["", "### Repeats", ""] + [f"- {line.strip()}" for line in repeat_lines(analysis)]
    if analysis.regression is not None:
        regression = analysis.regression
        lines += ["", "### Changes since the baseline", "", f"Compared with `{regression.baseline_path}`."]
        lines += (
            [""] + [f"- {label}" for label in regression.notes] + [""] + markdown_table(*regression_table(regression))
        )
        flips = flip_lines(regression)
        if flips:
            lines += (
                ["", "<details open><summary>Changed cases</summary>", ""]
                + [f"- {line}" for line in flips]
                + ["", "</details>"]
            )
    for title, (headers, rows) in report_sections(analysis):
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


def failure_lines(analysis: Analysis) -> list[str]:
    """The missed and errored cases as a table, the first FAILURE_ROWS of them, and where the rest are."""
    headers, rows = failure_table(analysis.rows, CELL_CHARS)
    if not rows:
        return []
    lines = ["", f"### Failures ({len(rows)})", ""] + markdown_table(headers, rows[:FAILURE_ROWS])
    if len(rows) > FAILURE_ROWS:
        more = len(rows) - FAILURE_ROWS
        lines += ["", f"... and {more} more: every case is in the JSON results and the HTML report."]
    return lines


def _sentence(text: str) -> str:
    """``text`` with its first letter a capital (the rest as it is: backend names keep their case)."""
    return text[:1].upper() + text[1:]
