"""Collection: a case file becomes one pytest item per case and selected backend."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from ..answers.fewshot import check_leaks
from ..answers.source import Answer, Request
from ..backends.base import BackendError, Completion, Message, redact
from ..backends.spec import BackendSpec, Prompt, UnknownVariable
from ..checks.registry import CheckContext, CheckError
from ..errors import SpecError
from ..robustness.perturb import SHRINK_CALLS, PerturbSpec, search_flip
from ..suite.cases import Case, Turn, attacked, load_case_file
from ..suite.config import SuiteConfig
from ..verdict.gate import GateTerms
from ..verdict.rows import PERTURB, PREFIX, CaseRow, errored, new_row, perturbed, score
from .state import RunState

STATE_KEY = pytest.StashKey[RunState]()


@dataclass(frozen=True)
class TurnAnswers:
    """One turn of a conversation as it went: the chat sent for its first answer and the answers of its steps."""

    turn: Turn
    sent: tuple[Message, ...]
    steps: tuple[Answer, ...]


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
        # A few-shot pool holding a case's input would inflate its accuracy. An unknown backend is left to
        # the start-up check, which makes it a usage error.
        selected = [suite.backends[name] for name in backends if name in suite.backends]
        for pool in {p.pool for b in selected for p in (b.prompt, *b.tasks.values()) if p.pool}:
            check_leaks(pool, spec.cases, relative(self.path, root))
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
        self.conversation: list[TurnAnswers] = []  # a conversation's turns as they went (``turns:``)
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

    def request(self, case: Case | None = None, history: Sequence[Message] | None = None) -> Request:
        """The backend call ``case`` (this item's case by default) needs; ``history``: a conversation so far,
        the model's own replies and the tools' results in it, instead of the case's messages."""
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
        if prompt.pool is not None:  # dynamic few-shot: the pool's nearest examples, part of the request's key
            chosen = self.state.few_shot.select(self.suite, prompt.pool, case.input_text)
            prompt = replace(prompt, few_shot=(*prompt.few_shot, *chosen))
        spec = self.backend_spec
        unsent = sorted(set(case.options) - self.state.providers.request_options(spec))
        if unsent:  # a provider that cannot send tools or a schema must not pass a case as if it had
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {self.backend_name!r} (provider {spec.provider}) cannot send {', '.join(unsent)}, which case "
                f"{self.row.where} uses; run the case on a backend whose provider supports them (openai, llama_cpp)",
            )
        chat = tuple(prompt.messages(history if history is not None else case.messages))
        return Request(spec, chat, self.row.sample, label, options=case.options)

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
        """Get this case's answer: the one prefetched, or a call now; for a conversation, every turn's."""
        if self.case.turns:
            self.conversation = self.converse()
            return
        self.answer = self.state.answers.answer(self.nodeid, self.request())

    def converse(self) -> list[TurnAnswers]:
        """Hold the case's conversation: each turn's user message is sent with the model's own earlier replies;
        while the model calls tools that the turn has canned results for, the results go back as tool messages
        and the model answers again, at most ``max_steps`` answers a turn. Every answer takes the Answers path
        (prefetch, cache keyed on the whole conversation so far, retries, replay)."""
        history: list[Message] = []
        done: list[TurnAnswers] = []
        calls = 0
        for turn in self.case.turns:
            history.append({"role": "user", "content": turn.user})
            steps: list[Answer] = []
            for _ in range(self.case.max_steps):
                sent = tuple(history)
                # The first answer is the one prefetched under the item's own id; the rest are asked for in turn.
                nodeid = self.nodeid if calls == 0 else f"{self.nodeid}#{calls}"
                answer = self.state.answers.answer(nodeid, self.request(self.case, sent))
                calls += 1
                steps.append(answer)
                reply = answer.completion
                history.append(reply.as_message())
                if not reply.tool_calls or not turn.tool_results:
                    break
                for index, call in enumerate(reply.tool_calls):
                    result = turn.tool_results.get(call.name, {"error": f"no such tool result: {call.name}"})
                    content = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
                    history.append({"role": "tool", "tool_call_id": call.to_openai(index)["id"], "content": content})
            done.append(TurnAnswers(turn, tuple(history[: len(history) - len(steps)]), tuple(steps)))
        return done

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
        if self.case.turns:
            self.publish(self.check_conversation())
        else:
            assert self.answer is not None
            self.publish(replace(self.check(self.case, self.answer.completion), request_key=self.answer.key))
        if self.row.missed:
            raise CaseMiss(self.row)

    def check_conversation(self) -> CaseRow:
        """The row of a conversation: each turn checked on its own answers (all its steps' tool calls, its last
        text), the case passing only when every turn does; figures summed, each turn's kept in ``turns``."""
        secrets = self.state.secrets(self.suite)
        records: list[dict[str, Any]] = []
        checks: list[dict[str, Any]] = []
        for number, answered in enumerate(self.conversation, start=1):
            turn = answered.turn
            case = replace(self.case, messages=answered.sent, expect=turn.expect, format=turn.format)
            row = self.check(case, Completion.combined([step.completion for step in answered.steps]))
            checks += [{**check, "turn": number, "detail": f"turn {number}: {check['detail']}"} for check in row.checks]
            records.append(
                {
                    "turn": number,
                    "user": turn.user,
                    "output": row.output,
                    "tool_calls": row.tool_calls,
                    "checks": row.checks,
                    "passed": row.passed,
                    "format_ok": row.format_ok,
                    "latency_ms": row.latency_ms,
                    "prompt_tokens": row.prompt_tokens,
                    "completion_tokens": row.completion_tokens,
                    "cost_usd": row.cost_usd,
                    "cached": row.cached,
                    # each step's request key and answer, so that a recording replays the whole conversation
                    "steps": [
                        {
                            "key": step.key,
                            "completion": json.loads(redact(json.dumps(asdict(step.completion)), secrets)),
                        }
                        for step in answered.steps
                    ],
                }
            )
        whole = Completion.combined([step.completion for turn in self.conversation for step in turn.steps])
        row = self.check(replace(self.case, expect={}, format={}), whole)  # the figures; the checks are the turns'
        correctness = [r["passed"] for r in records if r["passed"] is not None]
        formats = [r["format_ok"] for r in records if r["format_ok"] is not None]
        return replace(
            row,
            output=str(records[-1]["output"]),
            output_chars=len(str(records[-1]["output"])),
            checks=checks,
            passed=all(correctness) if correctness else None,
            format_ok=all(formats) if formats else None,
            turns=records,
            request_key=self.conversation[0].steps[0].key,
        )

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
