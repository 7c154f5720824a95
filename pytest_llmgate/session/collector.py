"""The controller-side plugin object: one row per collected case, keyed by node id (the last
report of a node wins), one Analysis made at the end of the session, the exit status, the
terminal summary and the verdict, printed last. Registered only where results are gathered (not on
xdist workers)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import PurePosixPath
from typing import Any

import pytest

from ..answers.cache import completion_from
from ..answers.recording import Recording
from ..errors import SpecError
from ..report import write_reports
from ..report.tables import verdict_lines
from ..report.terminal import summary_lines
from ..verdict.analysis import Analysis, BaselineCheck, RunFacts, analyze
from ..verdict.baseline import load_baseline
from ..verdict.gate import PASSED, SUBSET, GateTerms
from ..verdict.rows import ANSWERED, NOT_RUN, SKIPPED, CaseRow, errored
from .items import CaseFile
from .junit import record_verdict, report_misses_as_skipped
from .state import RunState

WORKER_SUITE = "llmgate_suite_cases"  # an xdist worker's SuiteCount.total(), sent in its workeroutput


@dataclass
class SuiteCount:
    """How many llmgate cases the collected case files hold, selected or not: what a subset run is a part of.

    Counted as each file is collected, inside --lf's collection wrapper, which then drops the file's cases
    that passed last time; a file with no failure --lf skips unseen, and it is collected once more, after
    the run, only to be counted."""

    made: int = 0  # cases the collected files made, before --lf dropped any
    unseen: list[CaseFile] = field(default_factory=list)  # files whose collection made nothing (--lf skipped them)

    def add(self, file: CaseFile, report: pytest.CollectReport) -> None:
        """Count the cases of ``file``, as its collection ``report`` has them before --lf filters it."""
        if report.outcome != "passed":
            return  # a file that does not load fails the run as a collection error of its own
        if report.result:
            self.made += len(report.result)
        else:
            self.unseen.append(file)

    def total(self) -> int:
        """Every case of the collected files (the unseen ones collected now, when the run is over)."""
        for file in self.unseen:
            with suppress(SpecError):  # a broken file that no run collected has no cases to count
                self.made += sum(1 for _ in file.collect())
        self.unseen.clear()
        return self.made


SUITE_KEY = pytest.StashKey[SuiteCount]()


def selection_text(config: pytest.Config, selected: int, suite: int) -> str | None:
    """'subset: 24 of 646 cases (-k)' when the run selected only ``selected`` of the ``suite`` cases that the
    collected files hold (-k, -m, --deselect, --lf with recorded failures, node ids on the command line);
    None for the whole suite."""
    option = config.option
    how = [flag for flag, on in (("-k", option.keyword), ("-m", option.markexpr)) if on]
    how += ["--deselect"] if getattr(option, "deselect", None) else []
    last_failed = config.pluginmanager.get_plugin("lfplugin")
    how += ["--lf"] if getattr(option, "lf", False) and getattr(last_failed, "lastfailed", None) else []
    node_ids = any("::" in str(arg) for arg in config.args)
    how += ["node ids"] if node_ids else []
    suite = max(suite, selected)
    if not (selected < suite or node_ids):
        return None
    return f"subset: {selected} of {suite} {'case' if suite == 1 else 'cases'} ({'/'.join(how) or 'deselected'})"


def suite_cases(config: pytest.Config) -> int:
    """Every case of the case files this process collected, selected or not (0 where it collected none)."""
    count = config.stash.get(SUITE_KEY, None)
    return 0 if count is None else count.total()


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
        self.gate_terms: dict[str, GateTerms] = {}  # by group, from collection or from the reports
        self.other_failures: set[str] = set()  # node ids of failed tests that are not llmgate cases
        self.analysis: Analysis | None = None
        self.write_error: str | None = None  # why a report or the recording could not be written
        self.baseline = self._baseline_check()
        self.worker_suite_cases = 0  # the suite's cases as an xdist worker counted them (the controller collects none)

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

    def expect(self, rows: Iterable[tuple[CaseRow, GateTerms | None]]) -> None:
        """Record collected cases (with their group's terms, when known); each stays 'not run' until a report of it arrives."""
        for row, terms in rows:
            self.rows.setdefault(row.nodeid, row)
            if terms is not None:
                self.gate_terms.setdefault(row.group, terms)

    def expect_node_ids(self, node_ids: Iterable[str]) -> None:
        """Record the collected cases among ``node_ids`` (an xdist worker's collection)."""
        patterns = self.state.settings.case_patterns
        self.expect(
            (placeholder_row(n), None)
            for n in node_ids
            if "::" in n and any(fnmatch(PurePosixPath(n.partition("::")[0]).name, p) for p in patterns)
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "llm_row", None)
        row = None if data is None else CaseRow.from_dict(data)
        if row is not None and row.group not in self.gate_terms:
            self.gate_terms[row.group] = GateTerms.from_dict(report.llm_gate)
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
        self.rows[report.nodeid] = row

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """An xdist worker's count of the suite's cases (every worker collects the same files)."""
        sent = getattr(node, "workeroutput", {}).get(WORKER_SUITE, 0)
        self.worker_suite_cases = max(self.worker_suite_cases, sent)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.state.settings.junit_misses == "skipped":
            report_misses_as_skipped(self.config)

    @pytest.hookimpl(tryfirst=True)  # before the junitxml plugin writes its file: the verdict goes in it
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.rows or exitstatus == pytest.ExitCode.USAGE_ERROR or self.config.option.collectonly:
            return  # no case collected or run, or a usage error that pytest reports itself
        stop = session.shouldfail or session.shouldstop
        facts = RunFacts(
            interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
            stop_reason=stop if isinstance(stop, str) else None,
            concurrency_notes=tuple(self.state.answers.concurrency_notes()),
            subset=selection_text(self.config, len(self.rows), max(self.worker_suite_cases, suite_cases(self.config))),
        )
        rows = list(self.rows.values())
        terms = replace(
            self.state.run_terms(rows, self.gate_terms), cost_from_cache=self.state.settings.cost_from_cache
        )
        self.analysis = analyze(rows, facts, terms, self.baseline)
        settings = self.state.settings
        try:
            write_reports(
                self.analysis, settings.report_json, settings.report_md, settings.report_html, settings.save_baseline
            )
            if settings.answers.record is not None:
                self.write_recording(rows)
        except (OSError, ValueError) as exc:  # an unwritable path: said in the summary, never a traceback here
            self.write_error = str(exc)
        verdict = self.analysis.verdict
        record_verdict(self.config, verdict, verdict_lines(verdict))
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            # Misses alone do not fail a run; the verdict, a report not written and any other failing test do.
            # A subset is not gated: like plain pytest, it fails when a selected case missed or went unanswered.
            if verdict.status == SUBSET:
                judged = not (verdict.missed or verdict.errored or verdict.not_run)
            else:
                judged = verdict.status == PASSED
            clean = judged and not self.other_failures and self.write_error is None
            session.exitstatus = pytest.ExitCode.OK if clean else pytest.ExitCode.TESTS_FAILED

    def write_recording(self, rows: Iterable[CaseRow]) -> None:
        """Write every answer of the run, keyed by its request, to the ``--llm-record`` file, API keys scrubbed."""
        assert self.state.settings.answers.record is not None
        writer = Recording.writer(self.state.settings.answers.record, self.state.all_secrets())
        for row in rows:
            if not row.answered:
                continue
            if row.turns:  # a conversation: every step's own answer, each keyed by the whole chat before it
                for turn in row.turns:
                    for number, step in enumerate(turn["steps"], start=1):
                        if step["key"] is not None:
                            writer.add(
                                step["key"],
                                replace(completion_from(step["completion"]), cached=False),
                                backend=row.backend,
                                case=row.where,
                                prompt=turn["user"],
                                sample=row.sample,
                                turn=turn["turn"],
                                step=number,
                            )
            elif row.request_key is not None:
                writer.add(
                    row.request_key,
                    row.completion(),
                    backend=row.backend,
                    case=row.where,
                    prompt=row.input,
                    sample=row.sample,
                )
            # the judges' calls: of the row's judge: checks, or a calibration's or a pairwise comparison's
            judgings = [(j["judge"], j.get("answers", ())) for j in row.judged]
            record = row.calibration or row.pairwise
            if record is not None:
                judgings.append((record["judge"], record["usage"].get("answers", ())))
            for judge, answers in judgings:
                for answer in answers:
                    writer.add(
                        answer["key"],
                        completion_from(answer["completion"]),
                        backend=judge,
                        case=row.where,
                        prompt=f"judging {row.where} [{row.backend}]",
                    )
        writer.save()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.analysis is None:  # no case was collected (sessionfinish, which makes it, runs first)
            return
        terminalreporter.write_sep("=", "llmgate summary")
        settings = self.state.settings
        for line in summary_lines(self.analysis, settings.verbose_report):
            terminalreporter.write_line(line)
        for what, path in (
            ("results", settings.report_json),
            ("Markdown report", settings.report_md),
            ("HTML report", settings.report_html),
            ("recording", settings.answers.record),
            ("baseline", settings.save_baseline),
        ):
            if path is not None:
                terminalreporter.write_line(f"llmgate: {what} written to {path}")

    def print_verdict(self) -> None:
        """Print the verdict as the last block of the output, after pytest's short summary and its
        final counts line (called from pytest_unconfigure, when pytest has printed everything else)."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.analysis is None or terminal is None:
            return
        passed = self.analysis.verdict.status == PASSED
        terminal.write_sep("=", "llmgate verdict", red=not passed, green=passed)
        for line in verdict_lines(self.analysis.verdict):
            terminal.write_line(line, red=not passed, green=passed, bold=True)
        if self.write_error is not None:
            terminal.write_line(f"llmgate: a report was not written: {self.write_error}", red=True, bold=True)
