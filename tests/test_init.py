"""``llmgate init``: a suite that pytest runs as written, that never overwrites, and its CI workflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from faultserver import FaultServer

from pytest_llmgate.cli import main
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.config import load_config

FILES = ["llmgate.yaml", "common.llm.yaml", "edge.llm.yaml", "adversarial.llm.yaml", ".github/workflows/llmgate.yml"]


def run_pytest(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``pytest DIR`` as a user runs it: a fresh process in the folder above."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", folder.name, "-p", "no:cacheprovider", "-q", *args],
        cwd=folder.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_", "LLMGATE_"))}
    return {**env, **extra}


@pytest.mark.parametrize("provider", ["llama_cpp", "openai"])
def test_init_writes_a_suite_that_loads(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--provider", provider, "evals"]) == 0
    out = capsys.readouterr().out
    assert [line.removeprefix("wrote ") for line in out.splitlines()[:5]] == [f"evals/{name}" for name in FILES]
    assert "next: " in out and "pytest evals" in out
    suite = load_config(tmp_path / "evals" / "llmgate.yaml", environ={"OPENAI_API_KEY": "x"})
    assert [spec.provider for spec in suite.backends.values()] == [provider]
    cases = [case for name in FILES[1:4] for case in load_case_file(tmp_path / "evals" / name).cases]
    assert len(cases) == 8 and {case.category for case in cases} == {"common", "edge", "adversarial"}
    workflow = yaml.safe_load((tmp_path / "evals" / ".github/workflows/llmgate.yml").read_text())
    assert workflow["env"]["SUITE"] == "." and "gate" in workflow["jobs"]


def test_the_workflow_goes_to_the_repository_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".git").mkdir()
    assert main(["init", str(tmp_path / "tests" / "evals")]) == 0
    workflow = yaml.safe_load((tmp_path / ".github/workflows/llmgate.yml").read_text())
    assert workflow["env"]["SUITE"] == "tests/evals"
    assert workflow[True]["pull_request"]["paths"][0] == "tests/evals/**"  # YAML 1.1 reads the key 'on' as true


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "edge.llm.yaml").write_text("mine\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/llmgate.yml").write_text("mine too\n")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: llmgate init writes nothing: {tmp_path / 'edge.llm.yaml'}, {tmp_path / '.github/workflows/llmgate.yml'} "
        "already exist(s); move them or pick another DIR\n"
    )
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["edge.llm.yaml", "llmgate.yml"]
    assert (tmp_path / "edge.llm.yaml").read_text() == "mine\n"


@pytest.mark.slow
def test_init_python_writes_an_app_that_pytest_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--provider", "python", str(tmp_path / "app")]) == 0
    assert f"wrote {tmp_path / 'app' / 'support_app.py'}" in capsys.readouterr().out
    assert load_config(tmp_path / "app" / "llmgate.yaml").backends["app"].function == "support_app:reply"
    result = run_pytest(tmp_path / "app", clean_env(), "--llm-cache=off")
    # The small model misses the adversarial cases: the gate doing its job, after every case was answered.
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-2000:] + result.stderr[-2000:]
    assert "8 answered" in result.stdout or "GATE FAILED: app:" in result.stdout
    assert "error" not in result.stdout.splitlines()[-3]


def test_openai_suite_without_a_key_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["init", "--provider", "openai", str(tmp_path / "evals")]) == 0
    result = run_pytest(tmp_path / "evals", clean_env())
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "backend 'api' reads its API key from $OPENAI_API_KEY, which is not set" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def route(text: str) -> str:
    """A stand-in application that routes by keyword (and is fooled by nothing)."""
    lowered = text.lower()
    for label, words in (("billing", ("charg", "refund", "invoice")), ("technical", ("crash", "error"))):
        if any(word in lowered for word in words):
            return label
    return "general"


@pytest.mark.slow
def test_openai_suite_runs_against_an_endpoint_from_the_environment(tmp_path: Path) -> None:
    assert main(["init", "--provider", "openai", str(tmp_path / "evals")]) == 0
    with FaultServer(reply=route) as server:
        env = clean_env(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test", LLMGATE_MODEL="router")
        result = run_pytest(tmp_path / "evals", env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout
    assert server.requests == 8


@pytest.mark.slow
def test_llama_cpp_suite_runs_on_the_embedded_model(tmp_path: Path) -> None:
    assert main(["init", "--provider", "llama_cpp", str(tmp_path / "evals")]) == 0
    result = run_pytest(tmp_path / "evals", clean_env())
    # The 135M model misses some cases; what matters is that the suite ran and gave a verdict.
    assert result.returncode in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout + result.stderr
    assert "llmgate summary" in result.stdout and "Traceback" not in result.stdout
    assert "8 passed" in result.stdout or " failed" in result.stdout
