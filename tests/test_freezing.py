"""gc.freeze keeps a session's collected items out of the garbage collector's walks, in the outermost
session only: a pytester run inside a test session leaves the outer process's garbage collectable."""

from __future__ import annotations

import gc

import pytest

from pytest_llmgate.session import freezing

REPORT_FREEZE = """
import gc

def pytest_sessionfinish(session):
    print(f"frozen objects: {gc.get_freeze_count()}")
"""


def test_the_outermost_session_freezes_what_collection_made(fake_suite: pytest.Pytester) -> None:
    fake_suite.makeconftest(REPORT_FREEZE)
    result = fake_suite.runpytest_subprocess("-s", "--llm-cache=off")
    frozen = [int(line.rsplit(":", 1)[1]) for line in result.stdout.lines if "frozen objects:" in line]
    assert frozen and frozen[0] > 1000, result.stdout.str()


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
