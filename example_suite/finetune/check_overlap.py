"""Check the fine-tuning data against itself and against the evaluation cases.

Reports
  * exact duplicates inside the training file,
  * exact overlap between training tickets and eval ``input`` values,
  * near-duplicates between training and eval: difflib ratio >= --ratio
    (default 0.9) or token Jaccard >= --jaccard (default 0.8),

all after normalisation (lower case, punctuation removed, whitespace
collapsed).  Exits 1 if anything is found, 0 otherwise.

    python example_suite/finetune/check_overlap.py
    python example_suite/finetune/check_overlap.py --train other.jsonl --extra heldout.jsonl
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SUITE = HERE.parent


def normalise(text: str) -> str:
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(text.split())


def load_jsonl(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def _input_texts(value) -> list[str]:
    """An ``input`` may be a string or a list of chat messages; keep the user text."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            if isinstance(item, dict) and item.get("role", "user") == "user" and isinstance(item.get("content"), str):
                out.append(item["content"])
            elif isinstance(item, str):
                out.append(item)
        return out
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return [value["content"]]
    return []


def eval_inputs(suite: Path) -> list[tuple[str, str]]:
    """(where, text) for every ``input`` found anywhere in suite/*.llm.yaml."""
    found: list[tuple[str, str]] = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            for key, val in node.items():
                if key == "input":
                    cid = node.get("id", "?")
                    found.extend((f"{where}:{cid}", t) for t in _input_texts(val))
                else:
                    walk(val, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for path in sorted(suite.glob("*.llm.yaml")):
        with path.open(encoding="utf-8") as fh:
            walk(yaml.safe_load(fh), path.name)
    return found


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def check(train: list[str], evals: list[tuple[str, str]], ratio_min: float, jaccard_min: float) -> list[str]:
    problems: list[str] = []

    by_norm: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(train):
        by_norm[normalise(text)].append(i)
    for norm, idx in by_norm.items():
        if len(idx) > 1:
            problems.append(f"duplicate in training (lines {', '.join(str(i + 1) for i in idx)}): {norm!r}")

    train_norm = list(by_norm)
    train_tokens = [set(n.split()) for n in train_norm]
    for where, text in evals:
        en = normalise(text)
        if en in by_norm:
            problems.append(f"exact overlap with eval {where}: {en!r}")
            continue
        etok = set(en.split())
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(en)
        for tn, ttok in zip(train_norm, train_tokens):
            jac = jaccard(etok, ttok)
            matcher.set_seq1(tn)
            # quick_ratio is an upper bound of ratio, so skip the slow path when it cannot reach the bar
            if jac < jaccard_min and matcher.real_quick_ratio() < ratio_min:
                continue
            if jac < jaccard_min and matcher.quick_ratio() < ratio_min:
                continue
            ratio = matcher.ratio()
            if ratio >= ratio_min or jac >= jaccard_min:
                problems.append(f"near-duplicate of eval {where} (ratio {ratio:.2f}, jaccard {jac:.2f}):\n"
                                f"    eval : {en!r}\n    train: {tn!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=HERE / "train.jsonl")
    ap.add_argument("--suite", type=Path, default=SUITE, help="folder holding the *.llm.yaml eval files")
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="another jsonl (e.g. a held-out set) to treat like eval inputs")
    ap.add_argument("--ratio", type=float, default=0.9)
    ap.add_argument("--jaccard", type=float, default=0.8)
    args = ap.parse_args(argv)

    train = load_jsonl(args.train)
    evals = eval_inputs(args.suite)
    for extra in args.extra:
        evals += [(f"{extra.name}:{i + 1}", t) for i, t in enumerate(load_jsonl(extra))]
    files = sorted(p.name for p in args.suite.glob("*.llm.yaml"))
    print(f"training tickets: {len(train)}; eval inputs: {len(evals)} from {', '.join(files) or 'no files'}"
          + "".join(f", {e.name}" for e in args.extra))
    problems = check(train, evals, args.ratio, args.jaccard)
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s) (difflib ratio >= {args.ratio}, token Jaccard >= {args.jaccard})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
