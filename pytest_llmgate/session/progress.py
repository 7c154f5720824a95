"""Progress per backend on long runs: answered of total and an estimate of the time left, printed on a
line of its own at most every few seconds, on a terminal only (quiet in CI, under -q and when piped).

A line is written only where pytest's own output has just ended one (after it wraps a file's results with
its ``[ 45%]``, or after a result under -v), so the file's results go on below it as pytest would continue
them: pytest's ``write_line`` would end the line early and make it name the file again.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from fnmatch import fnmatch
from typing import Any

import pytest

from .items import STATE_KEY, CaseItem

INTERVAL_S = 5.0  # the shortest time between two progress lines


def eta_s(answered: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the rate so far; None before the first answer."""
    if answered <= 0 or elapsed_s <= 0:
        return None
    return max(total - answered, 0) * elapsed_s / answered


def duration(seconds: float) -> str:
    """'45s', '3m05s' or '1h02m'."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Progress:
    """Cases answered of those expected, per backend, since a start time. Backends run side by side,
    so the time left is the slowest backend's."""

    def __init__(self, totals: Iterable[str], start_s: float):
        self.totals = Counter(totals)  # one backend name per expected case
        self.done: Counter[str] = Counter()
        self.start_s = start_s

    def answered(self, backend: str) -> None:
        """Count one finished case of ``backend``."""
        self.done[backend] += 1

    def time_left_s(self, now_s: float) -> float | None:
        """The longest time left of any unfinished backend; None while one of them has no answer yet."""
        left = [
            eta_s(self.done[backend], total, now_s - self.start_s)
            for backend, total in self.totals.items()
            if self.done[backend] < total
        ]
        if None in left:
            return None
        return max((t for t in left if t is not None), default=0.0)

    def line(self, now_s: float) -> str:
        """'llmgate progress: prompt 120/400, tuned 80/400; about 2m10s left'."""
        counts = ", ".join(f"{b} {self.done[b]}/{total}" for b, total in sorted(self.totals.items()))
        left = self.time_left_s(now_s)
        return f"llmgate progress: {counts}; " + (
            "estimating time left" if left is None else f"about {duration(left)} left"
        )


def wanted(config: pytest.Config, isatty: bool) -> bool:
    """Progress lines only on a terminal, outside CI, without -q, on the process that gathers results."""
    return isatty and not os.environ.get("CI") and config.get_verbosity() >= 0 and not hasattr(config, "workerinput")


class ProgressReporter:
    """The pytest side: totals from the collected cases (here, or from the first xdist worker's node ids),
    one count per finished case, a line every INTERVAL_S. Registered only when ``wanted``."""

    def __init__(self, config: pytest.Config, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self.progress: Progress | None = None
        self.last_s = 0.0

    def start(self, backends: Iterable[str]) -> None:
        """Expect one case per name in ``backends`` (a backend once per case of it)."""
        self.progress = Progress(backends, self.clock())
        self.last_s = self.progress.start_s

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.start(item.backend_name for item in session.items if isinstance(item, CaseItem))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Every worker collects the same items: the first one's case ids ('file::case[backend]') are the totals."""
        if self.progress is None:
            patterns = self.config.stash[STATE_KEY].settings.case_patterns
            cases = [
                n
                for n in ids
                if "::" in n and any(fnmatch(n.partition("::")[0].rsplit("/", 1)[-1], p) for p in patterns)
            ]
            self.start(n.rstrip("]").rpartition("[")[2] for n in cases)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, "llm_row", None)
        finished = report.when == "call" or (report.when == "setup" and not report.passed)
        if self.progress is not None and row is not None and finished:
            self.progress.answered(row["backend"])

    @pytest.hookimpl(trylast=True)  # after the terminal reporter has written this test's result
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        now = self.clock()
        if self.progress is None or now - self.last_s < INTERVAL_S:
            return
        if sum(self.progress.done.values()) >= sum(self.progress.totals.values()):
            return
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        # Only at the start of an empty line: the writer's column is not in pytest's public API.
        if terminal is not None and terminal._tw.width_of_current_line == 0:
            self.last_s = now
            terminal.write(self.progress.line(now) + "\n", flush=True)  # write_line would reset the file's line
