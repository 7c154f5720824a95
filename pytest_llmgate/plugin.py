"""pytest hooks and options of llmgate. Logic lives in plain modules; this file only wires it."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from . import hookspec
from .backends import make_builtin_backend
from .backends.spec import BackendSpec
from .errors import SpecError
from .session.collector import ResultCollector
from .session.items import STATE_KEY, CaseFile, CaseItem
from .session.settings import DEFAULT_CASE_PATTERNS, RunSettings
from .session.state import RunState
from .session.xdistqueue import queued_items
from .verdict.rows import CLIP_CHARS, CaseRow

COLLECTOR_KEY = pytest.StashKey[ResultCollector]()
CATEGORY_MARKS = ("common", "edge", "adversarial")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmgate", "LLM behaviour gates (pytest-llmgate)")
    group.addoption(
        "--llm-backend",
        action="append",
        metavar="NAME",
        dest="llm_backend",
        help="backend from llmgate.yaml to run the cases on; repeat to compare several (default: default_backend)",
    )
    group.addoption(
        "--llm-config",
        metavar="PATH",
        dest="llm_config",
        help="use this config instead of the nearest llmgate.yaml above each case file",
    )
    group.addoption(
        "--llm-report-json",
        metavar="PATH",
        dest="llm_report_json",
        help="write every case's result, the summaries, comparison, cost projection and recommendation to this JSON file",
    )
    group.addoption(
        "--llm-report-md",
        metavar="PATH",
        dest="llm_report_md",
        help="write the report as GitHub-flavoured Markdown (a PR comment, $GITHUB_STEP_SUMMARY)",
    )
    group.addoption(
        "--llm-report-html",
        metavar="PATH",
        dest="llm_report_html",
        help="write a self-contained HTML report with charts (works offline)",
    )
    group.addoption(
        "--llm-volume",
        metavar="N/UNIT",
        dest="llm_volume",
        help="requests per day, month or hour for the cost projection, e.g. 90000/day (overrides 'volume:')",
    )
    group.addoption(
        "--llm-verbose-report",
        action="store_true",
        dest="llm_verbose_report",
        help="print the full comparison (per category, per case, confusion matrices); -v does too",
    )
    group.addoption(
        "--llm-concurrency",
        type=int,
        metavar="N",
        dest="llm_concurrency",
        help="backend calls at once per backend (default 8 for API backends; 'concurrency:' in llmgate.yaml; the smaller wins)",
    )
    group.addoption(
        "--llm-cache",
        default="readwrite",
        metavar="MODE",
        dest="llm_cache",
        help="response cache: off, read, write or readwrite (default)",
    )
    group.addoption(
        "--llm-cache-dir",
        metavar="PATH",
        dest="llm_cache_dir",
        help="folder of the response cache (default: llmgate/ under pytest's cache folder)",
    )
    group.addoption(
        "--llm-refresh",
        action="store_true",
        dest="llm_refresh",
        help="call every backend again instead of reusing cached answers (new answers are still cached)",
    )
    group.addoption(
        "--llm-record",
        metavar="PATH",
        dest="llm_record",
        help="write every answer of this run to a recording (a reviewable file to commit)",
    )
    group.addoption(
        "--llm-replay",
        metavar="PATH",
        dest="llm_replay",
        help="answer only from a recording (CI without an API key); a case it lacks is an error",
    )
    group.addoption(
        "--llm-repeat",
        type=int,
        metavar="K",
        dest="llm_repeat",
        help="sample every case K times (over each case's 'repeat:'); reports pass rate, pass^K and flaky cases",
    )
    group.addoption(
        "--llm-save-baseline",
        metavar="PATH",
        dest="llm_save_baseline",
        help="save this run's results as a baseline for --llm-baseline (the JSON results document)",
    )
    group.addoption(
        "--llm-baseline",
        metavar="PATH",
        dest="llm_baseline",
        help="compare with a saved baseline: per-category changes, flipped cases, McNemar's test on the flips",
    )
    group.addoption(
        "--llm-baseline-backend",
        metavar="NAME",
        dest="llm_baseline_backend",
        help="compare every backend of this run with this backend of the baseline (default: the same names)",
    )
    group.addoption(
        "--llm-fail-on-regression",
        nargs="?",
        const="",
        metavar="TOLERANCE",
        dest="llm_fail_on_regression",
        help="fail when a category drops significantly against the baseline by more than TOLERANCE "
        "(e.g. accuracy:2%%,format:5%%; default none; per category under 'regression:' in llmgate.yaml)",
    )
    group.addoption(
        "--llm-perturb-max",
        type=int,
        default=1000,
        metavar="N",
        dest="llm_perturb_max",
        help="at most N backend calls for perturbed variants in this run (per xdist worker; default 1000)",
    )
    parser.addini(
        "llmgate_case_patterns",
        type="args",
        default=list(DEFAULT_CASE_PATTERNS),
        help="glob patterns of case file names (default: *.llm.yaml *.llm.yml)",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    for mark in CATEGORY_MARKS:
        config.addinivalue_line("markers", f"{mark}: llmgate cases of the {mark} category")
    state = RunState(RunSettings.from_pytest(config), lambda spec: config.hook.pytest_llmgate_make_backend(spec=spec))
    config.stash[STATE_KEY] = state
    config.hook.pytest_llmgate_register_checks(registry=state.checks)
    if not hasattr(config, "workerinput"):  # results are gathered on the controller only
        config.stash[COLLECTOR_KEY] = ResultCollector(config, state)
        config.pluginmanager.register(config.stash[COLLECTOR_KEY], "llmgate-gate")


def pytest_unconfigure(config: pytest.Config) -> None:
    reporter = config.stash.get(COLLECTOR_KEY, None)
    if reporter is not None:
        config.pluginmanager.unregister(reporter)
        del config.stash[COLLECTOR_KEY]
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.close()


@pytest.hookimpl(trylast=True)
def pytest_llmgate_make_backend(spec: BackendSpec):
    return make_builtin_backend(spec)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> CaseFile | None:
    patterns = parent.config.stash[STATE_KEY].settings.case_patterns
    if any(fnmatch(file_path.name, pattern) for pattern in patterns):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _check_backends(config: pytest.Config, selected: Iterable[tuple[Path, str]]) -> None:
    """Fail fast, before any model loads, on unknown backends and backends that cannot start."""
    try:
        config.stash[STATE_KEY].check_backends(selected)
    except SpecError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):
        return  # the controller checks (pytest_xdist_node_collection_finished)
    _check_backends(config, ((item.path, item.backend_name) for item in items if isinstance(item, CaseItem)))


def pytest_collection_finish(session: pytest.Session) -> None:
    reporter = session.config.stash.get(COLLECTOR_KEY, None)
    if reporter is not None:
        reporter.expect(item.row for item in session.items if isinstance(item, CaseItem))


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
    """Without xdist, every selected case's call is queued at once (bounded per backend)."""
    config = session.config
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
    report = yield
    if isinstance(item, CaseItem) and call.when == "call" and len(item.row.output) > CLIP_CHARS:
        report.llm_output = item.row.output  # the whole output, once: user_properties hold it clipped
    return report


def pytest_report_teststatus(report: pytest.TestReport):
    if report.when == "call" and report.failed and CaseRow.from_properties(report.user_properties) is not None:
        return "failed", "m", "MISSED"
    return None
