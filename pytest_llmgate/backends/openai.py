"""Any OpenAI-compatible chat endpoint through the official openai SDK, streamed to time the first token."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from ..config import BackendSpec
from .base import BackendError, Completion, Message, estimate_tokens, redact


class OpenAIBackend:
    """Chat completions over HTTP. The API key is read from the environment and never stored in output."""

    def __init__(self, spec: BackendSpec):
        import openai  # imported only when an openai backend is used

        self.name = spec.name
        self._model = spec.model
        self._params = dict(spec.params)
        self._stream = spec.stream
        api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self._secrets = [api_key]
        self._errors = (openai.OpenAIError,)
        self._client = openai.OpenAI(
            base_url=spec.base_url or None,
            # Local servers need no key, but the SDK insists on one.
            api_key=api_key or "no-key",
            timeout=spec.timeout_s,
            max_retries=spec.max_retries,
        )

    def complete(self, messages: Sequence[Message]) -> Completion:
        """Answer over HTTP; transport and API failures become BackendError with secrets removed."""
        try:
            return self._streamed(messages) if self._stream else self._whole(messages)
        except self._errors as exc:
            raise BackendError(f"backend {self.name!r}: {type(exc).__name__}: {redact(str(exc), self._secrets)}") from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _whole(self, messages: Sequence[Message]) -> Completion:
        start = time.perf_counter()
        response = self._client.chat.completions.create(model=self._model, messages=list(messages), **self._params)
        latency = time.perf_counter() - start
        text = response.choices[0].message.content or "" if response.choices else ""
        usage = response.usage
        if usage is None:
            return _estimated(messages, text, latency, latency)
        return Completion(text, usage.prompt_tokens, usage.completion_tokens, latency, latency,
                          cached_prompt_tokens=_cached_tokens(usage))

    def _streamed(self, messages: Sequence[Message]) -> Completion:
        start = time.perf_counter()
        first_token_at: float | None = None
        parts: list[str] = []
        usage = None
        stream = self._client.chat.completions.create(
            model=self._model,
            messages=list(messages),
            stream=True,
            stream_options={"include_usage": True},
            **self._params,
        )
        with stream:
            for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    content = choice.delta.content if choice.delta else None
                    if content:
                        if first_token_at is None:
                            first_token_at = time.perf_counter()
                        parts.append(content)
        end = time.perf_counter()
        text = "".join(parts)
        ttft = (first_token_at or end) - start
        if usage is None:
            # Some servers (llama_cpp.server among them) send no usage in a stream: estimate, and say so.
            return _estimated(messages, text, end - start, ttft)
        return Completion(text, usage.prompt_tokens, usage.completion_tokens, end - start, ttft,
                          cached_prompt_tokens=_cached_tokens(usage))


def _cached_tokens(usage: Any) -> int:
    details = getattr(usage, "prompt_tokens_details", None)
    return getattr(details, "cached_tokens", None) or 0


def _estimated(messages: Sequence[Message], text: str, latency: float, ttft: float) -> Completion:
    prompt = sum(estimate_tokens(m["content"]) + 4 for m in messages)  # ~4 tokens of chat markup per turn
    return Completion(text, prompt, estimate_tokens(text), latency, ttft, tokens_estimated=True)
