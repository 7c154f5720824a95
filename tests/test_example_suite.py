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
    verdict = r"^(llmgate: GATE FAILED: |  and )smollm2-prompted: example_suite common accuracy 0\.\d\d < 0\.90 \(\d+ cases\)$"
    assert re.search(verdict, result.stdout, re.MULTILINE)
    # 217 written cases, 104 made by attack templates, 2 perturbation searches: every one a row.
    assert len([row for row in data["cases"] if row["backend"] == "smollm2-prompted"]) == 323


def test_printed_table_agrees_with_the_json(run) -> None:
    result, data = run
    for summary in data["summary"]:
        accuracy = f"{summary['accuracy']:.2f}" if summary["accuracy"] is not None else "-"
        counts = rf"{summary['selected']}\s+{summary['errors']}\s+{summary['not_run']}"
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
        assert backend["prompt_tokens"] == sum(r["prompt_tokens"] for r in rows)
        assert backend["total_cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows))


def test_fine_tuning_beats_its_prompted_base_on_common_cases(run) -> None:
    _, data = run
    [common] = [
        p
        for p in data["comparison"]["paired"]
        if p["category"] == "common" and {p["baseline"], p["challenger"]} == {"smollm2-prompted", "smollm2-finetuned"}
    ]
    finetuned = (
        common["challenger_accuracy"] if common["challenger"] == "smollm2-finetuned" else common["baseline_accuracy"]
    )
    prompted = (
        common["baseline_accuracy"] if common["challenger"] == "smollm2-finetuned" else common["challenger_accuracy"]
    )
    assert finetuned > prompted
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
    assert resisted["smollm2-finetuned"] > resisted["smollm2-prompted"]
    searches = [r for r in data["cases"] if r["kind"] == "perturb" and r["backend"] == "smollm2-finetuned"]
    assert len(searches) == 2 and all(r["variants"] > 0 for r in searches)
