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
from .session.collector import DESELECTED_KEY, WORKER_DESELECTED, ResultCollector
from .session.items import STATE_KEY, CaseFile, CaseItem
from .session.settings import RunSettings
from .session.state import RunState
from .session.xdistqueue import queued_items
from .suite.cases import CASE_FILE_PATTERNS

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
    group.addoption(
        "--llm-cost-from-cache",
        action="store_true",
        dest="llm_cost_from_cache",
        help="price cached answers too in cost comparisons, by the latency measured when they were first "
        "answered (default: a backend priced by the hour is compared on this run's fresh answers only)",
    )
    group.addoption(
        "--llm-junit-misses",
        default="failure",
        choices=("failure", "skipped"),
        dest="llm_junit_misses",
        help="how JUnit XML reports a missed case: failure (default), or skipped so that only the "
        "llmgate::gate testcase is red when the gate fails",
    )
    parser.addini(
        "llmgate_case_patterns",
        type="args",
        default=list(CASE_FILE_PATTERNS),
        help="glob patterns of case file names (default: *.llm.yaml *.llm.yml)",
    )


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Count the llmgate cases deselected (-k, -m, --lf, --deselect) where they are collected: here, or on
    each xdist worker, which sends the count in its workeroutput; a run over part of the suite is a subset."""
    cases = [item for item in items if isinstance(item, CaseItem)]
    if cases:
        config = cases[0].config
        config.stash[DESELECTED_KEY] = config.stash.get(DESELECTED_KEY, 0) + len(cases)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workeroutput"):
        config.workeroutput[WORKER_DESELECTED] = config.stash.get(DESELECTED_KEY, 0)
    _drop_idle_hypothesis_plugin(config)


def _drop_idle_hypothesis_plugin(config: pytest.Config) -> None:
    """hypothesis is a dependency, so its pytest plugin is in every user's run, and its terminal summary
    imports all of hypothesis (0.13-0.26 s). When nothing in this process used hypothesis and no xdist
    worker reports here, that summary has nothing to say: unregister the plugin before it runs."""
    plugin = config.pluginmanager.get_plugin("hypothesispytest")
    idle = "hypothesis" not in sys.modules and not config.pluginmanager.has_plugin("dsession")
    if plugin is not None and idle and not config.getoption("hypothesis_show_statistics", False):
        config.pluginmanager.unregister(plugin)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
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


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> CaseFile | None:
    patterns = parent.config.stash[STATE_KEY].settings.case_patterns
    if any(fnmatch(file_path.name, pattern) for pattern in patterns):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def usage_error(error: SpecError) -> pytest.UsageError:
    """A usage error (exit 4) printing each problem of ``error`` on its own ``ERROR:`` line (pytest prints
    each argument of a UsageError as its own paragraph, so the lines are joined here)."""
    return pytest.UsageError("\nERROR: ".join(str(problem) for problem in error.problems))


class SetupCheck:
    """On the controller: a case file that fails to collect because of the run's setup (its llmgate.yaml
    does not load, or selects no backend) ends the run with one usage error, printed once, listing every
    problem of that config, instead of one collection error per case file. Under xdist the controller
    sees the first worker's report of each failure."""

    def __init__(self, config: pytest.Config, state: RunState):
        self.config = config
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        path = self.config.rootpath / report.nodeid.split("::")[0]
        if not any(fnmatch(path.name, pattern) for pattern in self.state.settings.case_patterns):
            return
        problem = self.state.setup_problem(path)
        if problem is not None:
            raise usage_error(problem)


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
        reporter.expect((item.row, item.gate_terms) for item in session.items if isinstance(item, CaseItem))


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
    if isinstance(item, CaseItem):
        report.llm_row = item.row.to_dict()  # the whole row, once; pytest-xdist serialises it with the report
        report.llm_gate = item.gate_terms.to_dict()  # its group's terms: an xdist controller collects nothing
    return report


def pytest_report_teststatus(report: pytest.TestReport):
    if report.when == "call" and report.failed and hasattr(report, "llm_row"):
        if report.llm_row.get("status") == "error":  # a check that could not judge (similar: without an embedder)
            return "error", "E", "ERROR"
        return "failed", "m", "MISSED"
    return None
