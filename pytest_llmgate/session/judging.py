"""The run's judges: ``judge:`` checks, calibration sets and pairwise comparisons, each judge call sent through
Answers like any answer (the judge backend's scheduler pool, bound, retries, breaker, response cache and
recordings), so a second run makes no judge call.

A judge call's request holds the rubric text and the prompt template's version in its system message and the
answer in its user message, so the cache key covers the judge's identity, the rubric, the template and the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..answers.source import Answer, Answers, Request
from ..backends.base import BackendError
from ..backends.registry import ProviderRegistry
from ..backends.spec import BackendSpec
from ..checks.judge import (
    Judgement,
    UngradableVerdict,
    comparing_messages,
    grading_messages,
    majority,
    parse_preference,
    parse_verdict,
    preference_schema,
    response_format,
    verdict_schema,
)
from ..checks.registry import CheckError
from ..errors import SpecError
from ..robustness.attacks import answer_attacks
from ..suite.config import SuiteConfig
from ..suite.rubrics import CalibrationExample, RubricSpec, load_calibration
from ..verdict.cost import completion_cost_usd


@dataclass(frozen=True)
class Usage:
    """What a set of judge calls spent, apart from the answers' own figures."""

    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    cached: int = 0
    answers: tuple[dict[str, Any], ...] = ()  # each keyed call's key and answer, for --llm-record

    def plus(self, answer: Answer, spec: BackendSpec) -> Usage:
        """This usage with ``answer``'s call added, priced by the judge's own pricing."""
        done = answer.completion
        cost = completion_cost_usd(spec.pricing, done)
        return Usage(
            round(self.latency_ms + done.latency_s * 1000, 3),
            self.prompt_tokens + done.prompt_tokens,
            self.completion_tokens + done.completion_tokens,
            self.cost_usd + cost,
            self.calls + 1,
            self.cached + done.cached,
            self.answers
            + (() if answer.key is None else ({"key": answer.key, "completion": asdict(replace(done, cached=False))},)),
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            round(self.latency_ms + other.latency_ms, 3),
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
            self.calls + other.calls,
            self.cached + other.cached,
            self.answers + other.answers,
        )

    @classmethod
    def of(cls, judgement: Judgement) -> Usage:
        """What the calls behind ``judgement`` spent."""
        calls = len(judgement.votes)
        return cls(
            judgement.latency_ms,
            judgement.prompt_tokens,
            judgement.completion_tokens,
            judgement.cost_usd,
            calls,
            calls if judgement.cached else 0,
            tuple(dict(answer) for answer in judgement.answers),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, the recorded answers as a list."""
        return {**asdict(self), "answers": list(self.answers)}


class Judging:
    """Grades answers with the judges the suite configs name; every call goes through ``answers``."""

    def __init__(self, answers: Answers, providers: ProviderRegistry):
        self._answers = answers
        self._providers = providers

    def rubric(self, suite: SuiteConfig, name: str) -> RubricSpec:
        """The rubric ``name`` of ``suite``; CheckError when the config has none of that name."""
        if name not in suite.rubrics:
            known = ", ".join(suite.rubrics) or "none"
            raise CheckError(f"no rubric {name!r} in {suite.path} (defined: {known})")
        return suite.rubrics[name]

    def judge(
        self, suite: SuiteConfig, name: str, question: str, answer: str, reference: str | None, nodeid: str
    ) -> Judgement:
        """The judge's majority verdict on ``answer`` to ``question`` by rubric ``name``; CheckError when the
        judge fails or replies with no verdict of the schema (an error of the case, never a pass or a miss)."""
        rubric = self.rubric(suite, name)
        spec = suite.backend(rubric.judge)
        messages = grading_messages(rubric.text, question, answer, reference, rubric.pass_score)
        schema = verdict_schema(rubric.pass_score is not None)
        replies, usage = self._ask(spec, rubric, messages, schema, nodeid, f"{nodeid} [judge {rubric.judge}]")
        graded = []
        for reply in replies:
            try:
                graded.append(parse_verdict(reply, rubric.pass_score))
            except UngradableVerdict as exc:
                raise CheckError(f"judge {rubric.judge} on {name!r}: {exc}") from None
        votes = tuple(passed for passed, _, _ in graded)
        verdict = majority(votes)
        reason = next(why for passed, _, why in graded if passed == verdict)
        return Judgement(
            rubric=name,
            judge=rubric.judge,
            passed=verdict,
            reason=reason,
            votes=votes,
            scores=tuple(score for _, score, _ in graded if score is not None),
            latency_ms=usage.latency_ms,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            cached=usage.cached == usage.calls,
            answers=usage.answers,
        )

    def calibrate(self, suite: SuiteConfig, name: str, nodeid: str) -> dict[str, Any]:
        """Grade every labelled example of rubric ``name``'s calibration file, then each failing example the judge
        failed again with every answer-side attack appended (an answer must not talk the judge into a pass): the
        raw record the Analysis computes agreement, kappa and injection resistance from."""
        rubric = self.rubric(suite, name)
        assert rubric.calibration is not None
        try:
            examples = load_calibration(rubric.calibration)
        except SpecError as exc:  # the file is the user's: the message names its line
            raise CheckError(str(exc)) from None
        clean: list[tuple[str, CalibrationExample, str | None, str]] = [
            (f"{nodeid}#{i}", example, None, example.output) for i, example in enumerate(examples)
        ]
        graded, spent = self._grade_all(suite, rubric, clean)
        # Only a failing answer the judge failed can be talked into a pass: those are attacked, and no other.
        attacked = [
            (f"{job}.{attack}", example, attack, text)
            for (job, example, _, _), record in zip(clean, graded)
            if not example.verdict and record["judge"] is False
            for attack, text in answer_attacks(example.output)
        ]
        more, spent_more = self._grade_all(suite, rubric, attacked)
        graded, spent = graded + more, spent + spent_more
        return {
            "rubric": name,
            "judge": rubric.judge,
            "file": str(rubric.calibration),
            "min_kappa": rubric.min_kappa,
            "samples": rubric.samples,
            "examples": graded,
            "usage": spent.to_dict(),
        }

    def _grade_all(
        self, suite: SuiteConfig, rubric: RubricSpec, jobs: Sequence[tuple[str, CalibrationExample, str | None, str]]
    ) -> tuple[list[dict[str, Any]], Usage]:
        """Each job (node id, example, attack or None, the answer to grade) graded, its calls queued at once within
        the judge's bound: one record per job and what they spent."""
        spec = suite.backend(rubric.judge)
        self._answers.prefetch(
            (f"{job}@{sample}", request)
            for job, example, _, output in jobs
            for sample, request in enumerate(
                self._requests(
                    spec,
                    rubric,
                    grading_messages(rubric.text, example.input, output, example.reference, rubric.pass_score),
                    f"{job} [judge {rubric.judge}]",
                ),
                start=1,
            )
        )
        graded: list[dict[str, Any]] = []
        spent = Usage()
        for job, example, attack, output in jobs:
            record: dict[str, Any] = {"line": example.line, "human": example.verdict, "attack": attack}
            try:
                judgement = self.judge(suite, rubric.name, example.input, output, example.reference, job)
                record.update(judge=judgement.passed, unstable=judgement.unstable, reason=judgement.reason, error=None)
                spent += Usage.of(judgement)
            except CheckError as exc:
                record.update(judge=None, unstable=False, reason="", error=str(exc))
            graded.append(record)
        return graded, spent

    def compare(
        self, suite: SuiteConfig, name: str, question: str, answers: Sequence[str], reference: str | None, nodeid: str
    ) -> dict[str, Any]:
        """Which of two answers meets rubric ``name`` better, asked in both orders: a verdict that follows the
        order (A both times, or B both times) is a tie, as is any tie."""
        rubric = self.rubric(suite, name)
        spec = suite.backend(rubric.judge)
        orders = []
        usage = Usage()
        for first, second, tag in ((0, 1, "ab"), (1, 0, "ba")):
            messages = comparing_messages(rubric.text, question, answers[first], answers[second], reference)
            replies, spent = self._ask(
                spec, rubric, messages, preference_schema(), f"{nodeid}#{tag}", f"{nodeid} [judge {rubric.judge}]"
            )
            usage += spent
            try:
                choices = [parse_preference(reply) for reply in replies]
            except UngradableVerdict as exc:
                raise CheckError(f"judge {rubric.judge} on {name!r}: {exc}") from None
            picked = [{"A": first, "B": second}.get(better) for better, _ in choices]  # the answer's index, or None
            # the samples' majority: an index most samples picked, else a tie
            better = next((i for i in (0, 1) if picked.count(i) * 2 > len(picked)), None)
            orders.append({"shown_first": first, "better": better, "reason": choices[0][1]})
        first_order, second_order = orders[0]["better"], orders[1]["better"]
        winner = first_order if first_order == second_order else None
        return {
            "rubric": name,
            "judge": rubric.judge,
            "orders": orders,
            "winner": winner,  # 0 or 1: the index of the better answer; None: a tie
            "order_dependent": first_order is not None and second_order is not None and first_order != second_order,
            "usage": usage.to_dict(),
        }

    def _requests(
        self,
        spec: BackendSpec,
        rubric: RubricSpec,
        messages: Sequence[dict[str, str]],
        label: str,
        schema: dict[str, Any] | None = None,
    ) -> list[Request]:
        """The rubric's samples of one judge prompt: deterministic (temperature 0, a fixed seed) for one sample,
        draws with seeds seed, seed+1, ... for several, as far as the judge's provider takes sampling parameters;
        the verdict's schema as structured output where the provider sends it (strict parsing either way)."""
        provider = self._providers.declared(spec.provider)
        wanted = {"temperature": rubric.temperature, "max_tokens": rubric.max_tokens}
        options: dict[str, Any] = {key: value for key, value in wanted.items() if key in provider.params}
        if "response_format" in provider.request_options:
            options["response_format"] = response_format(schema or verdict_schema(rubric.pass_score is not None))
        seeded = "seed" in provider.params
        return [
            Request(
                spec,
                tuple(messages),
                sample,
                label,
                options={**options, **({"seed": rubric.seed + sample - 1} if seeded else {})},
            )
            for sample in range(1, rubric.samples + 1)
        ]

    def _ask(
        self,
        spec: BackendSpec,
        rubric: RubricSpec,
        messages: Sequence[dict[str, str]],
        schema: dict[str, Any],
        nodeid: str,
        label: str,
    ) -> tuple[list[str], Usage]:
        """The judge's replies to ``messages``, one per sample, and what they spent; CheckError on a failed call."""
        requests = self._requests(spec, rubric, messages, label, schema)
        keyed = [(f"{nodeid}@{sample}", request) for sample, request in enumerate(requests, start=1)]
        self._answers.prefetch(keyed)
        replies, usage = [], Usage()
        for key, request in keyed:
            try:
                answer = self._answers.answer(key, request)
            except BackendError as exc:
                raise CheckError(f"judge {rubric.judge}: {exc}") from None
            replies.append(answer.completion.text)
            usage = usage.plus(answer, spec)
        return replies, usage
