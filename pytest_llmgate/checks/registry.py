"""Per-case checks: pure functions from a model's output and an expectation to a CheckResult.

Correctness checks (a case's ``expect:``) decide whether the answer is right; format checks
(``format:``) decide whether it has the required shape. Both kinds are counted separately.
A CheckRegistry holds the check types by kind and name; plugins add theirs to a registry of their own.
A check that needs more than the answer and its argument (the backend's prompt, the case's chat) takes a
CheckContext as its third parameter: nothing rides in a check's argument that the user did not write.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from ..backends.base import ToolCall
from ..backends.spec import Prompt
from .builtin import (
    boolean_argument,
    check_contains,
    check_contains_all,
    check_contains_any,
    check_equals,
    check_fields,
    check_format_regex,
    check_json,
    check_label,
    check_max_chars,
    check_max_words,
    check_no_prompt_leak,
    check_not_contains,
    check_one_of,
    check_regex,
    fields_argument,
    leak_argument,
    pattern_argument,
    positive_int_argument,
    string_argument,
    strings_argument,
)
from .judge import Judgement, check_judge, judge_argument
from .schema import check_schema, schema_argument
from .similar import check_similar, similar_argument
from .text import clip
from .tools import check_no_tool_call, check_tool_call, no_tool_call_argument, tool_call_argument

CheckKind = Literal["correctness", "format"]
CORRECTNESS: CheckKind = "correctness"
FORMAT: CheckKind = "format"
KINDS: tuple[CheckKind, ...] = (CORRECTNESS, FORMAT)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one output."""

    name: str
    kind: CheckKind
    passed: bool
    detail: str
    score: float | None = None  # partial credit in [0, 1] where a check has one (fields)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for reports."""
        data = {"name": self.name, "kind": self.kind, "passed": self.passed, "detail": self.detail}
        if self.score is not None:
            data["score"] = self.score
        return data


@dataclass(frozen=True)
class CheckContext:
    """What a check may know beyond the answer and its argument: the case's chat as sent, the
    backend that answered with the prompt it sent before the case, the run's embedder (``embed``: texts in, one
    vector each out) and judges (``judge``), None where the run has none: injected, so that checks call nothing."""

    backend: str = ""
    messages: tuple[Mapping[str, str], ...] = ()
    prompt: Prompt = field(default_factory=Prompt)
    embed: Callable[[Sequence[str]], list[list[float]]] | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # the tools the answer called (of a conversation's turn: all its steps')
    # the run's judges for ``judge:`` checks: (rubric, answer, reference) in, the Judgement out; None: no judges
    judge: Callable[[str, str, str | None], Judgement] | None = None


class CheckError(Exception):
    """A check could not judge the answer (``similar:`` with no embedder, a judge that failed or answered no
    verdict): an error of the case, never a pass or a miss. ``str(error)`` is one line."""


CheckOutcome = tuple[bool, str, float | None]  # passed, detail, score (partial credit) or None


@dataclass(frozen=True)
class CheckSpec:
    """A check function and the validator of its argument (returns what was expected, or None).
    ``run`` takes ``(output, argument)``, or ``(output, argument, context)`` when it needs the context."""

    run: Callable[..., CheckOutcome]
    validate: Callable[[Any], str | None]

    @cached_property
    def takes_context(self) -> bool:
        """Whether ``run`` has a third parameter for the CheckContext (read once: a signature costs 0.1 ms)."""
        parameters = inspect.signature(self.run).parameters.values()
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in parameters)

    def __call__(self, output: str, argument: Any, context: CheckContext) -> CheckOutcome:
        return self.run(output, argument, context) if self.takes_context else self.run(output, argument)


_BUILTINS: Mapping[str, Mapping[str, CheckSpec]] = {
    CORRECTNESS: {
        "label": CheckSpec(check_label, string_argument),
        "equals": CheckSpec(check_equals, string_argument),
        "contains": CheckSpec(check_contains, string_argument),
        "contains_any": CheckSpec(check_contains_any, strings_argument),
        "contains_all": CheckSpec(check_contains_all, strings_argument),
        "not_contains": CheckSpec(check_not_contains, strings_argument),
        "regex": CheckSpec(check_regex, pattern_argument),
        "no_prompt_leak": CheckSpec(check_no_prompt_leak, leak_argument),
        "fields": CheckSpec(check_fields, fields_argument),
        "similar": CheckSpec(check_similar, similar_argument),
        "judge": CheckSpec(check_judge, judge_argument),
        "tool_call": CheckSpec(check_tool_call, tool_call_argument),
        "no_tool_call": CheckSpec(check_no_tool_call, no_tool_call_argument),
    },
    FORMAT: {
        "one_of": CheckSpec(check_one_of, strings_argument),
        "json": CheckSpec(check_json, boolean_argument),
        "schema": CheckSpec(check_schema, schema_argument),
        "max_words": CheckSpec(check_max_words, positive_int_argument),
        "max_chars": CheckSpec(check_max_chars, positive_int_argument),
        "regex": CheckSpec(check_format_regex, pattern_argument),
    },
}


class CheckRegistry:
    """The check types cases may use, by kind (correctness or format) and name; starts with the built-ins.

    Each run (or plugin) makes its own, so registering a check never changes another run's checks.
    """

    def __init__(self) -> None:
        self._specs: dict[str, dict[str, CheckSpec]] = {kind: dict(specs) for kind, specs in _BUILTINS.items()}

    def register(
        self,
        kind: str,
        name: str,
        run: Callable[..., CheckOutcome],
        validate: Callable[[Any], str | None],
    ) -> None:
        """Add check ``name`` of ``kind``: ``run(output, argument[, context]) -> (passed, detail, score)`` and
        ``validate(argument) -> what was expected, or None``; ValueError for a duplicate or unknown kind."""
        specs = self._of_kind(kind)
        if not isinstance(name, str) or not name:
            raise ValueError(f"a check name must be a non-empty string, got {name!r}")
        if name in specs:
            raise ValueError(f"a {kind} check named {name!r} is already registered")
        specs[name] = CheckSpec(run, validate)

    def names(self, kind: str) -> tuple[str, ...]:
        """The check names of ``kind``, sorted."""
        return tuple(sorted(self._of_kind(kind)))

    def validate(self, kind: str, name: str, argument: Any) -> str | None:
        """Why ``name: argument`` is not a valid ``kind`` check, or None when it is."""
        specs = self._of_kind(kind)
        if name not in specs:
            return f"unknown {kind} check {clip(repr(name))}; known: {', '.join(self.names(kind))}"
        expected = specs[name].validate(argument)
        return f"{name!r} must be {expected}" if expected else None

    def run(
        self, output: str, expect: Mapping[str, Any], fmt: Mapping[str, Any], context: CheckContext | None = None
    ) -> list[CheckResult]:
        """Run every correctness check in ``expect`` and format check in ``fmt`` on ``output``."""
        context = context or CheckContext()
        results = []
        for kind, specs in ((CORRECTNESS, expect), (FORMAT, fmt)):
            for name, argument in specs.items():
                passed, detail, score = self._of_kind(kind)[name](output, argument, context)
                results.append(CheckResult(name, kind, passed, detail, score))
        return results

    def _of_kind(self, kind: str) -> dict[str, CheckSpec]:
        if kind not in self._specs:
            raise ValueError(f"unknown check kind {kind!r}; use one of {', '.join(KINDS)}")
        return self._specs[kind]


# The built-ins, for callers that take no registry; never register into it, make a CheckRegistry().
DEFAULT_CHECKS = CheckRegistry()
