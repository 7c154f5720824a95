"""What a run loads beyond what it needs: hypothesis is a dependency, so its pytest plugin is in every
user's run, and its terminal summary imports all of hypothesis (0.3-0.4 s) unless llmgate leaves it out."""

from __future__ import annotations

import pytest

CONFIG = """
default_backend: fake
thresholds:
  common: {accuracy: 0.0}
backends:
  fake: {provider: fake, model: m}
"""
# Written last thing in the run, after every terminal summary.
CONFTEST = """
import sys

def pytest_unconfigure(config):
    (config.rootpath / "imported.txt").write_text(str("hypothesis" in sys.modules))
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", llmgate=CONFIG)
    pytester.makefile(".llm.yaml", common="cases:\n  - {id: a, input: ticket, expect: {label: billing}}\n")
    pytester.makeconftest(CONFTEST)
    return pytester


def test_a_run_that_uses_no_hypothesis_never_imports_it(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # the fake backend's answer misses: the case ran
    assert (suite.path / "imported.txt").read_text() == "False"


def test_hypothesis_options_keep_its_plugin(suite: pytest.Pytester) -> None:
    suite.runpytest_subprocess("-p", "no:cacheprovider", "--hypothesis-show-statistics")
    assert (suite.path / "imported.txt").read_text() == "True"
