"""Progress per backend: the counts and time left (pure), and the lines a terminal gets and CI does not."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import COMPARE_CONFIG, FAKE_CASES

from pytest_llmgate.session.progress import Progress, duration, eta_s


def test_eta_is_the_rate_so_far_applied_to_what_is_left() -> None:
    assert eta_s(answered=0, total=10, elapsed_s=5) is None
    assert eta_s(answered=5, total=10, elapsed_s=10) == 10
    assert eta_s(answered=10, total=10, elapsed_s=10) == 0


def test_durations_read_as_seconds_minutes_or_hours() -> None:
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_progress_counts_per_backend_and_waits_for_the_slowest() -> None:
    progress = Progress(["fast"] * 4 + ["slow"] * 4, start_s=100.0)
    assert progress.line(101.0) == "llmgate progress: fast 0/4, slow 0/4; estimating time left"
    for _ in range(2):
        progress.answered("fast")
    assert progress.time_left_s(110.0) is None  # 'slow' has no answer yet: no honest estimate
    progress.answered("slow")
    # fast: 2 of 4 in 10 s -> 10 s left; slow: 1 of 4 in 10 s -> 30 s left; they run side by side
    assert progress.time_left_s(110.0) == 30
    assert progress.line(110.0) == "llmgate progress: fast 2/4, slow 1/4; about 30s left"
    for _ in range(3):
        progress.answered("slow")
    assert progress.time_left_s(120.0) == 20  # slow is done; fast: 2 of 4 in 20 s, so 2 more take 20 s
    progress.answered("fast")
    progress.answered("fast")
    assert progress.time_left_s(130.0) == 0.0


MANY_CASES = "cases:\n" + "".join(
    f"  - {{id: c{i}, input: charged {i}, expect: {{label: billing}}}}\n" for i in range(30)
)


def _suite(folder: Path) -> None:
    (folder / "llmgate.yaml").write_text(COMPARE_CONFIG)
    (folder / "common.llm.yaml").write_text(FAKE_CASES)
    (folder / "edge.llm.yaml").write_text(MANY_CASES)  # 60 results: pytest wraps them over several lines
    # every finished case may print a line: the test needs no long run to see one
    (folder / "conftest.py").write_text("import pytest_llmgate.session.progress as p\np.INTERVAL_S = 0.0\n")


def _run(folder: Path, *args: str, tty: bool, ci: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env["COLUMNS"] = "60"
    if ci:
        env["CI"] = "true"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--llm-backend=prompt",
        "--llm-backend=tuned",
        *args,
    ]
    if not tty:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
        return done.stdout
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pseudo-terminal closes with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_progress_shows_on_a_terminal_and_never_in_ci(tmp_path: Path) -> None:
    _suite(tmp_path)
    terminal = re.sub(r"\x1b\[[0-9;]*m", "", _run(tmp_path, tty=True))  # without the colours' escapes
    after = terminal.splitlines()[1 + next(i for i, line in enumerate(terminal.splitlines()) if "collected" in line) :]
    results = after[: next(i for i, line in enumerate(after) if line.startswith("="))]  # up to the failures
    lines = [line.strip() for line in results if "llmgate progress:" in line]
    assert lines, terminal
    assert all(line.startswith("llmgate progress: prompt ") and line.endswith(" left") for line in lines)
    assert all(line.endswith("/33") for line in lines[0].split(";")[0].split(", ")), lines[0]
    # pytest's own lines are untouched: each file named once, its results going on below a progress line
    assert sum("common.llm.yaml" in line for line in results) == 1, terminal
    assert sum("edge.llm.yaml" in line for line in results) == 1, terminal
    assert "llmgate verdict" in terminal
    piped = _run(tmp_path, tty=False)
    assert "llmgate progress" not in piped and "llmgate verdict" in piped
    assert "llmgate progress" not in _run(tmp_path, tty=True, ci=True)
    assert "llmgate progress" not in _run(tmp_path, "-q", tty=True)
