"""Concurrent backend calls: N cases against a local OpenAI-compatible server that answers each request
after L ms, run by pytest at concurrency C with the response cache off, against the ideal N*L/C,
and the same cases run by promptfoo at the same concurrency.

Usage: python benchmarks/concurrency.py [N C] [--no-promptfoo] [--repeat=R]
    (default: 500 at 16, then 2,000 at 64; L = 100 ms; each figure the median of R = 3 runs)
Prints, for each, the wall time, wall / ideal (target <= 1.25), wall minus pytest start-up (a --collect-only
of the same suite), and llmgate's wall / promptfoo's (target <= 0.4; promptfoo 0.121.20 installed under
benchmarks/.promptfoo, see README.md, else a line saying there is no comparison).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from harness import (
    API_CONFIG,
    ROOT,
    Run,
    bench_env,
    collect_only,
    derived_answer,
    pytest_command,
    require,
    scratch_folder,
    ticket,
    timed,
    write_suite,
)

sys.path.insert(0, str(ROOT / "tests"))
from faultserver import FaultServer

LATENCY_MS = 100
RUNS = ((500, 16), (2000, 64))  # (cases, calls at once), the two targets
REPEAT = 3  # runs of each, their median reported
TARGET_IDEAL = 1.25
TARGET_PROMPTFOO = 0.4
PROMPTFOO_HOME = Path(__file__).resolve().parent / ".promptfoo"
PROMPTFOO = PROMPTFOO_HOME / "node_modules" / ".bin" / "promptfoo"


def closed_port() -> int:
    """A local port nobody listens on: a proxy there makes any attempt to leave the machine fail at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def promptfoo_env(state: Path) -> dict[str, str]:
    """promptfoo kept local and offline: its state in ``state``, no telemetry, updates, sharing or cache."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    return {
        **os.environ,
        "PROMPTFOO_CONFIG_DIR": str(state),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_DISABLE_DEBUG_LOG": "1",
        "PROMPTFOO_CACHE_ENABLED": "false",
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "OPENAI_API_KEY": "sk-bench-dummy",
    }


def promptfoo_config(url: str, count: int) -> dict:
    """The same cases for promptfoo: the input as the whole prompt, an equals assertion on the derived answer."""
    return {
        "prompts": ["{{input}}"],
        "providers": [
            {
                "id": "openai:chat:any",
                "config": {"apiBaseUrl": url, "apiKey": "sk-bench-dummy", "temperature": 0, "max_tokens": 8},
            }
        ],
        "tests": [
            {"vars": {"input": ticket(i)}, "assert": [{"type": "equals", "value": derived_answer(ticket(i))}]}
            for i in range(count)
        ],
    }


def run_promptfoo(folder: Path, url: str, count: int, slots: int) -> Run:
    """promptfoo eval of the same cases at the same concurrency, its cache off and nothing written to its database."""
    config = folder / "promptfooconfig.yaml"
    config.write_text(json.dumps(promptfoo_config(url, count)))  # JSON is YAML
    results = folder / "promptfoo.json"
    command = [
        str(PROMPTFOO),
        "eval",
        "-c",
        str(config),
        "-j",
        str(slots),
        "--no-cache",
        "--no-write",
        "--no-table",
        "--no-progress-bar",
        "-o",
        str(results),
    ]
    run = timed(command, folder, promptfoo_env(folder / "promptfoo-state"))
    if not results.exists():
        sys.exit(f"promptfoo wrote no results (exit {run.returncode}):\n{run.tail(15)}")
    stats = json.loads(results.read_text())["results"]["stats"]
    if stats["successes"] != count:
        sys.exit(f"promptfoo passed {stats['successes']} of {count} cases:\n{run.tail(15)}")
    return run


@dataclass(frozen=True)
class Ends:
    """A run's wall time and its two fixed costs: from its start to the first request, from the last
    request's arrival (plus the server's latency: its answer) to the process's exit."""

    wall_s: float
    first_request_s: float
    after_last_answer_s: float


def run_llmgate(folder: Path, server: FaultServer, count: int, slots: int, stream: bool) -> Ends:
    """pytest of the suite at concurrency C, cache off, the answers streamed or whole; checked to have called every case."""
    write_suite(folder, API_CONFIG.format(url=server.url, stream=str(stream).lower()), files=1, cases_per_file=count)
    before = server.requests
    arrived = len(server.arrivals)
    start = time.monotonic()
    run = timed(pytest_command("--llm-cache=off", f"--llm-concurrency={slots}"), folder, bench_env())
    require(run, "pytest")
    if server.requests - before != count:
        sys.exit(f"the server got {server.requests - before} requests for {count} cases")
    arrivals = server.arrivals[arrived:]
    last_answer = arrivals[-1] + LATENCY_MS / 1000
    return Ends(run.wall_s, arrivals[0] - start, start + run.wall_s - last_answer)


def measure(count: int, slots: int, with_promptfoo: bool, repeat: int) -> None:
    """One configuration, ``repeat`` times in turn (llmgate streamed, whole, promptfoo on the same cases and
    server), each figure the median of its runs: runs minutes apart on a shared machine differ by 20 %."""
    ideal = count * LATENCY_MS / 1000 / slots
    promptfoo = with_promptfoo and PROMPTFOO.exists() and shutil.which("node") is not None
    streamed_runs: list[Ends] = []
    wholes: list[float] = []
    others: list[float] = []
    with scratch_folder() as folder, FaultServer(latency_ms=LATENCY_MS) as server:
        write_suite(folder, API_CONFIG.format(url=server.url, stream="true"), files=1, cases_per_file=count)
        startup = collect_only(folder, count).wall_s
        for _ in range(repeat):
            streamed_runs.append(run_llmgate(folder, server, count, slots, stream=True))
            wholes.append(run_llmgate(folder, server, count, slots, stream=False).wall_s)
            if promptfoo:
                before = server.requests
                others.append(run_promptfoo(folder, server.url, count, slots).wall_s)
                if server.requests - before != count:
                    sys.exit(f"promptfoo made {server.requests - before} requests for {count} cases (a cache?)")
        streamed, whole = median(r.wall_s for r in streamed_runs), median(wholes)
        print(
            f"{count} cases, server latency {LATENCY_MS} ms, concurrency {slots}, cache off "
            f"(most requests at once: {server.max_in_flight}); medians of {repeat} runs"
        )
        print(f"  ideal N*L/C                          : {ideal:6.2f} s")
        print(f"  pytest start-up (--collect-only)     : {startup:6.2f} s")
        print(
            f"  ends of the streamed run             : first request {median(r.first_request_s for r in streamed_runs):5.2f}"
            f" s after start, exit {median(r.after_last_answer_s for r in streamed_runs):5.2f} s after the last answer"
        )
        for label, wall in (("streamed (default)", streamed), ("stream: false     ", whole)):
            print(
                f"  llmgate {label}: wall {wall:6.2f} s, wall / ideal {wall / ideal:5.2f} (target <= {TARGET_IDEAL}), "
                f"wall - start-up {wall - startup:5.2f} s = {(wall - startup) / ideal:4.2f} x ideal"
            )
        if not with_promptfoo:
            return
        if not promptfoo:
            print("  promptfoo: not installed (see benchmarks/README.md): no llmgate / promptfoo ratio")
            return
        other = median(others)
        print(f"  promptfoo eval -j {slots} (whole answers): wall {other:6.2f} s, wall / ideal {other / ideal:5.2f}")
        print(
            f"  ratio llmgate / promptfoo            : {streamed / other:5.2f} streamed, {whole / other:5.2f} stream: false"
            f"  (target <= {TARGET_PROMPTFOO})"
        )
        if TARGET_PROMPTFOO * other < ideal:
            print(
                f"  ({TARGET_PROMPTFOO} x promptfoo's wall is {TARGET_PROMPTFOO * other:.2f} s, under the ideal N*L/C: "
                "no run can meet that target here)"
            )


def main() -> None:
    numbers = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    runs = [(numbers[0], numbers[1] if len(numbers) > 1 else 16)] if numbers else list(RUNS)
    repeat = next((int(arg.split("=", 1)[1]) for arg in sys.argv[1:] if arg.startswith("--repeat=")), REPEAT)
    for count, slots in runs:
        measure(count, slots, "--no-promptfoo" not in sys.argv, repeat)


if __name__ == "__main__":
    main()
