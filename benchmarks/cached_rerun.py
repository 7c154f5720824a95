"""A fully cached rerun: N cases against the local OpenAI-compatible server; the first run fills the
response cache (.pytest_cache/d/llmgate/), the second answers every case from it.

Usage: python benchmarks/cached_rerun.py [N]    (default 1000)
Prints both walls (pytest start-up included), the second against the 1.5 s target, and the ratio second / first.
"""

from __future__ import annotations

import sys

from harness import API_CONFIG, ROOT, bench_env, pytest_command, require, scratch_folder, timed, write_suite

sys.path.insert(0, str(ROOT / "tests"))
from faultserver import FaultServer

TARGET_S = 1.5


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with scratch_folder() as folder, FaultServer() as server:
        write_suite(folder, API_CONFIG.format(url=server.url, stream="true"), files=1, cases_per_file=count)
        command = pytest_command("--llm-concurrency=16")
        first = timed(command, folder, bench_env())
        require(first, "the first run")
        called = server.requests
        second = timed(command, folder, bench_env())
        require(second, "the cached run")
        if called != count or server.requests != called:
            sys.exit(
                f"{called} requests in the first run and {server.requests - called} in the second, for {count} cases"
            )
        if f"{count} of {count} answers came from the response cache" not in second.output:
            sys.exit(f"the second run was not answered from the cache:\n{second.tail(8)}")
    print(f"{count} cases, local server, response cache on (readwrite)")
    print(f"  first run (fills the cache)       : {first.wall_s:6.2f} s")
    print(f"  second run (all cached), start-up : {second.wall_s:6.2f} s  (peak RSS {second.peak_rss_mb:.0f} MB)")
    print(f"  ratio second / target {TARGET_S:g} s       : {second.wall_s / TARGET_S:6.2f}  (target <= 1.00)")
    print(f"  ratio second / first              : {second.wall_s / first.wall_s:6.2f}")


if __name__ == "__main__":
    main()
