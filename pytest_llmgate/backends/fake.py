"""A deterministic backend for tests of checks, gates and reports: no model, no network."""

from __future__ import annotations

from collections.abc import Sequence

from .base import BackendError, Completion, Message, estimate_tokens
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
