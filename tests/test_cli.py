from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate import __version__
from pytest_llmgate.cli import main

EXAMPLE = Path(__file__).parents[1] / "example_suite"


def test_lists_the_backends_of_the_nearest_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(EXAMPLE / "prompts")]) == 0
    out = capsys.readouterr().out
    assert f"pytest-llmgate {__version__}" in out
    assert "smollm2-prompted (default): llama_cpp embedded:smollm2-135m-instruct" in out


def test_without_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 1
    assert "no llmgate.yaml" in capsys.readouterr().out


def test_broken_config_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "llmgate.yaml").write_text("backends:\n  a: {provider: fake}\n")
    assert main([str(tmp_path)]) == 2
    assert "llmgate.yaml:2: backend 'a' needs 'model'" in capsys.readouterr().out


def test_backends_is_also_a_named_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends", str(EXAMPLE)]) == 0
    assert "smollm2-finetuned: llama_cpp" in capsys.readouterr().out


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("backends", "add-case", "export-finetune", "check-data"):
        assert command in out
