"""A deterministic backend for tests of checks, gates and reports: no model, no network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import Backend, BackendError, Completion, Message, estimate_tokens
from .llama_cpp import LlamaCppProvider
from .openai_provider import OpenAIProvider
from .provider import Provider, Rule, number, rules
from .spec import BackendSpec


class FakeBackend:
    """Answers by rule from ``options``: ``replies`` maps a substring of the last user message
    to an answer (first match wins), ``default_reply`` otherwise; ``fail_on`` substrings raise
    BackendError; ``latency_ms`` is the reported latency (TTFT is half of it)."""

    def __init__(self, spec: BackendSpec):
        self.name = spec.name
        self._replies = dict(spec.options.get("replies", {}))
        self._default = spec.options.get("default_reply", "")
        self._fail_on = list(spec.options.get("fail_on", []))
        self._latency_s = float(spec.options.get("latency_ms", 10)) / 1000

    def complete(self, messages: Sequence[Message]) -> Completion:
        """The scripted answer for the last user message."""
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if any(trigger in question for trigger in self._fail_on):
            raise BackendError(f"backend {self.name!r}: simulated outage")
        text = next((reply for key, reply in self._replies.items() if key in question), self._default)
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
        return Completion(text, prompt_tokens, estimate_tokens(text), self._latency_s, self._latency_s / 2)

    def close(self) -> None:
        """Nothing to release."""


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _replies(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(reply, str) for reply in value.values())


OPTIONS = rules(
    replies=Rule(_replies, "a mapping of text to look for to the reply (a string)"),
    default_reply=Rule(lambda value: isinstance(value, str), "a string"),
    fail_on=Rule(_strings, "a list of strings"),
    latency_ms=number(0),
)


class FakeProvider(Provider):
    """The scripted backend. It stands in for a real one in tests, so it takes (and ignores) the params
    and settings of the built-in providers; its own settings are its ``options``."""

    name = "fake"
    params = rules(**{**LlamaCppProvider.params, **OpenAIProvider.params})
    settings = rules(**{**LlamaCppProvider.settings, **OpenAIProvider.settings})

    def check_options(self, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Only the options FakeBackend reads, each of its type."""
        problems = []
        for key, value in options.items():
            rule = OPTIONS.get(key)
            if rule is None:
                problems.append((key, f"unknown option {key!r} of provider fake; known: {', '.join(OPTIONS)}"))
            elif (problem := rule.problem(key, value)) is not None:
                problems.append((key, problem))
        return problems

    def make(self, spec: BackendSpec) -> Backend:
        """A FakeBackend."""
        return FakeBackend(spec)
