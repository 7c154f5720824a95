"""Check the fine-tuning data before training: ``llmgate check-data`` with this folder's defaults.

The checks live in the product (``pytest_llmgate.trainingdata``, see docs/workflow.md):
duplicate and near-duplicate rate inside the training file, leakage of eval inputs (every case
under the suite folder, plus each ``--extra`` file such as the held-out tickets) into it, label
balance, the share of edge-like tickets and the answers' format. Texts are compared after
normalisation (lower case, punctuation removed, whitespace collapsed); near means a character
5-gram Jaccard similarity of at least ``--near`` (default 0.8). Exits 1 on leakage, 0 otherwise.

    python example_suite/finetune/check_overlap.py --extra example_suite/finetune/heldout.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_llmgate.cli import main as llmgate

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    """Run ``llmgate check-data`` on train.jsonl against the example suite."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=HERE / "train.jsonl")
    parser.add_argument("--suite", type=Path, default=HERE.parent, help="folder holding the *.llm.yaml eval files")
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="another jsonl (e.g. a held-out set) to keep out of training",
    )
    parser.add_argument("--near", type=float, default=None, help="near-duplicate threshold (default 0.8)")
    args = parser.parse_args(argv)
    command = ["check-data", str(args.train), "--suite", str(args.suite)]
    command += [f"--extra={extra}" for extra in args.extra]
    command += [] if args.near is None else [f"--near={args.near}"]
    return llmgate(command)


if __name__ == "__main__":
    sys.exit(main())
