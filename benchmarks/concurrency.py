"""Concurrent backend calls: N cases against a local OpenAI-compatible server that answers each request
after L ms, run by pytest at concurrency C with the response cache off, against the ideal N*L/C,
and the same cases run by promptfoo at the same concurrency.

Usage: python benchmarks/concurrency.py [N] [--no-promptfoo]    (N = 500, L = 100 ms, C = 16)
Prints the wall time, wall / ideal, wall minus pytest start-up (a --collect-only of the same suite),
and llmgate's wall / promptfoo's (promptfoo 0.121.20 installed under benchmarks/.promptfoo; see README.md).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

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
CONCURRENCY = 16
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


def run_promptfoo(folder: Path, url: str, count: int) -> Run:
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
        str(CONCURRENCY),
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


def run_llmgate(folder: Path, server: FaultServer, count: int, stream: bool) -> Run:
    """pytest of the suite at concurrency C, cache off, the answers streamed or whole; checked to have called every case."""
    write_suite(folder, API_CONFIG.format(url=server.url, stream=str(stream).lower()), files=1, cases_per_file=count)
    before = server.requests
    run = timed(pytest_command("--llm-cache=off", f"--llm-concurrency={CONCURRENCY}"), folder, bench_env())
    require(run, "pytest")
    if server.requests - before != count:
        sys.exit(f"the server got {server.requests - before} requests for {count} cases")
    return run


def main() -> None:
    count = int(next((arg for arg in sys.argv[1:] if arg.isdigit()), 500))
    with_promptfoo = "--no-promptfoo" not in sys.argv
    ideal = count * LATENCY_MS / 1000 / CONCURRENCY
    with scratch_folder() as folder, FaultServer(latency_ms=LATENCY_MS) as server:
        write_suite(folder, API_CONFIG.format(url=server.url, stream="true"), files=1, cases_per_file=count)
        startup = collect_only(folder, count).wall_s
        streamed = run_llmgate(folder, server, count, stream=True).wall_s
        whole = run_llmgate(folder, server, count, stream=False).wall_s
        print(
            f"{count} cases, server latency {LATENCY_MS} ms, concurrency {CONCURRENCY}, cache off "
            f"(most requests at once: {server.max_in_flight})"
        )
        print(f"  ideal N*L/C                          : {ideal:6.2f} s")
        print(f"  pytest start-up (--collect-only)     : {startup:6.2f} s")
        for label, wall in (("streamed (default)", streamed), ("stream: false     ", whole)):
            print(
                f"  llmgate {label}: wall {wall:6.2f} s, wall / ideal {wall / ideal:5.2f}, "
                f"wall - start-up {wall - startup:5.2f} s = {(wall - startup) / ideal:4.2f} x ideal  (target <= 1.25)"
            )
        if not with_promptfoo:
            return
        if not PROMPTFOO.exists() or shutil.which("node") is None:
            print("  promptfoo: not installed (see benchmarks/README.md); no comparison")
            return
        before = server.requests
        other = run_promptfoo(folder, server.url, count).wall_s
        if server.requests - before != count:
            sys.exit(f"promptfoo made {server.requests - before} requests for {count} cases (a cache?)")
        print(
            f"  promptfoo eval -j {CONCURRENCY} (whole answers): wall {other:6.2f} s, wall / ideal {other / ideal:5.2f}"
        )
        print(
            f"  ratio llmgate / promptfoo            : {streamed / other:5.2f} streamed, {whole / other:5.2f} stream: false"
            "  (target <= 0.5)"
        )


if __name__ == "__main__":
    main()
