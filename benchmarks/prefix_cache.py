"""What prefix caching hides: mean latency of the example suite's first N routing cases on the
prompted backend with and without llama.cpp's prompt-prefix reuse, and on the fine-tuned one.

Usage: python benchmarks/prefix_cache.py [N]    (default 20)
Prints each mean and the ratios cold / cached and prompted / fine-tuned (both cold).
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_llmgate.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from pytest_llmgate.backends.spec import BackendSpec  # noqa: E402
from pytest_llmgate.suite.cases import load_case_file  # noqa: E402
from pytest_llmgate.suite.config import load_config  # noqa: E402

SUITE = ROOT / "example_suite"


def mean_latency_ms(spec: BackendSpec, cases) -> tuple[float, float]:
    """Mean latency and mean prompt tokens of ``spec`` over ``cases`` (model load excluded)."""
    backend = LlamaCppBackend(spec)
    try:
        backend.complete(spec.prompt.messages(cases[0].messages))  # warm up
        completions = [backend.complete(spec.prompt.messages(case.messages)) for case in cases]
    finally:
        backend.close()
    return (
        statistics.mean(c.latency_s for c in completions) * 1000,
        statistics.mean(c.prompt_tokens for c in completions),
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    suite = load_config(SUITE / "llmgate.yaml")
    cases = load_case_file(SUITE / "common.llm.yaml").cases[:count]
    prompted = suite.backend("smollm2-prompted")
    finetuned = suite.backend("smollm2-finetuned")
    cached, prompt_tokens = mean_latency_ms(prompted, cases)
    cold, _ = mean_latency_ms(dataclasses.replace(prompted, prefix_cache=False), cases)
    tuned, tuned_tokens = mean_latency_ms(dataclasses.replace(finetuned, prefix_cache=False), cases)
    print(f"{count} common cases, mean latency per request")
    print(f"  smollm2-prompted,  prefix cache on  : {cached:8.1f} ms  ({prompt_tokens:.0f} prompt tokens)")
    print(f"  smollm2-prompted,  prefix cache off : {cold:8.1f} ms")
    print(f"  smollm2-finetuned, prefix cache off : {tuned:8.1f} ms  ({tuned_tokens:.0f} prompt tokens)")
    print(f"  ratio prompted cold / cached        : {cold / cached:8.2f}")
    print(f"  ratio prompted / fine-tuned (cold)  : {cold / tuned:8.2f}")


if __name__ == "__main__":
    main()
