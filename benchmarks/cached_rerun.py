"""A fully cached rerun: N cases against the local OpenAI-compatible server; the first run fills the
response cache (.pytest_cache/d/llmgate/), the second answers every case from it.

Usage: python benchmarks/cached_rerun.py [N]    (default 1000)
Prints both walls (pytest start-up included; the cached one the median of 3 runs) against the 1.5 s target,
and the ratio cached / first.
"""

from __future__ import annotations

import sys

from harness import (
    API_CONFIG,
    ROOT,
    bench_env,
    median_run,
    pytest_command,
    require,
    scratch_folder,
    timed,
    write_suite,
)

sys.path.insert(0, str(ROOT / "tests"))
from faultserver import FaultServer

TARGET_S = 1.5
RUNS = 3  # cached runs timed, their median reported


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with scratch_folder() as folder, FaultServer() as server:
        write_suite(folder, API_CONFIG.format(url=server.url, stream="true"), files=1, cases_per_file=count)
        command = pytest_command("--llm-concurrency=16")
        first = timed(command, folder, bench_env())
        require(first, "the first run")
        called = server.requests
        cached_runs = [timed(command, folder, bench_env()) for _ in range(RUNS)]
        for run in cached_runs:
            require(run, "a cached run")
            if f"{count} of {count} answers came from the response cache" not in run.output:
                sys.exit(f"a cached run was not answered from the cache:\n{run.tail(8)}")
        second = median_run(cached_runs)
        if called != count or server.requests != called:
            sys.exit(
                f"{called} requests in the first run and {server.requests - called} in the cached ones, for {count} cases"
            )
    print(f"{count} cases, local server, response cache on (readwrite)")
    print(f"  first run (fills the cache)       : {first.wall_s:6.2f} s")
    print(
        f"  a cached run, start-up included   : {second.wall_s:6.2f} s  (median of {RUNS}; peak RSS {second.peak_rss_mb:.0f} MB)"
    )
    print(f"  ratio cached / target {TARGET_S:g} s       : {second.wall_s / TARGET_S:6.2f}  (target <= 1.00)")
    print(f"  ratio cached / first              : {second.wall_s / first.wall_s:6.2f}")


if __name__ == "__main__":
    main()
