"""The figures the README and docs quote from the example suite, generated from one real run.

    .venv/bin/python scripts/quoted_figures.py --run [--cold] [--only NAME]   # run, save, rewrite the docs
    .venv/bin/python scripts/quoted_figures.py                               # rewrite the docs from the saved runs
    .venv/bin/python scripts/quoted_figures.py --check                       # exit 1 naming every stale quote

``--run`` runs the example suite's commands the docs quote (RUNS: prompted and fine-tuned side by side, the
quick start's default, the three approaches with the hybrid backend, the pair again at a low volume; ``--only``
picks some) and saves each one's results JSON, its printed summary and how it ran (wall time, cores, answers
cached or not) under example_suite/results/. Each quote in a doc sits between ``<!-- llmgate:figures:start NAME -->`` and
``<!-- llmgate:figures:end NAME -->`` and is rendered from that saved run alone; tests/test_quoted_figures.py
fails when one no longer matches it. With the response cache on (the default), answers a previous run
stored are reused, so latencies and costs are those measured when each answer was made, and the wall
time quoted says it came from the cache; ``--cold`` asks every answer of the models again (and stores it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "example_suite" / "results"


@dataclass(frozen=True)
class Run:
    """One command the docs quote: the backends it selects, its other options, and whether ``--cold`` asks every
    answer of the models again (and stores it) rather than reuse the response cache."""

    backends: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    cold: bool = False


PROMPTED, FINE_TUNED, HYBRID = "smollm2-prompted", "smollm2-finetuned", "smollm2-hybrid"
# In this order: the walkthrough's pair; the quick start's default command, from the pair's cached answers; the
# three approaches, cold too, so that all three are timed (and priced by the hour) under one load, in two
# pytest-xdist workers, each llama.cpp model then on one thread (two threads a model, on cores shared with other
# work, spin in each other's way: such a run gave 140 answers in 29 minutes); the pair at a volume under the
# decision's minimum, from the cache (only its volume step is quoted).
RUNS = {
    "pair": Run((PROMPTED, FINE_TUNED), cold=True),
    "default": Run(),
    "hybrid": Run((PROMPTED, FINE_TUNED, HYBRID), ("-n", "2"), cold=True),
    "low-volume": Run((PROMPTED, FINE_TUNED), ("--llm-volume=500/day",)),
}
DOCS = ("README.md", "docs/deciding.md", "example_suite/README.md")
_BLOCK = re.compile(
    r"(?P<start><!-- llmgate:figures:start (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(?P<end><!-- llmgate:figures:end (?P=name) -->)",
    re.DOTALL,
)


@dataclass(frozen=True)
class SavedRun:
    """What one run left: its results JSON, its printed llmgate output and how it ran."""

    results: Mapping[str, Any]
    printed: str
    meta: Mapping[str, Any]


def load_runs(folder: Path = RESULTS) -> dict[str, SavedRun]:
    """The runs ``--run`` saved in ``folder``, by name (RUNS)."""
    meta = json.loads((folder / "runs.json").read_text(encoding="utf-8"))
    return {
        name: SavedRun(
            json.loads((folder / f"{name}.json").read_text(encoding="utf-8")),
            (folder / f"{name}.txt").read_text(encoding="utf-8"),
            meta[name],
        )
        for name in RUNS
    }


def run_suite(cold: bool, folder: Path = RESULTS, names: tuple[str, ...] = tuple(RUNS)) -> None:
    """Run ``names`` in RUNS order (cold: the runs marked so ask every answer again, and store it; the others
    reuse the response cache); save each one's results, printed output and run facts."""
    folder.mkdir(parents=True, exist_ok=True)
    facts = folder / "runs.json"
    meta = json.loads(facts.read_text(encoding="utf-8")) if facts.is_file() else {}
    for name in (name for name in RUNS if name in names):
        run = RUNS[name]
        report = folder / f"{name}.json"
        args = [sys.executable, "-m", "pytest", "example_suite", "-q", "-p", "no:cacheprovider"]
        flags = [flag for backend in run.backends for flag in ("--llm-backend", backend)] + list(run.options)
        cache = ["--llm-cache=write"] if cold and run.cold else []
        started = time.perf_counter()
        done = subprocess.run(
            [*args, *flags, "--llm-report-json", str(report), *cache], cwd=ROOT, capture_output=True, text=True
        )
        wall_s = time.perf_counter() - started
        if not report.is_file():
            sys.exit(
                f"{name}: the run wrote no results (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        (folder / f"{name}.txt").write_text(_portable(printed_output(done.stdout)), encoding="utf-8")
        report.write_text(_saved_results(report.read_text(encoding="utf-8")), encoding="utf-8")
        meta[name] = {
            "command": " ".join([".venv/bin/pytest example_suite", *flags, *cache]),
            "exit_status": done.returncode,
            "wall_s": round(wall_s, 1),
            "cpu_cores": os.cpu_count(),
            "cache": "write" if cache else "readwrite",  # readwrite: answers stored earlier are reused
            # Latency, and a cost priced by the hour, grow with the machine's load: say what it was.
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        }
    facts.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def printed_output(stdout: str) -> str:
    """What pytest printed from the llmgate summary on, without the list of missed cases (every one is in the
    JSON) and the line naming the results file."""
    start = stdout.find("= llmgate summary =")
    lines = stdout[stdout.rfind("\n", 0, start) + 1 :].splitlines() if start >= 0 else []
    kept, skipping = [], False
    for line in lines:
        if line.startswith("=") and "short test summary info" in line:
            skipping = True
            continue
        if skipping and not line.startswith(("MISSED ", "FAILED ", "ERROR ", "SKIPPED ")):
            skipping = False
        if not skipping and not line.startswith("llmgate: results written to"):
            kept.append(line)
    return "\n".join(kept) + "\n"


# What a saved case row keeps: what names it and what a quote may use (the full row is in any run's JSON).
CASE_FIELDS = ("nodeid", "group", "category", "backend", "status", "passed", "format_ok", "cached_prompt_tokens")


def _saved_results(text: str) -> str:
    """The results JSON, portable and small enough to commit: case rows cut to CASE_FIELDS, one line."""
    results = json.loads(_portable(text))
    results["cases"] = [{key: row.get(key) for key in CASE_FIELDS} for row in results["cases"]]
    return json.dumps(results, separators=(",", ":"), ensure_ascii=False) + "\n"


def _portable(text: str) -> str:
    """The saved run without this checkout's absolute paths."""
    return text.replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")


# ----------------------------------------------------------------------------- the quotes


def _rows(results: Mapping[str, Any], key: str, **match: Any) -> list[dict[str, Any]]:
    rows = results
    for part in key.split("."):
        rows = rows[part]
    return [row for row in rows if all(row.get(name) == value for name, value in match.items())]  # type: ignore[union-attr]


def _one(results: Mapping[str, Any], key: str, **match: Any) -> dict[str, Any]:
    rows = _rows(results, key, **match)
    if len(rows) != 1:
        raise KeyError(f"{key} {match}: {len(rows)} rows in the saved results, expected one")
    return rows[0]


def _p(value: float) -> str:
    """A p-value as the docs write it: 2 significant digits, powers of ten below 0.001."""
    return f"{value:.0e}".replace("e-0", "e-") if value < 0.001 else f"{value:.2g}"


def _timing(meta: Mapping[str, Any]) -> str:
    """How long a run took, whether the models answered or the response cache did, and how busy the cores were."""
    if meta["cache"] != "write":
        return f"{meta['wall_s']:.0f} s, answered from the response cache"
    one, _, fifteen = meta["load_average_at_end"]
    load = fifteen if meta["wall_s"] > 600 else one  # the average that spans the run best
    busy = "shared with other work" if load > meta["cpu_cores"] else "otherwise idle"
    return (
        f"{meta['wall_s']:.0f} s on {meta['cpu_cores']} CPU cores {busy} (load average {load:.1f}), "
        "every answer asked of the models"
    )


def _caveat(meta: Mapping[str, Any]) -> str:
    """What the run's latencies (and the costs priced by the hour from them) are worth."""
    one, _, fifteen = meta["load_average_at_end"]
    if meta["cache"] == "write" and (fifteen if meta["wall_s"] > 600 else one) > meta["cpu_cores"]:
        return " Its latencies, and the costs priced by the hour from them, are those of a busy machine."
    return ""


def _routing_only(text: str) -> str:
    """Printed tables cut to the routing cases' gate group: rows and recommendations of the other groups go."""
    kept, dropping = [], False
    for line in text.splitlines():
        if line.startswith("recommendation"):
            dropping = f"{GROUP}/" in line
        elif not line.startswith("  "):
            dropping = False
        if not dropping and f"{GROUP}/" not in line:
            kept.append(line)
    return "\n".join(kept)


def _code(text: str) -> str:
    return f"```\n{text.rstrip()}\n```\n"


def _section(printed: str, first: str, last_before: str) -> str:
    """The lines of ``printed`` from the one starting with ``first`` to the one before a match of ``last_before``."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i, line in enumerate(lines[start:], start) if re.match(last_before, line))
    return "\n".join(lines[start:end]).rstrip() + "\n"


GROUP = "example_suite"  # the routing cases: the gate group of the suite's llmgate.yaml
CATEGORIES = ("common", "edge", "adversarial")


def _verdict_cut(printed: str, keep: int = 2) -> str:
    """``printed`` with a long verdict's 'and ...' lines cut to the first ``keep`` and the last."""
    lines = printed.rstrip().splitlines()
    ands = [i for i, line in enumerate(lines) if line.startswith("  and ")]
    if len(ands) > keep + 1:
        lines = lines[: ands[keep]] + ["  ..."] + lines[ands[-1] :]
    return "\n".join(lines)


def quickstart_summary(runs: Mapping[str, SavedRun]) -> str:
    """README: what ``pytest example_suite`` prints after the misses."""
    return _code("$ .venv/bin/pytest example_suite -q\n...\n" + _verdict_cut(runs["default"].printed))


def quickstart_timing(runs: Mapping[str, SavedRun]) -> str:
    """README: how long that took, and the cold run behind it."""
    default, pair = runs["default"], runs["pair"]
    cases = len(default.results["cases"])
    return (
        f"That run, {cases} cases, took {_timing(default.meta)}; the side-by-side run below filled that cache "
        f"and took {_timing(pair.meta)} (`scripts/quoted_figures.py --run --cold`).{_caveat(pair.meta)}\n"
    )


def walkthrough_run(runs: Mapping[str, SavedRun]) -> str:
    """docs/deciding.md: the size, time and exit status of the side-by-side run."""
    pair = runs["pair"]
    rows = pair.results["cases"]
    skipped = sum(1 for row in rows if row["backend"] == FINE_TUNED and row["status"] == "skipped")
    failing = []
    for backend in RUNS["pair"].backends:
        summary = _rows(pair.results, "summary", group=GROUP, backend=backend)
        named = [
            f"{row['category']} (accuracy {row['accuracy']:.2f} < {row['threshold_accuracy']:.2f})"
            for row in summary
            if not row["gate_passed"]
        ]
        failing.append(f"`{backend}` fails {_and(named)}" if named else f"`{backend}` passes them all")
    return (
        f"It runs {len(rows)} cases and exits {pair.meta['exit_status']} (the fine-tuned backend has no "
        f"`extract_fields` prompt, so it skips the {skipped} extraction cases). Of the routing cases' "
        f"gates, {'; '.join(failing)}. This run took {_timing(pair.meta)}.{_caveat(pair.meta)}\n"
    )


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def walkthrough_summary(runs: Mapping[str, SavedRun]) -> str:
    """docs/deciding.md: the side-by-side, paired, cost and recommendation tables as printed."""
    printed = _section(runs["pair"].printed, "side by side", r"\d+ (failed|passed)")
    return _code(_routing_only(printed))


def pair_run(runs: Mapping[str, SavedRun]) -> str:
    """example_suite/README.md: the run behind the tables."""
    pair = runs["pair"]
    rows = pair.results["cases"]
    skipped = sum(1 for row in rows if row["backend"] == FINE_TUNED and row["status"] == "skipped")
    return (
        f"{len(rows)} cases (the fine-tune skips the {skipped} extraction cases: it has no prompt for that task), "
        f"{_timing(pair.meta)}; exit status {pair.meta['exit_status']}.{_caveat(pair.meta)}\n"
    )


def pair_tables(runs: Mapping[str, SavedRun]) -> str:
    """example_suite/README.md: accuracy per category, then tokens, latency, cost and gates, for the pair."""
    results = runs["pair"].results
    lines = [
        "| category | cases | prompted accuracy (95% CI) | fine-tuned accuracy (95% CI) | McNemar p "
        "| prompted format | fine-tuned format |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for category in CATEGORIES:
        side = {
            backend: _one(results, "comparison.categories", group=GROUP, category=category, backend=backend)
            for backend in RUNS["pair"].backends
        }
        paired = _one(results, "comparison.paired", group=GROUP, category=category)
        best = max(side, key=lambda backend: side[backend]["accuracy"])
        accuracy = {
            backend: (f"**{row['accuracy']:.2f}**" if backend == best else f"{row['accuracy']:.2f}")
            + f" ({row['accuracy_low']:.2f}-{row['accuracy_high']:.2f})"
            for backend, row in side.items()
        }
        lines.append(
            f"| {category} | {paired['n']} | {accuracy[PROMPTED]} | {accuracy[FINE_TUNED]} | {_p(paired['p_value'])} "
            f"| {side[PROMPTED]['format_rate']:.2f} | {side[FINE_TUNED]['format_rate']:.2f} |"
        )
    overall = {
        backend: _one(results, "comparison.categories", group=GROUP, category="all", backend=backend)
        for backend in RUNS["pair"].backends
    }

    def cached_tokens(backend: str) -> float:
        rows = [
            r for r in results["cases"] if r["backend"] == backend and r["group"] == GROUP and r["status"] == "answered"
        ]
        return sum(r.get("cached_prompt_tokens") or 0 for r in rows) / max(1, len(rows))

    def gates(backend: str) -> str:
        rows = _rows(results, "summary", group=GROUP, backend=backend)
        return ", ".join(f"{row['category']} {row['status'].lower()}" for row in rows)

    def cells(render: Callable[[str], str]) -> str:
        return " | ".join(render(backend) for backend in RUNS["pair"].backends)

    lines += [
        "",
        "| | prompted | fine-tuned |",
        "| --- | --- | --- |",
        "| prompt tokens per request | "
        + cells(lambda b: f"{overall[b]['mean_prompt_tokens']:.0f} ({cached_tokens(b):.0f} from the prefix cache)")
        + " |",
        "| latency p50 / p95 | "
        + cells(lambda b: f"{overall[b]['latency_p50_ms']:.0f} / {overall[b]['latency_p95_ms']:.0f} ms")
        + " |",
        "| time to first token p50 | " + cells(lambda b: f"{overall[b]['ttft_p50_ms']:.0f} ms") + " |",
        "| cost per request at $0.10/hour | " + cells(lambda b: f"${overall[b]['mean_cost_usd']:.6f}") + " |",
        "| gates | " + cells(gates) + " |",
    ]
    return "\n".join(lines) + "\n"


def robustness_table(runs: Mapping[str, SavedRun]) -> str:
    """example_suite/README.md: attacks resisted per backend and family."""
    rows = runs["pair"].results["injection_resistance"]
    families = sorted({row["family"] for row in rows})
    lines = ["| attack family | prompted resisted | fine-tuned resisted |", "| --- | --- | --- |"]
    for family in [*families, "all"]:
        cells = []
        for backend in RUNS["pair"].backends:
            chosen = [r for r in rows if r["backend"] == backend and (family == "all" or r["family"] == family)]
            attacks, resisted = sum(r["attacks"] for r in chosen), sum(r["resisted"] for r in chosen)
            cells.append(f"{resisted} / {attacks}" + (f" ({resisted / attacks:.2f})" if attacks else ""))
        lines.append(f"| {family.replace('_', ' ')} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _recommendation(printed: str, group: str = GROUP) -> str:
    """The recommendation ``printed`` gives ``group``: its head line and numbered reasons."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"recommendation, {group}:"))
    end = next((i for i, line in enumerate(lines[start + 1 :], start + 1) if not line.startswith("  ")), len(lines))
    return "\n".join(lines[start:end]) + "\n"


def _paired(results: Mapping[str, Any], category: str, control: str, challenger: str) -> dict[str, Any]:
    return _one(results, "comparison.paired", group=GROUP, category=category, control=control, challenger=challenger)


def hybrid_run(runs: Mapping[str, SavedRun]) -> str:
    """example_suite/README.md: the size, time and exit status of the three-way run."""
    run = runs["hybrid"]
    rows = run.results["cases"]
    skipped = [sum(1 for r in rows if r["backend"] == b and r["status"] == "skipped") for b in (FINE_TUNED, HYBRID)]
    each = (
        f"the {skipped[0]} extraction cases each"
        if skipped[0] == skipped[1]
        else f"{skipped[0]} and {skipped[1]} cases"
    )
    return _code(run.meta["command"]) + (
        f"\n{len(rows)} cases (the fine-tune and the hybrid have no prompt for the extraction task: they skip {each}), "
        f"{_timing(run.meta)}; exit status {run.meta['exit_status']}.{_caveat(run.meta)}\n"
    )


def hybrid_tables(runs: Mapping[str, SavedRun]) -> str:
    """example_suite/README.md: accuracy per category of the three approaches, the hybrid against the fine-tune,
    then tokens, latency, cost, format and gates of each."""
    results = runs["hybrid"].results
    backends = RUNS["hybrid"].backends
    lines = [
        "| category | cases | prompted | fine-tuned | hybrid | hybrid vs fine-tuned: won / lost, McNemar p |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for category in (*CATEGORIES, "all"):
        side = {
            backend: _one(results, "comparison.categories", group=GROUP, category=category, backend=backend)
            for backend in backends
        }
        paired = _paired(results, category, FINE_TUNED, HYBRID)
        best = max(side.values(), key=lambda row: row["accuracy"])["accuracy"]
        cells = [
            (f"**{row['accuracy']:.2f}**" if row["accuracy"] == best else f"{row['accuracy']:.2f}")
            + f" ({row['accuracy_low']:.2f}-{row['accuracy_high']:.2f})"
            for row in side.values()
        ]
        lines.append(
            f"| {category} | {paired['n']} | {' | '.join(cells)} "
            f"| {len(paired['won'])} / {len(paired['lost'])}, {_p(paired['p_value'])} |"
        )
    overall = {
        backend: _one(results, "comparison.categories", group=GROUP, category="all", backend=backend)
        for backend in backends
    }

    def gates(backend: str) -> str:
        rows = _rows(results, "summary", group=GROUP, backend=backend)
        return ", ".join(f"{row['category']} {row['status'].lower()}" for row in rows)

    def cells(render: Callable[[str], str]) -> str:
        return " | ".join(render(backend) for backend in backends)

    lines += [
        "",
        "| | prompted | fine-tuned | hybrid |",
        "| --- | --- | --- | --- |",
        "| prompt tokens per request | " + cells(lambda b: f"{overall[b]['mean_prompt_tokens']:.0f}") + " |",
        "| latency p50 / p95 | "
        + cells(lambda b: f"{overall[b]['latency_p50_ms']:.0f} / {overall[b]['latency_p95_ms']:.0f} ms")
        + " |",
        "| time to first token p50 | " + cells(lambda b: f"{overall[b]['ttft_p50_ms']:.0f} ms") + " |",
        "| cost per request at $0.10/hour | " + cells(lambda b: f"${overall[b]['mean_cost_usd']:.6f}") + " |",
        "| format | " + cells(lambda b: f"{overall[b]['format_rate']:.2f}") + " |",
        "| gates | " + cells(gates) + " |",
    ]
    return "\n".join(lines) + "\n"


def hybrid_decision(runs: Mapping[str, SavedRun]) -> str:
    """example_suite/README.md: the three-way recommendation on the routing cases, as printed."""
    return _code(_recommendation(runs["hybrid"].printed))


def hybrid_summary(runs: Mapping[str, SavedRun]) -> str:
    """docs/deciding.md: the three-way run's paired, cost and recommendation tables on the routing cases."""
    run = runs["hybrid"]
    printed = _section(run.printed, "paired comparison", r"\d+ (failed|passed)")
    return (
        _code(run.meta["command"])
        + f"\nIt took {_timing(run.meta)}.{_caveat(run.meta)} The paired comparisons, the cost tables and the "
        "recommendation, cut to the routing cases' gate group:\n\n" + _code(_routing_only(printed))
    )


def low_volume_decision(runs: Mapping[str, SavedRun]) -> str:
    """docs/deciding.md: what the pair's run recommends at a volume under the minimum."""
    run = runs["low-volume"]
    volume = run.results["cost"]["volume_per_day"]
    return (
        f"At {volume:,.0f} requests a day (`{run.meta['command']}`, the pair's answers from the response cache) "
        f"the same run says:\n\n" + _code(_recommendation(run.printed))
    )


RENDERERS: dict[str, Callable[[Mapping[str, SavedRun]], str]] = {
    "quickstart-summary": quickstart_summary,
    "quickstart-timing": quickstart_timing,
    "walkthrough-run": walkthrough_run,
    "walkthrough-summary": walkthrough_summary,
    "pair-run": pair_run,
    "pair-tables": pair_tables,
    "robustness-table": robustness_table,
    "hybrid-run": hybrid_run,
    "hybrid-tables": hybrid_tables,
    "hybrid-decision": hybrid_decision,
    "hybrid-summary": hybrid_summary,
    "low-volume-decision": low_volume_decision,
}


def render_all(runs: Mapping[str, SavedRun]) -> dict[str, str]:
    """Every quote, by block name, rendered from the saved runs alone."""
    return {name: render(runs) for name, render in RENDERERS.items()}


# ----------------------------------------------------------------------------- blocks in the docs


def blocks_in(text: str) -> dict[str, str]:
    """The quoted blocks of a doc, by name: what stands between each pair of markers."""
    return {match["name"]: match["body"] for match in _BLOCK.finditer(text)}


def rewrite(text: str, rendered: Mapping[str, str]) -> str:
    """``text`` with every marked block replaced by its rendering (a block with no renderer is an error)."""

    def body(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in rendered:
            raise KeyError(f"no renderer for the quoted block {name!r}; known: {', '.join(sorted(rendered))}")
        return match["start"] + rendered[name] + match["end"]

    return _BLOCK.sub(body, text)


def stale(root: Path, runs: Mapping[str, SavedRun]) -> list[str]:
    """'doc: block' for every quote under ``root`` that differs from what the saved runs render, and for every
    renderer whose block no doc holds (a quote deleted by hand)."""
    rendered = render_all(runs)
    found: set[str] = set()
    problems = []
    for doc in DOCS:
        blocks = blocks_in((root / doc).read_text(encoding="utf-8"))
        found |= set(blocks)
        problems += [
            f"{doc}: {name} is stale" for name, body in blocks.items() if body != rendered.get(name, body + "?")
        ]
    problems += [f"no doc quotes {name}" for name in sorted(set(rendered) - found)]
    return problems


def update(root: Path, runs: Mapping[str, SavedRun]) -> list[str]:
    """Rewrite the quotes of every doc under ``root``; the docs that changed."""
    rendered = render_all(runs)
    changed = []
    for doc in DOCS:
        path = root / doc
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, rendered)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(doc)
    return changed


def main(argv: list[str] | None = None) -> int:
    """The command line: --run [--cold], --check, or (neither) rewrite the docs from the saved runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run the example suite first and save the runs")
    parser.add_argument("--cold", action="store_true", help="with --run: ask every answer of the models again")
    parser.add_argument(
        "--only", action="append", choices=list(RUNS), help="with --run: run only this one (repeatable)"
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 naming each stale quote")
    args = parser.parse_args(argv)
    if args.run:
        run_suite(args.cold, names=tuple(args.only or RUNS))
    runs = load_runs()
    if args.check:
        problems = stale(ROOT, runs)
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    for doc in update(ROOT, runs):
        print(f"updated {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
