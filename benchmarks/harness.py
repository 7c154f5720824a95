"""What the benchmarks share: suites written to a scratch folder, and timed pytest runs in a fresh
process (wall time and that process's own peak RSS)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYCACHE = Path(tempfile.gettempdir()) / "llmgate-bench-pycache"
# Quiet, and deterministic in order whatever plugins the environment has.
PYTEST_FLAGS = ("-q", "-p", "no:randomly")

API_CONFIG = """\
default_backend: api
thresholds:
  common: {{accuracy: 0.0}}
backends:
  api:
    provider: openai
    model: any
    base_url: {url}
    api_key_env: LLMGATE_BENCH_KEY
    max_retries: 0
    stream: {stream}
    params: {{temperature: 0, max_tokens: 8}}
"""


@dataclass(frozen=True)
class Run:
    """One finished command: wall seconds, its peak resident memory, exit status and output."""

    wall_s: float
    peak_rss_mb: float
    returncode: int
    output: str

    def tail(self, lines: int = 3) -> str:
        """The last ``lines`` lines of the output, to show what a run said."""
        return "\n".join(self.output.strip().splitlines()[-lines:])


def ticket(index: int) -> str:
    """The input of case ``index``."""
    return f"ticket {index}: please route me"


def derived_answer(text: str) -> str:
    """The answer the local server gives to ``text`` (faultserver's label_reply): wrong answers show."""
    return f"label-{zlib.crc32(text.encode()):08x}"


def case_file(indices: range) -> str:
    """A case file, category common, whose case ``i`` expects exactly the answer derived from its input."""
    lines = [
        f"  - {{id: c{i:05d}, input: '{ticket(i)}', expect: {{equals: {derived_answer(ticket(i))}}}}}\n"
        for i in indices
    ]
    return "defaults: {category: common}\ncases:\n" + "".join(lines)


def write_suite(folder: Path, config: str, files: int, cases_per_file: int) -> None:
    """``llmgate.yaml`` and ``files`` case files of ``cases_per_file`` cases each, all in category common."""
    (folder / "llmgate.yaml").write_text(config)
    for number in range(files):
        start = number * cases_per_file
        name = "cases.llm.yaml" if files == 1 else f"cases_{number:03d}.llm.yaml"
        (folder / name).write_text(case_file(range(start, start + cases_per_file)))


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="llmgate-bench-") as folder:
        yield Path(folder)


def timed(command: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to the end: wall time and the peak RSS of that process alone (wait4, not RUSAGE_CHILDREN,
    which keeps the largest of every child so far)."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        output.seek(0)
        text = output.read().decode(errors="replace")
    # ru_maxrss is in kilobytes on Linux.
    return Run(wall, usage.ru_maxrss / 1024, process.returncode, text)


def collect_only(folder: Path, expected: int, runs: int = 3) -> Run:
    """Time ``pytest --collect-only`` of the suite in ``folder`` (pytest and plugin start-up plus collection);
    exit 1 is accepted: llmgate's gate calls a run that answered nothing incomplete. A first run warms the
    bytecode cache; of the ``runs`` timed after it, the median is returned."""
    timed_runs = []
    for number in range(runs + 1):
        run = timed(pytest_command("--collect-only"), folder, bench_env())
        require(run, "pytest --collect-only", allowed=(0, 1))
        if f"{expected} tests collected" not in run.output:
            sys.exit(f"pytest --collect-only did not collect {expected} tests:\n{run.tail(15)}")
        if number:
            timed_runs.append(run)
    return median_run(timed_runs)


def median_run(runs: Sequence[Run]) -> Run:
    """The run of median wall time (the lower middle one of an even number)."""
    return sorted(runs, key=lambda run: run.wall_s)[(len(runs) - 1) // 2]


def pytest_command(*args: str) -> list[str]:
    """``python -m pytest`` with the benchmark flags and ``args``."""
    return [sys.executable, "-m", "pytest", *PYTEST_FLAGS, *args]


def bench_env(**extra: str) -> dict[str, str]:
    """This environment with the dummy API key the API config names, and ``extra``. Bytecode is cached
    (in a folder of its own, not beside the sources) even where PYTHONDONTWRITEBYTECODE is set: without it
    pytest compiles every plugin module again on every run, which no user's machine does."""
    env = {**os.environ, "LLMGATE_BENCH_KEY": "sk-bench-dummy", "PYTHONPYCACHEPREFIX": str(PYCACHE), **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def require(run: Run, what: str, allowed: tuple[int, ...] = (0,)) -> None:
    """Stop the benchmark when a timed run failed: a failing run's time means nothing."""
    if run.returncode not in allowed:
        sys.exit(f"{what} exited with {run.returncode}:\n{run.tail(15)}")
