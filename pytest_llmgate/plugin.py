"""pytest hooks and options of llmgate. Logic lives in plain modules; this file only wires it."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from . import hookspec
from .errors import SpecError
from .session.collector import SUITE_KEY, WORKER_SUITE, ResultCollector, SuiteCount, suite_cases
from .session.freezing import freeze_collected, session_ended, session_started, thaw
from .session.items import STATE_KEY, CaseFile, CaseItem, judge_arguments
from .session.progress import ProgressReporter, wanted
from .session.settings import RunSettings, add_options
from .session.state import RunState
from .session.thirdparty import drop_idle_hypothesis_plugin
from .session.usage import SetupCheck, usage_error
from .session.xdistqueue import queued_items

COLLECTOR_KEY = pytest.StashKey[ResultCollector]()
CATEGORY_MARKS = ("common", "edge", "adversarial")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Count a case file's cases, selected or not, before --lf's wrapper (outside this one) drops any: a run over
    part of the suite is a subset of them. An xdist worker sends its count in its workeroutput. Then the
    file's items, which live all session, are frozen out of the garbage collector's walks (session/freezing.py)."""
    report = yield
    if isinstance(collector, CaseFile):
        collector.config.stash.setdefault(SUITE_KEY, SuiteCount()).add(collector, report)
        freeze_collected()
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workeroutput"):
        config.workeroutput[WORKER_SUITE] = suite_cases(config)
    drop_idle_hypothesis_plugin(config)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    session_started()
    for mark in CATEGORY_MARKS:
        config.addinivalue_line("markers", f"{mark}: llmgate cases of the {mark} category")
    state = RunState(RunSettings.from_pytest(config), lambda spec: config.hook.pytest_llmgate_make_backend(spec=spec))
    config.stash[STATE_KEY] = state
    config.hook.pytest_llmgate_register_checks(registry=state.checks)
    try:
        config.hook.pytest_llmgate_register_providers(registry=state.providers)
    except ValueError as exc:  # a name taken twice, a setting that is no backend key
        raise pytest.UsageError(f"pytest_llmgate_register_providers: {exc}") from None
    if not hasattr(config, "workerinput"):  # results are gathered on the controller only
        config.stash[COLLECTOR_KEY] = ResultCollector(config, state)
        config.pluginmanager.register(config.stash[COLLECTOR_KEY], "llmgate-gate")
        config.pluginmanager.register(SetupCheck(config, state), "llmgate-setup")
        if wanted(config, sys.stdout.isatty()):
            config.pluginmanager.register(ProgressReporter(config), "llmgate-progress")


def pytest_unconfigure(config: pytest.Config) -> None:
    reporter = config.stash.get(COLLECTOR_KEY, None)
    if reporter is not None:
        reporter.print_verdict()  # pytest has printed everything else by now: the verdict is the last block
        config.pluginmanager.unregister(reporter)
        del config.stash[COLLECTOR_KEY]
    setup_check = config.pluginmanager.get_plugin("llmgate-setup")
    if setup_check is not None:
        config.pluginmanager.unregister(setup_check)
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.close()
    session_ended()


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> CaseFile | None:
    patterns = parent.config.stash[STATE_KEY].settings.case_patterns
    if any(fnmatch(file_path.name, pattern) for pattern in patterns):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _check_backends(config: pytest.Config, selected: Iterable[tuple[Path, str]]) -> None:
    """Fail fast, before any model loads, on unknown backends and providers and backends that cannot start."""
    try:
        config.stash[STATE_KEY].check_backends(selected)
    except SpecError as exc:
        raise usage_error(exc) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):
        return  # the controller checks (pytest_xdist_node_collection_finished)
    _check_backends(config, ((item.path, item.backend_name) for item in items if isinstance(item, CaseItem)))


def pytest_collection_finish(session: pytest.Session) -> None:
    reporter = session.config.stash.get(COLLECTOR_KEY, None)
    if reporter is not None:
        cases = [item for item in session.items if isinstance(item, CaseItem)]
        try:  # on the final selection (after -k, -m): a deselected case asks nothing of its backend
            session.config.stash[STATE_KEY].check_request_options(
                (item.path, item.backend_name, item.row.where, item.case.options) for item in cases
            )
            session.config.stash[STATE_KEY].check_judges(
                (item.path, item.backend_name, item.row.where, judge_arguments(item.case)) for item in cases
            )
        except SpecError as exc:
            raise usage_error(exc) from None
        reporter.expect((item.row, item.gate_terms) for item in cases)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist the controller collects nothing: check backends and expect cases from a worker's ids."""
    config = node.config
    reporter = config.stash[COLLECTOR_KEY]
    before = len(reporter.rows)
    reporter.expect_node_ids(ids)
    if len(reporter.rows) > before:
        rows = list(reporter.rows.values())
        _check_backends(config, ((config.rootpath / row.file, row.backend) for row in rows))


def _prefetch(session: pytest.Session, items: Iterable[pytest.Item]) -> None:
    """Start the backend calls of ``items`` (cases only) in the background."""
    requests = ((item.nodeid, item.prefetchable()) for item in items if isinstance(item, CaseItem))
    session.config.stash[STATE_KEY].answers.prefetch(
        (nodeid, request) for nodeid, request in requests if request is not None
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Without xdist, every selected case's call is queued at once (bounded per backend). The objects frozen
    while collecting are thawed before any test runs (a --collect-only run runs none)."""
    config = session.config
    if not config.option.collectonly:
        thaw()
    if not hasattr(config, "workerinput") and not config.option.collectonly and not session.testsfailed:
        _prefetch(session, session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """On an xdist worker, queue the calls of the items it was handed; after a stop, start no more calls."""
    session = item.session
    if hasattr(item.config, "workerinput"):
        _prefetch(session, queued_items(session))
    try:
        return (yield)
    finally:
        if session.shouldfail or session.shouldstop:
            item.config.stash[STATE_KEY].answers.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    if isinstance(item, CaseItem) and call.when != "setup":
        item.sync_properties()  # before pytest copies them into the report; JUnit reads the teardown's
    report = yield
    if isinstance(item, CaseItem) and (call.when == "call" or not report.passed):
        # The report that says how the case ended carries its whole row (pytest-xdist serialises it with the
        # report) and its group's terms (an xdist controller collects nothing); a passed setup or teardown none.
        report.llm_row = item.row.to_dict()
        report.llm_gate = item.gate_terms.as_dict
    return report


def pytest_report_teststatus(report: pytest.TestReport):
    if report.when == "call" and report.failed and hasattr(report, "llm_row"):
        if report.llm_row.get("status") == "error":  # a check that could not judge (similar: without an embedder)
            return "error", "E", "ERROR"
        return "failed", "m", "MISSED"
    return None
