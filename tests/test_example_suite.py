"""The README's main job on the real models: the example suite, prompted and fine-tuned side by side."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path_factory.mktemp("example") / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "example_suite",
            "-p",
            "no:cacheprovider",
            "-q",
            "--llm-cache=off",
            "--llm-backend",
            "smollm2-prompted",
            "--llm-backend",
            "smollm2-finetuned",
            "--llm-report-json",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    return result, json.loads(report.read_text())


def test_gates_fail_on_the_tiny_prompted_model(run) -> None:
    result, data = run
    assert result.returncode == 1, result.stdout[-3000:]
    verdict = r"^(  and already failing: |  and )smollm2-prompted: example_suite common accuracy 0\.\d\d < 0\.90 \(\d+ graded cases\)$"
    assert re.search(verdict, result.stdout, re.MULTILINE)
    # 217 written cases, 104 made by attack templates, 2 perturbation searches: every one a row.
    assert len([row for row in data["cases"] if row["backend"] == "smollm2-prompted"]) == 323


def test_printed_table_agrees_with_the_json(run) -> None:
    result, data = run
    for summary in data["summary"]:
        accuracy = f"{summary['accuracy']:.2f}" if summary["accuracy"] is not None else "-"
        counts = (
            rf"{summary['selected']}\s+{summary['graded']}\s+{summary['clusters']}\s+{summary['errors']}\s+"
            rf"{summary['not_run']}"
        )
        pattern = rf"^{re.escape(summary['backend'])}\s+{re.escape(summary['group'])}\s+{summary['category']}\s+{counts}\s+{accuracy}\s"
        assert re.search(pattern, result.stdout, re.MULTILINE), pattern
        rows = [
            r
            for r in data["cases"]
            if (r["backend"], r["group"], r["category"]) == (summary["backend"], summary["group"], summary["category"])
            and r["status"] == "answered"
            and r["kind"] == "case"
        ]
        assert summary["n"] == len(rows)
        assert summary["passed"] == sum(bool(r["passed"]) for r in rows)
    for backend in data["backends"]:
        rows = [r for r in data["cases"] if r["backend"] == backend["backend"] and r["status"] == "answered"]
        # what each case's answer and each perturbation search's calls spent, both counted once
        spent = [r["search"] if r["search"] else r for r in rows]
        assert backend["prompt_tokens"] == sum(s["prompt_tokens"] for s in spent)
        assert backend["total_cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in spent))


def test_fine_tuning_beats_its_prompted_base_on_common_cases(run) -> None:
    _, data = run
    [common] = [
        p
        for p in data["comparison"]["paired"]
        if (p["group"], p["category"]) == ("example_suite", "common")
        and (p["control"], p["challenger"]) == ("smollm2-prompted", "smollm2-finetuned")
    ]
    assert common["challenger_accuracy"] > common["control_accuracy"]
    assert common["p_value"] < 0.05
    tokens = {b["backend"]: b["mean_prompt_tokens"] for b in data["backends"]}
    assert tokens["smollm2-finetuned"] < tokens["smollm2-prompted"] / 5


def test_the_fine_tune_resists_more_attacks(run) -> None:
    _, data = run
    resisted = {
        backend: sum(r["resisted"] for r in data["injection_resistance"] if r["backend"] == backend)
        for backend in ("smollm2-prompted", "smollm2-finetuned")
    }
    attacks = sum(r["attacks"] for r in data["injection_resistance"] if r["backend"] == "smollm2-finetuned")
    assert attacks == 104
    assert {r["sources"] for r in data["injection_resistance"]} == {4}  # the attacks are of 4 tickets
    assert resisted["smollm2-finetuned"] > resisted["smollm2-prompted"]
    searches = [r for r in data["cases"] if r["kind"] == "perturb" and r["backend"] == "smollm2-finetuned"]
    assert len(searches) == 2 and all(r["search"]["variants"] > 0 for r in searches)


def test_each_task_is_compared_and_decided_on_its_own(run) -> None:
    result, data = run
    stats = {(s["group"], s["category"], s["backend"]): s for s in data["comparison"]["categories"]}
    gates = {(g["group"], g["category"], g["backend"]): g for g in data["summary"]}
    # The routing task's adversarial row is the one its gate judges: the same cases, the same number.
    routing = ("example_suite", "adversarial", "smollm2-finetuned")
    assert stats[routing]["accuracy"] == gates[routing]["accuracy"] and gates[routing]["status"] == "failed"
    # The 104 attacks of 4 tickets (and the prompt-leak probe) are 5 clusters, not 105 independent cases.
    attacked = stats[("example_suite/robustness.llm.yaml", "adversarial", "smollm2-finetuned")]
    assert (attacked["graded"], attacked["clusters"]) == (105, 5)
    assert re.search(r"on 111 cases in 7 clusters .*sign-flip test over clusters p=", result.stdout)
    # The fine-tune has no prompt for the extraction task: not measured, never PASS, and no decision on it.
    extraction = "example_suite/extraction.llm.yaml"
    skipped = [g for (group, _, backend), g in gates.items() if (group, backend) == (extraction, "smollm2-finetuned")]
    assert skipped and all(g["status"] == "not measured" for g in skipped)
    assert data["verdict"]["status"] == "incomplete"
    decisions = {r["group"]: r for r in data["recommendations"]}
    assert set(decisions) == {"example_suite", extraction, "example_suite/robustness.llm.yaml"}
    assert (
        decisions[extraction]["choice"] == "undecided" and decisions[extraction]["reasons"][0]["step"] == "approaches"
    )
    assert decisions["example_suite"]["fine_tuned"] == "smollm2-finetuned"


def test_the_verdict_is_the_last_thing_printed(run) -> None:
    result, _ = run
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    verdict = next(i for i, line in enumerate(lines) if line.startswith("llmgate: INCOMPLETE"))
    assert "llmgate verdict" in lines[verdict - 1]
    assert all(line.startswith("  and ") for line in lines[verdict + 1 :])
