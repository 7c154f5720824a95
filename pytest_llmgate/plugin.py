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
from .report import summary_lines, verdict_line, write_json
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
                    help="write every case's result and the per-category summary to this JSON file")
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
        json_path = self.config.stash[RUNNER_KEY].settings.report_json
        if json_path is not None:
            write_json(json_path, self.session.results())
        if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return  # interrupted, collection or usage errors: not ours to change
        if self.session.gate_failures():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif self.other_failures == 0:
            session.exitstatus = pytest.ExitCode.OK  # misses alone, within the gates, pass the run

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.session.rows:
            return
        terminalreporter.write_sep("=", "llmgate summary")
        failed = bool(self.session.gate_failures())
        for line in summary_lines(self.session)[:-1]:
            terminalreporter.write_line(line)
        terminalreporter.write_line(verdict_line(self.session.gate_failures()), red=failed, green=not failed, bold=True)
        json_path = self.config.stash[RUNNER_KEY].settings.report_json
        if json_path is not None:
            terminalreporter.write_line(f"llmgate: results written to {json_path}")
