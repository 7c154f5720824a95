"""Usage errors: a problem with the run's setup (a config that does not load, no backend selected, an
unknown backend or provider) stops the run once, with every problem listed, before any call."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from ..errors import SpecError
from .state import RunState


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
