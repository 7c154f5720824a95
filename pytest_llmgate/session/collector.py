"""The controller-side plugin object: one row per collected case, keyed by node id (the last
report of a node wins), one Analysis made at the end of the session, the exit status and the
terminal summary. Registered only where results are gathered (not on xdist workers)."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import PurePosixPath

import pytest

from ..answers.cache import Recording
from ..errors import SpecError
from ..report import write_reports
from ..report.tables import verdict_lines
from ..report.terminal import summary_lines
from ..verdict.analysis import Analysis, BaselineCheck, RunFacts, analyze
from ..verdict.baseline import load_baseline
from ..verdict.gate import PASSED
from ..verdict.rows import ANSWERED, NOT_RUN, SKIPPED, CaseRow, errored
from .state import RunState


def placeholder_row(nodeid: str) -> CaseRow:
    """A row for a case known only by its node id ('path::case-id[backend]'), before it reports."""
    file, _, name = nodeid.partition("::")
    case_id, _, backend = name.rstrip("]").partition("[")
    return CaseRow(id=case_id, file=file, group="", category="", backend=backend, nodeid=nodeid, status=NOT_RUN)


def short_failure(report: pytest.TestReport) -> str:
    """The last line of a failure's text: the exception and its message."""
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    return lines[-1].removeprefix("E").strip() if lines else f"{report.when} failed"


class ResultCollector:
    """Gathers the rows of every collected case, judges them once, sets the exit status, reports."""

    def __init__(self, config: pytest.Config, state: RunState):
        self.config = config
        self.state = state
        self.rows: dict[str, CaseRow] = {}
        self.other_failures: set[str] = set()  # node ids of failed tests that are not llmgate cases
        self.analysis: Analysis | None = None
        self.write_error: str | None = None  # why a report or the recording could not be written
        self.baseline = self._baseline_check()

    def _baseline_check(self) -> BaselineCheck | None:
        """The --llm-baseline to compare with, read now so that a bad file is a usage error before any call."""
        settings = self.state.settings
        if settings.baseline is None:
            return None
        try:
            baseline = load_baseline(settings.baseline)
        except SpecError as exc:
            raise pytest.UsageError(str(exc)) from None
        if settings.baseline_backend is not None and settings.baseline_backend not in baseline.backend_names:
            raise pytest.UsageError(
                f"--llm-baseline-backend: the baseline {settings.baseline} has no backend "
                f"{settings.baseline_backend!r}; it has: {', '.join(baseline.backend_names) or 'none'}"
            )
        return BaselineCheck(baseline, settings.baseline_backend, settings.fail_on_regression)

    def expect(self, rows: Iterable[CaseRow]) -> None:
        """Record collected cases; each stays 'not run' until a report of it arrives."""
        for row in rows:
            self.rows.setdefault(row.nodeid, row)

    def expect_node_ids(self, node_ids: Iterable[str]) -> None:
        """Record the collected cases among ``node_ids`` (an xdist worker's collection)."""
        patterns = self.state.settings.case_patterns
        self.expect(
            placeholder_row(n)
            for n in node_ids
            if "::" in n and any(fnmatch(PurePosixPath(n.partition("::")[0]).name, p) for p in patterns)
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = CaseRow.from_properties(report.user_properties)
        if row is None:
            if report.failed:
                self.other_failures.add(report.nodeid)
            elif report.when == "call" and report.passed:
                self.other_failures.discard(report.nodeid)  # a rerun that passed
            return
        if report.skipped:  # no prompt for the task, or a perturbation search past its budget
            row.status = SKIPPED
        elif report.failed and row.status != ANSWERED:
            row = errored(row, row.error or short_failure(report))
        elif report.when != "call":
            return  # a passed setup says nothing yet; a failed teardown leaves the answer as it was
        full_output = getattr(report, "llm_output", None)
        if full_output is not None:
            row.output = full_output
        self.rows[report.nodeid] = row

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.rows or exitstatus == pytest.ExitCode.USAGE_ERROR or self.config.option.collectonly:
            return  # no case collected or run, or a usage error that pytest reports itself
        stop = session.shouldfail or session.shouldstop
        facts = RunFacts(
            interrupted=exitstatus == pytest.ExitCode.INTERRUPTED, stop_reason=stop if isinstance(stop, str) else None
        )
        rows = list(self.rows.values())
        self.analysis = analyze(rows, facts, self.state.run_terms(rows), self.baseline)
        settings = self.state.settings
        try:
            write_reports(
                self.analysis, settings.report_json, settings.report_md, settings.report_html, settings.save_baseline
            )
            if settings.answers.record is not None:
                self.write_recording(rows)
        except (OSError, ValueError) as exc:  # an unwritable path: said in the summary, never a traceback here
            self.write_error = str(exc)
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            # Misses alone do not fail a run; the verdict, a report not written and any other failing test do.
            clean = self.analysis.verdict.status == PASSED and not self.other_failures and self.write_error is None
            session.exitstatus = pytest.ExitCode.OK if clean else pytest.ExitCode.TESTS_FAILED

    def write_recording(self, rows: Iterable[CaseRow]) -> None:
        """Write every answer of the run, keyed by its request, to the ``--llm-record`` file, API keys scrubbed."""
        assert self.state.settings.answers.record is not None
        writer = Recording.writer(self.state.settings.answers.record, self.state.all_secrets())
        for row in rows:
            if row.answered and row.request_key is not None:
                writer.add(
                    row.request_key,
                    row.completion(),
                    backend=row.backend,
                    case=row.where,
                    prompt=row.input,
                    sample=row.sample,
                )
        writer.save()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.analysis is None:  # no case was collected (sessionfinish, which makes it, runs first)
            return
        terminalreporter.write_sep("=", "llmgate summary")
        settings = self.state.settings
        for line in summary_lines(self.analysis, settings.verbose_report):
            terminalreporter.write_line(line)
        passed = self.analysis.verdict.status == PASSED
        for line in verdict_lines(self.analysis.verdict):
            terminalreporter.write_line(line, red=not passed, green=passed, bold=True)
        if self.write_error is not None:
            terminalreporter.write_line(f"llmgate: a report was not written: {self.write_error}", red=True, bold=True)
        for what, path in (
            ("results", settings.report_json),
            ("Markdown report", settings.report_md),
            ("HTML report", settings.report_html),
            ("recording", settings.answers.record),
            ("baseline", settings.save_baseline),
        ):
            if path is not None:
                terminalreporter.write_line(f"llmgate: {what} written to {path}")
