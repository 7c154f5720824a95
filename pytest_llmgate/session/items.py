"""Collection: a case file becomes one pytest item per case and selected backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ..answers.source import Answer, Request
from ..backends.base import BackendError, Completion
from ..backends.spec import BackendSpec, Prompt, UnknownVariable
from ..checks.registry import CheckContext, CheckError
from ..errors import SpecError
from ..robustness.perturb import SHRINK_CALLS, PerturbSpec, search_flip
from ..suite.cases import Case, attacked, load_case_file
from ..suite.config import SuiteConfig
from ..verdict.gate import GateTerms
from ..verdict.rows import PERTURB, PREFIX, CaseRow, errored, new_row, perturbed, score
from .state import RunState

STATE_KEY = pytest.StashKey[RunState]()


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
        state = self.config.stash[STATE_KEY]
        spec = load_case_file(self.path, state.checks)
        suite = state.suite_for(self.path)
        root = state.settings.rootdir
        if spec.thresholds is not None:
            group, thresholds = relative(self.path, root), spec.thresholds
        else:
            group, thresholds = relative(suite.path.parent, root), suite.thresholds
        gate_terms = GateTerms(thresholds, suite.max_error_rate)
        cases = [made for written in spec.cases for made in (written, *attacked(written))]
        for tag in sorted({tag for case in cases for tag in case.tags}):
            self.config.addinivalue_line("markers", f"{tag}: llmgate case tag")  # known to --strict-markers
        backends = suite.selected(list(state.settings.backends))
        for case in cases:
            samples = state.settings.repeat or case.repeat or 1
            perturb = case.perturb or (suite.perturb if case.attack is None else None)
            for backend in backends:
                common = {
                    "case": case,
                    "suite": suite,
                    "backend_name": backend,
                    "group": group,
                    "gate_terms": gate_terms,
                }
                for sample in range(1, samples + 1):
                    yield self._item(
                        CaseItem,
                        case.id,
                        backend if samples == 1 else f"{backend}#{sample}",
                        common,
                        sample=sample,
                        samples=samples,
                    )
                if perturb is not None:
                    yield self._item(PerturbItem, f"{case.id}.perturb", backend, common, perturb=perturb)

    def _item(self, kind: type[CaseItem], name: str, param: str, fields: dict[str, Any], **extra: Any) -> CaseItem:
        # An explicit node id lets pytest >= 9.2 see "[backend]" as parameters, as for parametrized
        # functions, so --lf matches the ids it stored.
        return kind.from_parent(
            self, name=f"{name}[{param}]", nodeid=f"{self.nodeid}::{name}[{param}]", **fields, **extra
        )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]  # as pytest.Collector's
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class CaseItem(pytest.Item):
    """One case on one backend. Setup calls the backend (a failure there is a pytest error, one
    concise line); the test itself only checks the answer (a miss is a failure the gate weighs)."""

    def __init__(
        self,
        *,
        case: Case,
        suite: SuiteConfig,
        backend_name: str,
        group: str,
        gate_terms: GateTerms,
        sample: int = 1,
        samples: int = 1,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.case = case
        self.suite = suite
        self.backend_name = backend_name
        self.gate_terms = gate_terms  # what the case's group requires; travels with its reports (llm_gate)
        self.state = self.config.stash[STATE_KEY]
        self.row = new_row(
            case, relative(self.path, self.config.rootpath), group, backend_name, self.nodeid, sample, samples
        )
        self.answer: Answer | None = None
        for mark in (case.category, *case.tags):
            self.add_marker(mark)

    @property
    def backend_spec(self) -> BackendSpec:
        """The config of this item's backend."""
        return self.suite.backend(self.backend_name)

    def publish(self, row: CaseRow) -> None:
        """Make ``row`` this item's result: its reports carry it whole, user_properties its JUnit view."""
        self.row = row
        others = [p for p in self.user_properties if not p[0].startswith(PREFIX)]
        self.user_properties[:] = [*others, *row.to_properties()]

    @property
    def prompt(self) -> Prompt:
        """The backend's prompt for this case's task; skips the case when the backend has none."""
        prompt = self.backend_spec.prompt_for(self.case.task)
        if prompt is None:
            pytest.skip(
                f"backend {self.backend_name!r} has no prompt for task {self.case.task!r} (add it under 'tasks:')"
            )
        return prompt

    def request(self, case: Case | None = None) -> Request:
        """The backend call ``case`` (this item's case by default) needs."""
        case = case or self.case
        label = f"{self.row.where} [{self.backend_name}]"
        try:  # the case's vars fill the prompt's {{name}}s before the request (and its cache key) is made
            prompt = self.prompt.render(case.vars)
        except UnknownVariable as exc:
            spec = self.backend_spec
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {self.backend_name!r}: its prompt uses {{{{{exc.name}}}}}, which case {self.row.where} "
                f"does not define; add {exc.name!r} to the case's 'vars:' (or to 'defaults: vars:')",
            ) from None
        return Request(self.backend_spec, tuple(prompt.messages(case.messages)), self.row.sample, label)

    def prefetchable(self) -> Request | None:
        """The call to start ahead of the run, when the backend serves this case."""
        if self.backend_spec.prompt_for(self.case.task) is None:
            return None
        try:
            return self.request()
        except SpecError:
            return None  # setup makes the same request and reports the problem as this case's error

    def check(self, case: Case, completion: Completion) -> CaseRow:
        """This item's row with ``completion`` checked against ``case``'s expectations."""
        embed = self.state.embeddings.embedder_for(self.suite)
        prompt = self.prompt.render(case.vars)  # as sent: no_prompt_leak compares against the filled-in text
        context = CheckContext(self.backend_name, case.messages, prompt, embed)
        spec, secrets = self.backend_spec, self.state.secrets(self.suite)
        try:
            return score(self.row, case, completion, spec.pricing, secrets, self.state.checks, context)
        except CheckError as exc:  # a check that could not judge (no embedder): an error of the case, not a miss
            self.publish(errored(self.row, str(exc), secrets))
        pytest.fail(self.row.error or "", pytrace=False)

    def fetch(self) -> None:
        """Get this case's answer: the one prefetched, or a call now."""
        self.answer = self.state.answers.answer(self.nodeid, self.request())

    def setup(self) -> None:
        self.publish(self.row)
        try:
            self.fetch()
            return
        except (BackendError, SpecError) as exc:
            self.publish(errored(self.row, str(exc), self.state.secrets(self.suite)))
        # Outside the except block, so the error shows as its one line, without a traceback or chain.
        pytest.fail(self.row.error or "", pytrace=False)

    def runtest(self) -> None:
        assert self.answer is not None
        self.publish(replace(self.check(self.case, self.answer.completion), request_key=self.answer.key))
        if self.row.missed:
            raise CaseMiss(self.row)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (CaseMiss, BackendError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, self.name


class PerturbItem(CaseItem):
    """A search over perturbed variants of one case on one backend (``perturb:``): hypothesis tries
    variants that must keep the expectation and shrinks a failing one to the smallest flip."""

    def __init__(self, *, perturb: PerturbSpec, **kwargs: Any):
        super().__init__(**kwargs)
        self.perturb = perturb
        self.row = replace(self.row, kind=PERTURB, must_pass=False)

    def prefetchable(self) -> Request | None:
        return None  # variants are called lazily, as the search asks for them

    def fetch(self) -> None:
        self.prompt  # noqa: B018 - skips the search when the backend does not serve the case's task

    def runtest(self) -> None:
        checked: dict[str, CaseRow] = {}  # by variant text; the search asks about each text once

        def holds(text: str) -> bool:
            variant = replace(self.case, messages=(*self.case.messages[:-1], {"role": "user", "content": text}))
            answer = self.state.answers.answer(f"{self.nodeid}#{len(checked)}", self.request(variant))
            checked[text] = self.check(variant, answer.completion)
            return not checked[text].missed

        if self.state.settings.answers.replay is not None:
            pytest.skip("perturbation searches are not recorded, so not replayed: run them against the backend")
        spec = self.perturb
        budget = self.state.perturb_budget(spec.count + 1 + SHRINK_CALLS)
        if budget < 2:
            pytest.skip("the run's perturbation budget is spent (--llm-perturb-max)")
        result = search_flip(self.case.input_text, spec.kinds, holds, spec.count, spec.seed, max_calls=budget)
        self.state.spend_perturb_budget(result.calls)
        self.publish(perturbed(self.row, result, checked))
        if self.row.missed:
            raise CaseMiss(self.row)
