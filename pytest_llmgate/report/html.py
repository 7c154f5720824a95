"""The HTML report: one self-contained file (plotly.js inlined, nothing fetched) with charts of
accuracy, cost against volume and latency, and the report's tables. Needs plotly."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs

from ..verdict.analysis import Analysis
from ..verdict.compare import answered_rows
from .tables import (
    case_table,
    failure_table,
    flip_table,
    recommendation_head,
    regression_lines,
    regression_table,
    report_sections,
    verdict_lines,
    verdict_word,
)

CHART_HEIGHT = "440px"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.verdict { font-size: 1.3rem; font-weight: bold; }
.warning { color: #9a5b00; }
.pass { color: #116611; font-weight: bold; }
.fail { color: #b00020; font-weight: bold; }
#llmgate-cases td, .failures td { text-align: left; vertical-align: top; max-width: 22rem; overflow-wrap: anywhere; }
.filters { margin: 0.5rem 0; display: flex; gap: 0.8rem; flex-wrap: wrap; align-items: center; }
"""
# Filters the per-case table in place: the rows come from the JSON block and are drawn with textContent,
# so an input holding markup shows as text.
CASE_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("llmgate-case-data").textContent);
  var col = {}; data.headers.forEach(function (h, i) { col[h] = i; });
  var body = document.querySelector("#llmgate-cases tbody");
  var filters = {backend: "backend", category: "category", status: "status"};
  Object.keys(filters).forEach(function (key) {
    var select = document.getElementById("llmgate-filter-" + key);
    var seen = {};
    data.rows.forEach(function (r) { seen[r[col[filters[key]]]] = true; });
    Object.keys(seen).sort().forEach(function (v) {
      var option = document.createElement("option"); option.value = v; option.textContent = v; select.appendChild(option);
    });
    select.addEventListener("change", draw);
  });
  document.getElementById("llmgate-search").addEventListener("input", draw);
  function draw() {
    var wanted = {};
    Object.keys(filters).forEach(function (key) { wanted[key] = document.getElementById("llmgate-filter-" + key).value; });
    var text = document.getElementById("llmgate-search").value.toLowerCase();
    var shown = 0;
    body.textContent = "";
    data.rows.forEach(function (r) {
      for (var key in filters) { if (wanted[key] && r[col[filters[key]]] !== wanted[key]) return; }
      if (text && r.join(" | ").toLowerCase().indexOf(text) < 0) return;
      var tr = document.createElement("tr");
      r.forEach(function (cell, i) {
        var td = document.createElement("td"); td.textContent = cell;
        if (i === col.status) td.className = cell === "PASS" ? "pass" : (cell === "FAIL" || cell === "ERROR" ? "fail" : "");
        tr.appendChild(td);
      });
      body.appendChild(tr); shown += 1;
    });
    document.getElementById("llmgate-shown").textContent = shown + " of " + data.rows.length + " shown";
  }
  draw();
})();
"""


def accuracy_chart(analysis: Analysis) -> go.Figure:
    """Accuracy per gate group and category (and the group's all), one bar per backend, with 95% Wilson
    interval bars on the effective number of independent cases; groups are never pooled."""
    figure = go.Figure()
    for backend in sorted({s.backend for s in analysis.side_by_side}):
        stats = [(s, s.accuracy) for s in analysis.side_by_side if s.backend == backend and s.accuracy is not None]
        figure.add_bar(
            name=backend,
            x=[[s.group for s, _ in stats], [s.category for s, _ in stats]],
            y=[accuracy for _, accuracy in stats],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [s.accuracy_high - accuracy for s, accuracy in stats],
                "arrayminus": [accuracy - s.accuracy_low for s, accuracy in stats],
            },
            customdata=[[s.graded, s.accuracy_low, s.accuracy_high, s.clusters] for s, _ in stats],
            hovertemplate="%{x}: %{y:.2f} (95% CI %{customdata[1]:.2f}-%{customdata[2]:.2f}, "
            "n %{customdata[3]} clusters / %{customdata[0]} cases)",
        )
    thresholds = sorted(
        {
            (g.group, g.stats.category, g.stats.backend, g.threshold.accuracy)
            for g in analysis.gates
            if g.threshold is not None and g.threshold.accuracy is not None
        }
    )
    if thresholds:  # a dash across each category's bars at its minimum accuracy
        figure.add_scatter(
            name="minimum accuracy",
            mode="markers",
            x=[[t[0] for t in thresholds], [t[1] for t in thresholds]],
            y=[t[3] for t in thresholds],
            marker={"symbol": "line-ew-open", "size": 60, "color": "#b00020", "line": {"width": 3}},
            text=[t[2] for t in thresholds],
            hovertemplate="minimum accuracy %{y:.2f} (%{text})",
        )
    figure.update_layout(
        title="Accuracy per gate group and category (95% Wilson interval, clustered by source case; red dash: minimum)",
        barmode="group",
        yaxis={"title": "accuracy", "range": [0, 1.05]},
    )
    return figure


def cost_chart(analysis: Analysis) -> go.Figure:
    """Monthly cost against daily volume per backend, one-time costs spread over the horizon,
    with the equal-cost volumes of fine-tuned and prompted pairs marked."""
    months = analysis.horizon_months
    marks = [p.breakeven.equal_cost_daily_volume for p in analysis.pair_costs if p.breakeven.equal_cost_daily_volume]
    top = max([1000.0, *(2 * v for v in marks), 2 * (analysis.volume_per_day or 0)])
    volumes = [top * i / 50 for i in range(51)]
    profiles = {(c.group, c.backend): c.profile for c in analysis.costs if c.profile is not None}
    figure = go.Figure()
    for (group, backend), profile in profiles.items():
        figure.add_scatter(
            name=f"{group}: {backend}",
            mode="lines",
            x=volumes,
            y=[profile.horizon_usd(v, months) / months for v in volumes],
        )
    for pair in analysis.pair_costs:
        volume = pair.breakeven.equal_cost_daily_volume
        if volume is not None:
            cost = profiles[(pair.group, pair.fine_tuned)].horizon_usd(volume, months) / months
            figure.add_scatter(
                name=f"equal cost, {pair.group}: {pair.fine_tuned} / {pair.prompted}",
                mode="markers+text",
                x=[volume],
                y=[cost],
                text=[f"{volume:,.0f}/day"],
                textposition="top left",
                marker={"size": 12, "symbol": "x"},
            )
    if analysis.volume_per_day is not None:
        figure.add_vline(x=analysis.volume_per_day, line_dash="dash", annotation_text="your volume")
    figure.update_layout(
        title=f"Monthly cost against daily volume (one-time costs spread over {months:g} months)",
        xaxis={"title": "requests per day"},
        yaxis={"title": "USD per month"},
    )
    return figure


def latency_chart(analysis: Analysis) -> go.Figure:
    """Latency and time to first token of every answered case, one box per backend and measure."""
    rows = answered_rows(analysis.rows)
    figure = go.Figure()
    for index, backend in enumerate(sorted({r.backend for r in rows})):
        mine = [r for r in rows if r.backend == backend]
        color = qualitative.Plotly[index % len(qualitative.Plotly)]  # the colours the other charts give each backend
        for measure, values in (("latency", [r.latency_ms for r in mine]), ("TTFT", [r.ttft_ms for r in mine])):
            figure.add_box(
                name=f"{backend} {measure}",
                y=[v for v in values if v is not None and v > 0],  # a log axis has no place for 0
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker_color=color,
            )
    figure.update_layout(
        title="Latency and time to first token per request (log scale)",
        yaxis={"title": "ms", "type": "log"},
        showlegend=False,
    )
    return figure


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{_status_class(c)}>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    kind = f" class='{css}'" if css else ""
    return f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status_class(cell: str) -> str:
    return {"PASS": " class='pass'", "FAIL": " class='fail'", "ERROR": " class='fail'"}.get(cell, "")


def _chart(figure: go.Figure, div_id: str) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, default_height=CHART_HEIGHT)


def json_script(element_id: str, data: object) -> str:
    """``data`` as a <script type="application/json"> block that no text inside it can close or escape:
    every '<' is written as \\u003c."""
    text = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    return f"<script type='application/json' id='{element_id}'>{text}</script>"


def verdict_section(analysis: Analysis) -> str:
    """The verdict as the terminal prints it, PASS or FAIL in colour, then its other reasons and the warnings."""
    verdict = analysis.verdict
    head, *rest = verdict_lines(verdict)
    css = "pass" if verdict.passed else "fail"
    return (
        f"<p class='verdict {css}' id='llmgate-verdict'>{html.escape(head)}</p>"
        + "".join(f"<p class='warning'>{html.escape(line.strip())}</p>" for line in rest)
        + f"<p>Gates: {html.escape(verdict_word(verdict))}</p>"
        + "".join(f"<p class='warning'>{html.escape(text)}</p>" for text in (*analysis.warnings, *analysis.notes))
    )


def recommendation_section(analysis: Analysis) -> str:
    """Per gate group: the recommendation and its numbered chain of reasons."""
    return "".join(
        f"<p class='verdict'>{html.escape(_sentence(recommendation_head(rec)))}</p>"
        + "<ol>"
        + "".join(f"<li><b>{html.escape(r.step)}</b>: {html.escape(r.text)}</li>" for r in rec.reasons)
        + "</ol>"
        for rec in analysis.recommendations
    )


def chart_section(analysis: Analysis) -> str:
    """Accuracy with its thresholds, cost against volume, latency on a log axis."""
    return (
        _chart(accuracy_chart(analysis), "llmgate-accuracy")
        + _chart(cost_chart(analysis), "llmgate-cost")
        + _chart(latency_chart(analysis), "llmgate-latency")
    )


def failure_section(analysis: Analysis) -> str:
    """The missed and errored cases as a table."""
    headers, rows = failure_table(analysis.rows)
    if not rows:
        return ""
    return f"<h2>Failures ({len(rows)})</h2>{_table(headers, rows, 'failures')}"


def flip_section(analysis: Analysis) -> str:
    """The perturbation searches: variants held and the smallest flip of each."""
    headers, rows = flip_table(analysis.perturbations)
    return f"<h2>Perturbation flips</h2>{_table(headers, rows, 'failures')}" if rows else ""


def case_section(analysis: Analysis) -> str:
    """Every case in one table, filtered by backend, category and status and searched as you type; the rows
    travel as JSON and are drawn by the inline script."""
    headers, rows = case_table(analysis.rows)
    selects = "".join(
        f"<label>{key} <select id='llmgate-filter-{key}'><option value=''>all</option></select></label>"
        for key in ("backend", "category", "status")
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return (
        f"<h2>Cases ({len(rows)})</h2><div class='filters'>{selects}"
        "<label>search <input id='llmgate-search' type='search' placeholder='text in any column'></label>"
        "<span id='llmgate-shown'></span></div>"
        f"<table id='llmgate-cases'><thead><tr>{head}</tr></thead><tbody></tbody></table>"
        + json_script("llmgate-case-data", {"headers": headers, "rows": rows})
        + f"<script>{CASE_SCRIPT}</script>"
    )


def regression_section(analysis: Analysis) -> str:
    """The comparison with --llm-baseline, when there is one."""
    if analysis.regression is None:
        return ""
    return (
        "<h2>Changes since the baseline</h2>"
        + "".join(f"<p>{html.escape(line.strip())}</p>" for line in regression_lines(analysis.regression))
        + _table(*regression_table(analysis.regression))
    )


def table_section(analysis: Analysis) -> str:
    """The titled tables every report shares (report_sections)."""
    return "".join(
        f"<h2>{html.escape(title)}</h2>{_table(*data)}" for title, data in report_sections(analysis) if data[1]
    )


# The page in reading order: a new section is one function from the Analysis to HTML, added here.
SECTIONS: tuple[Callable[[Analysis], str], ...] = (
    verdict_section,
    recommendation_section,
    failure_section,
    chart_section,
    case_section,
    flip_section,
    regression_section,
    table_section,
)


def html_report(analysis: Analysis) -> str:
    """The whole page: the verdict first, then recommendation, failures, charts, cases and tables, with
    plotly.js inlined (nothing is fetched)."""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "".join(section(analysis) for section in SECTIONS)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>llmgate report</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{body}<p>llmgate report, generated {generated}</p></body></html>\n"
    )


def _sentence(text: str) -> str:
    """``text`` with its first letter a capital (the rest as it is: backend names keep their case)."""
    return text[:1].upper() + text[1:]
