"""Collection at scale: `pytest --collect-only -q` of N cases spread over F files, and the plugin's
import time in a fresh interpreter.

Usage: python benchmarks/collection.py [N] [F]    (default 10000 cases in 100 files)
Prints the wall time and peak RSS of the collection against the targets (2 s, 300 MB), and the
median import time of pytest, and of pytest_llmgate.plugin in an interpreter that has pytest loaded.
"""

from __future__ import annotations

import statistics
import sys

from harness import API_CONFIG, ROOT, bench_env, collect_only, scratch_folder, timed, write_suite

TARGET_S = 2.0
TARGET_MB = 300.0
IMPORTS = 7
# Collection makes no call: the URL only has to parse.
NO_SERVER = "http://127.0.0.1:9/v1"


def import_ms(module: str, after: str = "") -> float:
    """The median, over fresh interpreters, of the milliseconds ``import module`` takes once ``after`` is imported."""
    code = f"import time{', ' + after if after else ''}; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(IMPORTS):
        run = timed([sys.executable, "-c", code], ROOT, bench_env())
        if run.returncode != 0:
            sys.exit(f"import {module} failed:\n{run.tail(10)}")
        times.append(float(run.output.split()[-1]) * 1000)
    return statistics.median(times)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with scratch_folder() as folder:
        write_suite(folder, API_CONFIG.format(url=NO_SERVER, stream="true"), files=files, cases_per_file=count // files)
        run = collect_only(folder, count // files * files)
    pytest_ms, plugin_ms = import_ms("pytest"), import_ms("pytest_llmgate.plugin", after="pytest")
    print(f"pytest --collect-only -q of {count:,} cases in {files} files")
    print(f"  wall    : {run.wall_s:6.2f} s   ratio to the {TARGET_S:.0f} s target   : {run.wall_s / TARGET_S:5.2f}")
    print(
        f"  peak RSS: {run.peak_rss_mb:6.0f} MB  ratio to the {TARGET_MB:.0f} MB target: {run.peak_rss_mb / TARGET_MB:5.2f}"
    )
    print(f"import time (median of {IMPORTS} fresh interpreters)")
    print(f"  pytest                              : {pytest_ms:5.0f} ms")
    print(
        f"  pytest_llmgate.plugin, pytest loaded: {plugin_ms:5.0f} ms  (ratio to pytest's own: {plugin_ms / pytest_ms:.2f})"
    )


if __name__ == "__main__":
    main()
