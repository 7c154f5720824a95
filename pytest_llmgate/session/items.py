"""Collection: a case file becomes one pytest item per case and selected backend."""

from __future__ import annotations

import functools
import itertools
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
from ..checks.judge import Judgement
from ..checks.registry import CheckContext, CheckError
from ..errors import SpecError
from ..robustness.perturb import SHRINK_CALLS, PerturbSpec, search_flip
from ..suite.cases import Case, Turn, attacked, load_case_file
from ..suite.config import SuiteConfig
from ..verdict.gate import GateTerms
from ..verdict.rows import CALIBRATION, PAIRWISE, PERTURB, PREFIX, CaseRow, errored, new_row, perturbed, score
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


def judge_arguments(case: Case) -> list[dict[str, Any]]:
    """The ``judge:`` arguments of ``case``, on its own checks and on each turn's."""
    expectations = [case.expect, *(turn.expect for turn in case.turns)]
    return [expect["judge"] for expect in expectations if "judge" in expect]


@functools.cache  # once per case file, not once per item
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
        yield from self._judging_items(spec.cases, suite, group, gate_terms)
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
            for compared in [a["compare"] for a in judge_arguments(case) if "compare" in a][:1]:
                common = {
                    "case": case,
                    "suite": suite,
                    "backend_name": compared[0],
                    "group": group,
                    "gate_terms": gate_terms,
                }
                yield self._item(
                    PairwiseItem, f"{case.id}.pairwise", "-vs-".join(compared), common, compared=tuple(compared)
                )

    def _judging_items(
        self, cases: Sequence[Case], suite: SuiteConfig, group: str, gate_terms: GateTerms
    ) -> Iterator[CaseItem]:
        """Check the rubrics and compared backends ``cases`` name; yield a calibration item for each rubric with a
        calibration file that no earlier case file of the run has yielded (each judge is measured once a run)."""
        state = self.config.stash[STATE_KEY]
        path = relative(self.path, state.settings.rootdir)
        for case in cases:
            for argument in judge_arguments(case):
                rubric = argument["rubric"]
                if rubric not in suite.rubrics:
                    known = ", ".join(suite.rubrics) or "none: add 'rubrics:' to it"
                    raise SpecError(
                        self.path,
                        case.line,
                        f"case {case.id!r}: no rubric {rubric!r} in {suite.path} (defined: {known})",
                    )
                for name in argument.get("compare", ()):
                    if name not in suite.backends:
                        raise SpecError(
                            self.path,
                            case.line,
                            f"case {case.id!r}: 'compare' names {name!r}, which is not a backend of {suite.path}",
                        )
                spec = suite.rubrics[rubric]
                if spec.calibration is None or (suite.path, rubric) in state.calibrated:
                    continue
                state.calibrated.add((suite.path, rubric))
                anchor = Case(id=f"calibration.{rubric}", category="", messages=(), expect={}, line=spec.line)
                common = {
                    "case": anchor,
                    "suite": suite,
                    "backend_name": spec.judge,
                    "group": group,
                    "gate_terms": gate_terms,
                }
                yield self._item(CalibrationItem, anchor.id, spec.judge, common, rubric=rubric, where=path)

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
        self._properties_of: CaseRow | None = None  # the row user_properties show
        self.answer: Answer | None = None
        self.conversation: list[TurnAnswers] = []  # a conversation's turns as they went (``turns:``)
        self._judge_calls = itertools.count(1)  # names each judge: check's calls apart in the scheduler
        for mark in (case.category, *case.tags):
            if mark:  # a calibration item has no category
                self.add_marker(mark)

    @property
    def backend_spec(self) -> BackendSpec:
        """The config of this item's backend."""
        return self.suite.backend(self.backend_name)

    def sync_properties(self) -> None:
        """Put the JUnit view of ``row`` (the item's result, which its reports carry whole) in user_properties,
        once per row: made when a report needs it, not each time the row changes."""
        if self._properties_of is self.row:
            return
        self._properties_of = self.row
        others = [p for p in self.user_properties if not p[0].startswith(PREFIX)]
        self.user_properties[:] = [*others, *self.row.to_properties()]

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
        # A provider that cannot send tools or a schema must not pass a case as if it had. Said once per backend
        # at start-up (RunState.check_request_options); here for what that did not see (an xdist worker's cases).
        if unsent:
            providers = self.state.providers
            able = [p for p in providers.names() if set(unsent) <= providers.declared(p).request_options]
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {self.backend_name!r} (provider {spec.provider}) cannot send {', '.join(unsent)}, which case "
                f"{self.row.where} uses; run the case on a backend whose provider supports them ({', '.join(able)})",
            )
        chat = tuple(prompt.messages(history if history is not None else case.messages))
        return Request(spec, chat, self.row.sample, label, options=spec.options_for(case.options))

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
        judged: list[Judgement] = []

        def judge(rubric: str, output: str, reference: str | None) -> Judgement:
            nodeid = f"{self.nodeid}#judge{next(self._judge_calls)}"
            found = self.state.judging.judge(self.suite, rubric, case.input_text, output, reference, nodeid)
            judged.append(found)
            return found

        context = CheckContext(self.backend_name, case.messages, prompt, embed, judge=judge)
        spec, secrets = self.backend_spec, self.state.secrets(self.suite)
        try:
            row = score(self.row, case, completion, spec.pricing, secrets, self.state.checks, context)
            return replace(row, judged=[j.to_dict() for j in judged])
        except CheckError as exc:  # a check that could not judge (no embedder): an error of the case, not a miss
            self.row = errored(self.row, str(exc), secrets)
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
        try:
            self.fetch()
            return
        except (BackendError, SpecError) as exc:
            self.row = errored(self.row, str(exc), self.state.secrets(self.suite))
        # Outside the except block, so the error shows as its one line, without a traceback or chain.
        pytest.fail(self.row.error or "", pytrace=False)

    def runtest(self) -> None:
        if self.case.turns:
            self.row = self.check_conversation()
        else:
            assert self.answer is not None
            self.row = replace(self.check(self.case, self.answer.completion), request_key=self.answer.key)
        if self.row.missed:
            raise CaseMiss(self.row)

    def check_conversation(self) -> CaseRow:
        """The row of a conversation: each turn checked on its own answers (all its steps' tool calls, its last
        text), the case passing only when every turn does; figures summed, each turn's kept in ``turns``."""
        secrets = self.state.secrets(self.suite)
        records: list[dict[str, Any]] = []
        checks: list[dict[str, Any]] = []
        judged: list[dict[str, Any]] = []
        for number, answered in enumerate(self.conversation, start=1):
            turn = answered.turn
            case = replace(self.case, messages=answered.sent, expect=turn.expect, format=turn.format)
            row = self.check(case, Completion.combined([step.completion for step in answered.steps]))
            checks += [{**check, "turn": number, "detail": f"turn {number}: {check['detail']}"} for check in row.checks]
            judged += [{**judgement, "turn": number} for judgement in row.judged]
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
            judged=judged,
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
        self.row = perturbed(self.row, result, checked)
        if self.row.missed:
            raise CaseMiss(self.row)


class CalibrationItem(CaseItem):
    """A rubric's judge grading the rubric's labelled examples (its calibration file), and its failing examples
    again with answer-side attacks: the record the Analysis measures the judge's agreement, kappa and injection
    resistance from. It gates nothing itself; a judge below the rubric's ``min_kappa`` leaves its cases unmeasured."""

    def __init__(self, *, rubric: str, where: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.rubric = rubric
        self.row = replace(self.row, kind=CALIBRATION, file=where, id=f"calibration.{rubric}", source="")

    def prefetchable(self) -> Request | None:
        return None  # the examples' calls are queued together when the item runs

    def fetch(self) -> None:
        pass

    def runtest(self) -> None:
        try:
            record = self.state.judging.calibrate(self.suite, self.rubric, self.nodeid)
        except CheckError as exc:
            self.row = errored(self.row, str(exc), self.state.secrets(self.suite))
            pytest.fail(self.row.error or "", pytrace=False)
        failed = [e["error"] for e in record["examples"] if e["error"]]
        self.row = replace(self.row, status="answered", calibration=record)
        if failed:
            pytest.fail(
                f"{len(failed)} of {len(record['examples'])} calibration examples got no verdict: {failed[0]}",
                pytrace=False,
            )

    def reportinfo(self) -> tuple[Path, int, str]:
        spec = self.suite.rubrics[self.rubric]
        return spec.config_path, spec.line - 1, self.name


class PairwiseItem(CaseItem):
    """Two backends' answers to one case compared by the rubric's judge in both orders (``judge: {compare:
    [a, b]}``); a verdict that follows the order is a tie. Compared, not gated."""

    def __init__(self, *, compared: tuple[str, str], **kwargs: Any):
        super().__init__(**kwargs)
        self.compared = compared
        self.row = replace(self.row, kind=PAIRWISE, backend=" vs ".join(compared), must_pass=False)
        self.answers: list[Answer] = []

    def prefetchable(self) -> Request | None:
        return None  # the answers are the backends' own items' requests, served again by the cache

    def fetch(self) -> None:
        for index, name in enumerate(self.compared):
            self.backend_name = name  # request() builds the call of the item's backend: each compared one in turn
            self.answers.append(self.state.answers.answer(f"{self.nodeid}#{index}", self.request()))
        self.backend_name = self.compared[0]

    def runtest(self) -> None:
        argument = next(a for a in judge_arguments(self.case) if "compare" in a)
        secrets = self.state.secrets(self.suite)
        texts = [redact(answer.completion.text, secrets) for answer in self.answers]
        try:
            record = self.state.judging.compare(
                self.suite, argument["rubric"], self.case.input_text, texts, argument.get("reference"), self.nodeid
            )
        except CheckError as exc:
            self.row = errored(self.row, str(exc), secrets)
            pytest.fail(self.row.error or "", pytrace=False)
        winner = record["winner"]
        record = {
            **record,
            "backends": list(self.compared),
            "outputs": texts,
            "winner": None if winner is None else self.compared[winner],
        }
        self.row = replace(self.row, status="answered", pairwise=record, output=" | ".join(texts))
