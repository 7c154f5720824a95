"""The verdict in JUnit XML (``--junitxml``): a suite-level property and one ``llmgate::gate`` testcase
that fails exactly when the gate fails; and, with ``--llm-junit-misses=skipped``, missed cases written
as ``<skipped>`` so that only the gate is red. Works through pytest's junitxml plugin object."""

from __future__ import annotations

import copy
import json
from typing import Any, Literal

import pytest
from _pytest.junitxml import LogXML, xml_key
from _pytest.reports import TestReport

from ..verdict.gate import FAILED, INCOMPLETE, SUBSET, Verdict

GATE_NODEID = "llmgate::gate"
JUNIT_MISSES = ("failure", "skipped")


def junit_plugin(config: pytest.Config) -> LogXML | None:
    """pytest's junitxml plugin object when ``--junitxml`` is on (not on xdist workers), else None."""
    return config.stash.get(xml_key, None)


def is_miss(report: pytest.TestReport) -> bool:
    """True for the call report of an llmgate case whose answer failed a check."""
    row = getattr(report, "llm_row", None)
    return report.when == "call" and report.failed and isinstance(row, dict) and row.get("status") == "answered"


class MissesAsSkipped:
    """Stands in for pytest's junitxml plugin, handing it every report as it is except missed cases,
    which it sees as skipped (the miss text as the reason): the terminal and the exit status still
    count them as misses; only the JUnit file changes."""

    def __init__(self, xml: LogXML):
        self.xml = xml

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if is_miss(report):
            skipped = copy.copy(report)
            skipped.outcome = "skipped"
            path, line, _ = report.location
            skipped.longrepr = (path, (line or 0) + 1, f"llmgate miss (the gate decides): {report.longreprtext}")
            report = skipped
        self.xml.pytest_runtest_logreport(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.xml.pytest_collectreport(report)

    def pytest_internalerror(self, excrepr: Any) -> None:
        self.xml.pytest_internalerror(excrepr)

    def pytest_sessionstart(self) -> None:
        self.xml.pytest_sessionstart()

    def pytest_sessionfinish(self) -> None:
        self.xml.pytest_sessionfinish()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
        self.xml.pytest_terminal_summary(terminalreporter, config)


def report_misses_as_skipped(config: pytest.Config) -> None:
    """Put MissesAsSkipped in front of the junitxml plugin (once, when --junitxml is on)."""
    xml = junit_plugin(config)
    if xml is None or config.pluginmanager.has_plugin("llmgate-junit"):
        return
    config.pluginmanager.unregister(xml)
    config.pluginmanager.register(MissesAsSkipped(xml), "llmgate-junit")


def _value(value: object) -> str:
    """A property value: text as it is, anything else as JSON (``true``, ``null``), never a Python repr."""
    return value if isinstance(value, str) else json.dumps(value)


def record_verdict(config: pytest.Config, verdict: Verdict, lines: list[str]) -> None:
    """Add the verdict to the JUnit file: suite properties ``llmgate_verdict`` (status), ``llmgate_passed``
    and ``llmgate_reasons`` (JSON list), and the testcase ``llmgate::gate``: failed for a failed or
    incomplete verdict, skipped for a subset (the suite's gate not judged), passed otherwise."""
    xml = junit_plugin(config)
    if xml is None:
        return
    reasons = [*verdict.failures, *verdict.gaps]
    for name, value in (
        ("llmgate_verdict", verdict.status),
        ("llmgate_passed", verdict.passed),
        ("llmgate_reasons", reasons),
        ("llmgate_counts", verdict.counts),
    ):
        xml.add_global_property(name, _value(value))
    text = "\n".join(lines)
    outcome: Literal["passed", "failed", "skipped"] = "passed"
    longrepr: str | tuple[str, int, str] | None = None
    if verdict.status in (FAILED, INCOMPLETE):
        outcome, longrepr = "failed", text
    elif verdict.status == SUBSET:
        outcome, longrepr = "skipped", ("llmgate", 0, text)
    properties = [("llmgate_verdict", verdict.status)]
    phases: tuple[tuple[Literal["setup", "call", "teardown"], Literal["passed", "failed", "skipped"], Any], ...] = (
        ("setup", "passed", None),
        ("call", outcome, longrepr),
        ("teardown", "passed", None),
    )
    for when, state, detail in phases:
        xml.pytest_runtest_logreport(
            TestReport(GATE_NODEID, ("llmgate", None, "gate"), {}, state, detail, when, user_properties=properties)
        )
