"""The install footprint: llama-cpp-python is the optional `local` extra, and choosing a
llama_cpp backend without it is a usage error that names the extra."""

from __future__ import annotations

import importlib.metadata

import pytest
from packaging.requirements import Requirement

# A conftest that makes llama_cpp look uninstalled, the way a plain `pip install pytest-llmgate` leaves it.
# pytester's in-process run restores sys.modules afterwards, so the outer session keeps llama_cpp.
HIDE_LLAMA_CPP = """
import sys

sys.modules["llama_cpp"] = None
"""

# Appended to the fake suite's `backends:` mapping, its last key.
LOCAL_BACKEND = """
  smol:
    provider: llama_cpp
    model: embedded:smollm2-135m-instruct
"""


@pytest.fixture
def without_llama_cpp(fake_suite: pytest.Pytester) -> pytest.Pytester:
    """The fake suite with a llama_cpp backend configured and llama_cpp hidden."""
    config = fake_suite.path / "llmgate.yaml"
    config.write_text(config.read_text() + LOCAL_BACKEND)
    fake_suite.makeconftest(HIDE_LLAMA_CPP)
    return fake_suite


def test_llama_cpp_backend_without_the_extra_is_a_usage_error(without_llama_cpp: pytest.Pytester) -> None:
    result = without_llama_cpp.runpytest("--llm-backend=smol", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *llmgate.yaml:*: backend 'smol' uses provider llama_cpp, which needs the 'local' extra: pip install 'pytest-llmgate[[]local]'",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_api_backends_run_without_the_extra(without_llama_cpp: pytest.Pytester) -> None:
    result = without_llama_cpp.runpytest("--llm-backend=fake", "-q")
    result.assert_outcomes(passed=2, failed=1)


def test_llama_cpp_python_is_required_only_by_extras() -> None:
    requirements = [Requirement(text) for text in importlib.metadata.requires("pytest-llmgate") or []]
    llama = [req for req in requirements if req.name == "llama-cpp-python"]
    assert llama, "llama-cpp-python is missing from the metadata altogether"
    assert all(req.marker is not None for req in llama), "llama-cpp-python is a base dependency again"
    assert any(req.marker.evaluate({"extra": "local"}) for req in llama if req.marker), "no 'local' extra installs it"
    assert not any(req.marker.evaluate({"extra": ""}) for req in llama if req.marker)
