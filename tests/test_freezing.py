"""gc.freeze keeps a session's collected items out of the garbage collector's walks while it collects, in the
outermost session only: a pytester run inside a test session leaves the outer process's garbage collectable."""

from __future__ import annotations

import gc

import pytest

from pytest_llmgate.session import freezing

REPORT_FREEZE = """
import gc

frozen = {"collecting": 0, "running": 0}

def pytest_collectreport(report):
    frozen["collecting"] = max(frozen["collecting"], gc.get_freeze_count())

def pytest_runtest_setup(item):
    frozen["running"] = max(frozen["running"], gc.get_freeze_count())

def pytest_sessionfinish(session):
    print(f"frozen objects: {frozen['collecting']} {frozen['running']}")
"""


def test_the_outermost_session_freezes_while_collecting_only(fake_suite: pytest.Pytester) -> None:
    """Frozen objects are invisible to gc.get_referrers: the tests run with none."""
    fake_suite.makeconftest(REPORT_FREEZE)
    result = fake_suite.runpytest_subprocess("-s", "--llm-cache=off")
    frozen = [line.rsplit(":", 1)[1].split() for line in result.stdout.lines if "frozen objects:" in line]
    assert frozen, result.stdout.str()
    collecting, running = (int(count) for count in frozen[0])
    assert collecting > 1000 and running == 0


def test_a_session_inside_another_freezes_nothing(fake_suite: pytest.Pytester) -> None:
    before = gc.get_freeze_count()
    result = fake_suite.runpytest("--llm-cache=off")  # in this process: nested in the session running this test
    assert result.ret == pytest.ExitCode.OK
    assert gc.get_freeze_count() == before


def test_only_the_outermost_of_nested_sessions_freezes() -> None:
    before = gc.get_freeze_count()
    freezing.session_started()  # a second session in this process, as pytester makes one
    try:
        freezing.freeze_collected()
    finally:
        freezing.session_ended()
    assert gc.get_freeze_count() == before
