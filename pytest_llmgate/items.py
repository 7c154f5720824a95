"""Collection: a case file becomes one pytest item per case and selected backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .answers import Answer, Request
from .backends.base import BackendError
from .cases import Case, load_case_file
from .config import BackendSpec, SuiteConfig
from .errors import SpecError
from .gate import GateTerms
from .results import PREFIX, CaseRow, failed, new_row, score
from .runner import Runner

RUNNER_KEY = pytest.StashKey[Runner]()


class CaseMiss(Exception):
    """A case's answer failed a correctness or format check."""

    def __init__(self, row: CaseRow):
        super().__init__(row.miss_text())
        self.row = row


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with forward slashes: how rows name files and groups."""
    return Path(os.path.relpath(path, root)).as_posix()


class CaseFile(pytest.File):
    """A ``*.llm.yaml`` file: its cases times the selected backends."""

    def collect(self) -> Iterator[CaseItem]:
        runner = self.config.stash[RUNNER_KEY]
        spec = load_case_file(self.path, runner.checks)
        suite = runner.suite_for(self.path)
        root = runner.settings.rootdir
        if spec.thresholds is not None:
            group, thresholds = relative(self.path, root), spec.thresholds
        else:
            group, thresholds = relative(suite.path.parent, root), suite.thresholds
        runner.record_group(group, GateTerms(thresholds, suite.max_error_rate))
        for tag in sorted({tag for case in spec.cases for tag in case.tags}):
            self.config.addinivalue_line("markers", f"{tag}: llmgate case tag")  # known to --strict-markers
        for case in spec.cases:
            samples = runner.settings.repeat or case.repeat or 1
            for backend in suite.selected(list(runner.settings.backends)):
                for sample in range(1, samples + 1):
                    name = f"{case.id}[{backend}]" if samples == 1 else f"{case.id}[{backend}#{sample}]"
                    # An explicit node id lets pytest >= 9.2 see "[backend]" as parameters, as for
                    # parametrized functions, so --lf matches the ids it stored.
                    yield CaseItem.from_parent(self, name=name, nodeid=f"{self.nodeid}::{name}", case=case, suite=suite,
                                               backend_name=backend, group=group, sample=sample, samples=samples)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]  # as pytest.Collector's
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class CaseItem(pytest.Item):
    """One case on one backend. Setup calls the backend (a failure there is a pytest error, one
    concise line); the test itself only checks the answer (a miss is a failure the gate weighs)."""

    def __init__(self, *, case: Case, suite: SuiteConfig, backend_name: str, group: str, sample: int = 1,
                 samples: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.suite = suite
        self.backend_name = backend_name
        self.row = new_row(case, relative(self.path, self.config.rootpath), group, backend_name, self.nodeid, sample, samples)
        self.answer: Answer | None = None
        for mark in (case.category, *case.tags):
            self.add_marker(mark)

    @property
    def backend_spec(self) -> BackendSpec:
        """The config of this item's backend."""
        return self.suite.backend(self.backend_name)

    def publish(self, row: CaseRow) -> None:
        """Make ``row`` this item's result, the one its reports carry in user_properties."""
        self.row = row
        self.user_properties[:] = [p for p in self.user_properties if not p[0].startswith(PREFIX)] + row.to_properties()

    def request(self) -> Request | None:
        """The backend call this case needs; None when its backend has no prompt for the case's task."""
        spec = self.backend_spec
        prompt = spec.prompt_for(self.case.task)
        if prompt is None:
            return None
        label = f"{self.row.where} [{self.backend_name}]"
        return Request(spec, tuple(prompt.messages(self.case.messages)), self.row.sample, label)

    def setup(self) -> None:
        runner = self.config.stash[RUNNER_KEY]
        self.publish(self.row)
        try:
            request = self.request()
            if request is None:
                pytest.skip(f"backend {self.backend_name!r} has no prompt for task {self.case.task!r} (add it under 'tasks:')")
            self.answer = runner.answers.answer(self.nodeid, request)
            return
        except (BackendError, SpecError) as exc:
            self.publish(failed(self.row, str(exc), runner.secrets(self.suite)))
        # Outside the except block, so the error shows as its one line, without a traceback or chain.
        pytest.fail(self.row.error or "", pytrace=False)

    def runtest(self) -> None:
        assert self.answer is not None
        runner = self.config.stash[RUNNER_KEY]
        row = score(self.row, self.case, self.answer.completion, self.backend_spec.pricing, runner.secrets(self.suite), runner.checks)
        self.publish(replace(row, request_key=self.answer.key))
        if self.row.missed:
            raise CaseMiss(self.row)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseMiss):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"{self.case.id}[{self.backend_name}]"
