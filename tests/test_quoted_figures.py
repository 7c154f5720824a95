"""The figures the README and docs quote from the example suite match the saved run they were made from."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def figures() -> ModuleType:
    """scripts/quoted_figures.py, imported as the script it is."""
    spec = importlib.util.spec_from_file_location("quoted_figures", ROOT / "scripts" / "quoted_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through the module
    spec.loader.exec_module(module)
    return module


def copy_tree(tmp_path: Path, figures: ModuleType) -> Path:
    """The docs and the saved run, copied to tamper with."""
    for doc in figures.DOCS:
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / doc, tmp_path / doc)
    shutil.copytree(figures.RESULTS, tmp_path / "results")
    return tmp_path


def test_every_quote_matches_the_saved_run(figures: ModuleType) -> None:
    assert figures.stale(ROOT, figures.load_runs()) == []


def test_a_figure_edited_by_hand_is_stale(figures: ModuleType, tmp_path: Path) -> None:
    root = copy_tree(tmp_path, figures)
    readme = root / "example_suite" / "README.md"
    text = readme.read_text()
    assert "| common | 105 | 0.35 (0.27-0.45) | **0.96**" in text  # the quote this test edits
    readme.write_text(text.replace("**0.96** (0.91-0.99)", "**0.97** (0.91-0.99)", 1))  # the pair's table
    runs = figures.load_runs()
    assert figures.stale(root, runs) == ["example_suite/README.md: pair-tables is stale"]
    assert figures.update(root, runs) == ["example_suite/README.md"]
    assert readme.read_text() == text and figures.stale(root, runs) == []


def test_a_new_run_makes_the_old_quotes_stale(figures: ModuleType, tmp_path: Path) -> None:
    root = copy_tree(tmp_path, figures)
    pair = root / "results" / "pair.json"
    results = json.loads(pair.read_text())
    row = next(
        row
        for row in results["comparison"]["categories"]
        if (row["group"], row["category"], row["backend"]) == ("example_suite", "edge", "smollm2-finetuned")
    )
    row["accuracy"] = 0.9
    pair.write_text(json.dumps(results))
    meta = json.loads((root / "results" / "runs.json").read_text())
    meta["pair"]["wall_s"] = 99.0
    (root / "results" / "runs.json").write_text(json.dumps(meta))
    assert figures.stale(ROOT, figures.load_runs(root / "results")) == [
        "README.md: quickstart-timing is stale",
        "docs/deciding.md: walkthrough-run is stale",
        "example_suite/README.md: pair-run is stale",
        "example_suite/README.md: pair-tables is stale",
    ]


def test_a_quote_removed_from_the_docs_is_missed(figures: ModuleType, tmp_path: Path) -> None:
    root = copy_tree(tmp_path, figures)
    deciding = root / "docs" / "deciding.md"
    text = deciding.read_text()
    start = text.index("<!-- llmgate:figures:start walkthrough-summary -->")
    end = text.index("<!-- llmgate:figures:end walkthrough-summary -->") + len(
        "<!-- llmgate:figures:end walkthrough-summary -->"
    )
    deciding.write_text(text[:start] + "The summary is long; run it yourself." + text[end:])
    assert figures.stale(root, figures.load_runs()) == ["no doc quotes walkthrough-summary"]


def test_the_hybrid_figures_come_from_the_three_way_run(figures: ModuleType, tmp_path: Path) -> None:
    root = copy_tree(tmp_path, figures)
    saved = root / "results" / "hybrid.json"
    results = json.loads(saved.read_text())
    row = next(
        row
        for row in results["comparison"]["categories"]
        if (row["group"], row["category"], row["backend"]) == ("example_suite", "common", "smollm2-hybrid")
    )
    row["accuracy"] = 0.5
    saved.write_text(json.dumps(results))
    printed = root / "results" / "low-volume.txt"
    printed.write_text(printed.read_text().replace("500 requests/day <", "600 requests/day <"))
    assert figures.stale(ROOT, figures.load_runs(root / "results")) == [
        "docs/deciding.md: low-volume-decision is stale",
        "example_suite/README.md: hybrid-tables is stale",
    ]
