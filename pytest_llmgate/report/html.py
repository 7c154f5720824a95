"""The HTML report: one self-contained file (plotly.js inlined, nothing fetched) with charts of
accuracy, cost against volume and latency, and the report's tables. Needs plotly."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs

from ..verdict.analysis import Analysis
from ..verdict.compare import answered_rows
from .tables import recommendation_head, regression_lines, regression_table, report_sections, verdict_word

CHART_HEIGHT = "440px"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.verdict { font-size: 1.3rem; font-weight: bold; }
.warning { color: #9a5b00; }
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
    figure.update_layout(
        title="Accuracy per gate group and category (95% Wilson interval, clustered by source case)",
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
                y=[v for v in values if v is not None],
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker_color=color,
            )
    figure.update_layout(title="Latency and time to first token per request", yaxis={"title": "ms"}, showlegend=False)
    return figure


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(figure: go.Figure, div_id: str) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, default_height=CHART_HEIGHT)


def html_report(analysis: Analysis) -> str:
    """The whole page: verdict, recommendation, charts and tables, with plotly.js inlined."""
    verdict = analysis.verdict
    parts = [
        f"<p class='verdict'>{html.escape(_sentence(recommendation_head(rec)))}</p>"
        + "<ol>"
        + "".join(f"<li><b>{html.escape(r.step)}</b>: {html.escape(r.text)}</li>" for r in rec.reasons)
        + "</ol>"
        for rec in analysis.recommendations
    ]
    parts += [
        f"<p class='verdict'>Gates: {html.escape(verdict_word(verdict))}</p>",
        "".join(
            f"<p class='warning'>{html.escape(text)}</p>"
            for text in (*verdict.gaps, *verdict.failures, *analysis.warnings, *analysis.notes)
        ),
        _chart(accuracy_chart(analysis), "llmgate-accuracy"),
        _chart(cost_chart(analysis), "llmgate-cost"),
        _chart(latency_chart(analysis), "llmgate-latency"),
    ]
    if analysis.regression is not None:
        parts += [
            "<h2>Changes since the baseline</h2>",
            "".join(f"<p>{html.escape(line.strip())}</p>" for line in regression_lines(analysis.regression)),
            _table(*regression_table(analysis.regression)),
        ]
    parts += [f"<h2>{html.escape(title)}</h2>{_table(*data)}" for title, data in report_sections(analysis) if data[1]]
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>llmgate report</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body><h1>llmgate report</h1><p>generated {generated}</p>{''.join(parts)}</body></html>\n"
    )


def _sentence(text: str) -> str:
    """``text`` with its first letter a capital (the rest as it is: backend names keep their case)."""
    return text[:1].upper() + text[1:]
