"""How much time llmgate adds on top of the model: the example suite's first N routing cases run
through `pytest` against the same prompts sent straight to llama-cpp-python (the ideal).

Usage: python benchmarks/plugin_overhead.py [N]    (default 40; prints the ratio plugin / ideal)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_llmgate.backends.llama_cpp import resolve_model_path  # noqa: E402
from pytest_llmgate.suite.cases import load_case_file  # noqa: E402
from pytest_llmgate.suite.config import load_config  # noqa: E402

SUITE = ROOT / "example_suite"


def ideal(cases, spec) -> float:
    """Load the model and answer every case with no plugin around it."""
    from llama_cpp import Llama

    start = time.perf_counter()
    llm = Llama(model_path=str(resolve_model_path(spec)), n_ctx=spec.n_ctx, seed=0, verbose=False)
    for case in cases:
        llm.create_chat_completion(messages=spec.prompt.messages(case.messages), **spec.params)
    llm.close()
    return time.perf_counter() - start


def through_pytest(cases) -> float:
    """The same cases as a pytest run of the plugin, interpreter start-up included."""
    with tempfile.TemporaryDirectory() as folder:
        selection = " or ".join(case.id for case in cases)
        # --llm-cache=off: a second run would otherwise answer from the response cache and time nothing.
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(SUITE / "common.llm.yaml"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--llm-cache=off",
            "-k",
            selection,
            "--junitxml",
            str(Path(folder) / "j.xml"),
        ]
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
        return time.perf_counter() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    spec = load_config(SUITE / "llmgate.yaml").backend("smollm2-prompted")
    cases = load_case_file(SUITE / "common.llm.yaml").cases[:count]
    plugin_s = through_pytest(cases)
    ideal_s = ideal(cases, spec)
    print(f"{count} cases on smollm2-prompted")
    print(f"  llama-cpp-python alone : {ideal_s:7.2f} s")
    print(f"  pytest + llmgate       : {plugin_s:7.2f} s")
    print(f"  ratio plugin / ideal   : {plugin_s / ideal_s:7.2f}  (1.00 = no overhead)")


if __name__ == "__main__":
    main()
