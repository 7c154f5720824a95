"""pytest hooks and options of llmgate. Logic lives in plain modules; this file only wires it."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

from . import hookspec
from .backends import make_builtin_backend, preflight
from .config import BackendSpec
from .errors import SpecError
from .items import RUNNER_KEY, CaseFile, CaseItem
from .analysis import Analysis
from .report import summary_lines, verdict_lines, write_reports
from .results import CaseRow
from .runner import Runner
from .session import GateSession
from .settings import DEFAULT_CASE_PATTERNS, RunSettings

GATE_KEY = pytest.StashKey["GateReporter"]()
CATEGORY_MARKS = ("common", "edge", "adversarial")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmgate", "LLM behaviour gates (pytest-llmgate)")
    group.addoption("--llm-backend", action="append", metavar="NAME", dest="llm_backend",
                    help="backend from llmgate.yaml to run the cases on; repeat to compare several (default: default_backend)")
    group.addoption("--llm-config", metavar="PATH", dest="llm_config",
                    help="use this config instead of the nearest llmgate.yaml above each case file")
    group.addoption("--llm-report-json", metavar="PATH", dest="llm_report_json",
                    help="write every case's result, the summaries, comparison, cost projection and recommendation to this JSON file")
    group.addoption("--llm-report-md", metavar="PATH", dest="llm_report_md",
                    help="write the report as GitHub-flavoured Markdown (a PR comment, $GITHUB_STEP_SUMMARY)")
    group.addoption("--llm-report-html", metavar="PATH", dest="llm_report_html",
                    help="write a self-contained HTML report with charts (works offline)")
    group.addoption("--llm-volume", metavar="N/UNIT", dest="llm_volume",
                    help="requests per day, month or hour for the cost projection, e.g. 90000/day (overrides 'volume:')")
    group.addoption("--llm-verbose-report", action="store_true", dest="llm_verbose_report",
                    help="print the full comparison (per category, per case, confusion matrices); -v does too")
    parser.addini("llmgate_case_patterns", type="args", default=list(DEFAULT_CASE_PATTERNS),
                  help="glob patterns of case file names (default: *.llm.yaml *.llm.yml)")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    for mark in CATEGORY_MARKS:
        config.addinivalue_line("markers", f"{mark}: llmgate cases of the {mark} category")
    config.stash[RUNNER_KEY] = Runner(RunSettings.from_pytest(config), lambda spec: config.hook.pytest_llmgate_make_backend(spec=spec))
    if not hasattr(config, "workerinput"):  # results are gathered on the controller only
        config.stash[GATE_KEY] = GateReporter(config)
        config.pluginmanager.register(config.stash[GATE_KEY], "llmgate-gate")


def pytest_unconfigure(config: pytest.Config) -> None:
    reporter = config.stash.get(GATE_KEY, None)
    if reporter is not None:
        config.pluginmanager.unregister(reporter)
        del config.stash[GATE_KEY]
    runner = config.stash.get(RUNNER_KEY, None)
    if runner is not None:
        runner.close()


@pytest.hookimpl(trylast=True)
def pytest_llmgate_make_backend(spec: BackendSpec):
    return make_builtin_backend(spec)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> CaseFile | None:
    patterns = parent.config.stash[RUNNER_KEY].settings.case_patterns
    if any(fnmatch(file_path.name, pattern) for pattern in patterns):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail fast, before any model loads, on unknown backends and backends that cannot start."""
    if hasattr(config, "workerinput"):
        return  # the controller checked; a worker reports the same problem per case
    checked: set[tuple[Path, str]] = set()
    for item in items:
        if isinstance(item, CaseItem) and (item.suite.path, item.backend_name) not in checked:
            checked.add((item.suite.path, item.backend_name))
            try:
                preflight(item.backend_spec)
            except SpecError as exc:
                raise pytest.UsageError(str(exc)) from None


def pytest_report_teststatus(report: pytest.TestReport):
    if report.when == "call" and report.failed and _row(report) is not None:
        return "failed", "m", "MISSED"
    return None


def _row(report: pytest.TestReport) -> CaseRow | None:
    return CaseRow.from_properties(report.user_properties)


class GateReporter:
    """Controller-side plugin: gathers case rows from reports, decides the exit status, reports."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.session = GateSession()
        self.other_failures = 0  # failed reports that are not case misses: errors, other tests
        self.analysis: Analysis | None = None  # made once the rows are in, shared by every report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = _row(report)
        is_miss = report.when == "call" and report.failed and row is not None
        if report.failed and not is_miss:
            self.other_failures += 1
        if row is not None and (report.when == "call" or (report.when == "setup" and row.error)):
            self.session.add(row)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.session.rows:
            return
        runner = self.config.stash[RUNNER_KEY]
        self.analysis = self.session.analysis(runner.economics(self.session.rows))
        settings = runner.settings
        write_reports(self.session, self.analysis, settings.report_json, settings.report_md, settings.report_html)
        if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return  # interrupted, collection or usage errors: not ours to change
        if self.session.gate_failures():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif self.other_failures == 0:
            session.exitstatus = pytest.ExitCode.OK  # misses alone, within the gates, pass the run

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.analysis is None:  # no case ran (sessionfinish, which makes it, runs first)
            return
        terminalreporter.write_sep("=", "llmgate summary")
        failures = self.session.gate_failures()
        failed = bool(failures)
        settings = self.config.stash[RUNNER_KEY].settings
        for line in summary_lines(self.session, self.analysis, settings.verbose_report):
            terminalreporter.write_line(line)
        for line in verdict_lines(failures):
            terminalreporter.write_line(line, red=failed, green=not failed, bold=True)
        for what, path in (("results", settings.report_json), ("Markdown report", settings.report_md),
                           ("HTML report", settings.report_html)):
            if path is not None:
                terminalreporter.write_line(f"llmgate: {what} written to {path}")
