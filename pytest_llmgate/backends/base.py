"""The Backend protocol every provider implements, and what a call returns."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# A chat message: role and content, and for an assistant's call of tools its ``tool_calls`` (OpenAI's shape),
# for a tool's answer its ``tool_call_id``.
Message = dict[str, Any]
# What a request may ask of a backend beyond the chat; a provider lists those it honours (Provider.request_options).
REQUEST_OPTIONS = ("tools", "tool_choice", "response_format")


def schema_as_json_object(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` in llama-cpp-python's dialect (in-process, and its server): OpenAI's ``{type: json_schema,
    json_schema: {schema}}`` becomes ``{type: json_object, schema}``, which it compiles to a grammar."""
    form = options.get("response_format")
    if isinstance(form, Mapping) and form.get("type") == "json_schema":
        schema = (form.get("json_schema") or {}).get("schema", {})
        return {**options, "response_format": {"type": "json_object", "schema": schema}}
    return dict(options)


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool by the model, the same whichever provider made it. ``arguments`` is the parsed
    JSON, or the raw text when it is not valid JSON (``valid`` False): a format failure, shown as written."""

    name: str
    arguments: Any
    id: str = ""
    valid: bool = True

    @classmethod
    def parsed(cls, name: str, raw: Any, call_id: str = "") -> ToolCall:
        """A call from a provider's ``arguments`` (a JSON text, or already a mapping)."""
        if not isinstance(raw, str):
            return cls(name, raw if raw is not None else {}, call_id)
        try:
            return cls(name, json.loads(raw) if raw.strip() else {}, call_id)
        except ValueError:
            return cls(name, raw, call_id, valid=False)

    @classmethod
    def from_openai(cls, calls: object) -> tuple[ToolCall, ...]:
        """The calls of an OpenAI-style ``message.tool_calls`` list (entries that name no function are dropped)."""
        made = []
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                made.append(cls.parsed(function["name"], function.get("arguments"), str(call.get("id") or "")))
        return tuple(made)

    def to_openai(self, index: int) -> dict[str, Any]:
        """This call as an assistant message carries it back to the model (an id made up when it had none)."""
        arguments = self.arguments if not self.valid else json.dumps(self.arguments, ensure_ascii=False)
        return {
            "id": self.id or f"call_{index}",
            "type": "function",
            "function": {"name": self.name, "arguments": arguments},
        }

    def shown(self) -> str:
        """``name({...})`` for messages and reports."""
        arguments = self.arguments if not self.valid else json.dumps(self.arguments, ensure_ascii=False)
        return f"{self.name}({arguments})"


@dataclass(frozen=True)
class Completion:
    """One answer with its measured cost drivers. Times are seconds; tokens come from the backend."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    ttft_s: float
    tokens_estimated: bool = False  # True when the backend gave no usage and counts were estimated
    cached_prompt_tokens: int = 0  # prompt tokens served from a prefix cache
    cached: bool = False  # True when the answer came from the response cache or a recording, not a call
    cost_usd: float | None = (
        None  # what the backend itself says the call cost (an application's own bill); None: priced
    )
    tool_calls: tuple[ToolCall, ...] = ()  # the tools the model called, in order

    @classmethod
    def combined(cls, parts: Sequence[Completion]) -> Completion:
        """The answers of one conversation turn's steps as one: the last text, every tool call in order, the
        tokens, time and cost summed (the time to first token is the first step's)."""
        costs = [part.cost_usd for part in parts]
        return cls(
            text=parts[-1].text,
            prompt_tokens=sum(part.prompt_tokens for part in parts),
            completion_tokens=sum(part.completion_tokens for part in parts),
            latency_s=sum(part.latency_s for part in parts),
            ttft_s=parts[0].ttft_s,
            tokens_estimated=any(part.tokens_estimated for part in parts),
            cached_prompt_tokens=sum(part.cached_prompt_tokens for part in parts),
            cached=all(part.cached for part in parts),
            cost_usd=None if None in costs else sum(cost or 0.0 for cost in costs),
            tool_calls=tuple(call for part in parts for call in part.tool_calls),
        )

    def as_message(self) -> Message:
        """The model's reply as the next request's history holds it: its text and its tool calls."""
        message: Message = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [call.to_openai(index) for index, call in enumerate(self.tool_calls)]
        return message


# Causes that say the backend could not be reached at all; a circuit breaker counts only these.
CONNECTION_CAUSES = frozenset({"refused", "dns", "timeout", "reset"})
CAUSE_PHRASES = {
    "refused": "connection refused",
    "dns": "DNS lookup failed",
    "timeout": "timed out",
    "reset": "connection reset",
}


class BackendError(Exception):
    """The backend could not answer (outage, timeout, HTTP error, malformed response, model failure).

    Reported as a pytest error, never counted as a model miss. ``str(error)`` is one line.
    ``cause`` is "refused", "dns", "timeout", "reset", "http <status>", "malformed", "model",
    "skipped" (a circuit breaker refused the call), "overloaded" (Overloaded: queued again, never shown)
    or None when unclassified; ``endpoint`` is
    host[:port]; ``attempts`` counts the requests made (0 when none was); ``transient`` is True
    when the same request may succeed later.
    """

    def __init__(
        self,
        message: str,
        *,
        cause: str | None = None,
        endpoint: str | None = None,
        attempts: int = 1,
        transient: bool = False,
    ):
        super().__init__(message)
        self.cause = cause
        self.endpoint = endpoint
        self.attempts = attempts
        self.transient = transient

    @property
    def is_connection_failure(self) -> bool:
        """True when the backend could not be reached (refused, DNS, timeout, reset)."""
        return self.cause in CONNECTION_CAUSES


# Signs that a server takes fewer calls at once than it is sent: a cause -> how a note names it.
OVERLOAD_SIGNS = {
    "http 429": "HTTP 429 (rate limited)",
    "http 503": "HTTP 503 (overloaded)",
    "interrupted": "interrupted streams",
    "reset": "connection resets",
    "timeout": "timeouts",
}


class Overloaded(BackendError):
    """An attempt failed with a sign of overload and the call's admission asked for it back: the caller
    queues it again under a lower bound. Never shown to a user; ``sign`` is a key of OVERLOAD_SIGNS."""

    def __init__(self, message: str, *, sign: str, endpoint: str | None = None, retry_after_s: float | None = None):
        super().__init__(message, cause="overloaded", endpoint=endpoint, transient=True)
        self.sign = sign
        self.retry_after_s = retry_after_s  # the server's Retry-After: wait that long before queueing again


class Admission(Protocol):
    """The slot a call was admitted to by its backend's concurrency limit (answers/scheduler.py)."""

    attempts_charged: int  # attempts this call already spent before being queued again (0 or 1)

    def overloaded(self, sign: str) -> bool:
        """Record that an attempt saw ``sign`` (a key of OVERLOAD_SIGNS); True: raise Overloaded so the
        call is queued again under the lowered bound, False: retry here as for any transient fault."""
        ...


_ADMISSION: ContextVar[Admission | None] = ContextVar("llmgate_admission", default=None)


@contextmanager
def admitted(admission: Admission) -> Iterator[None]:
    """Make ``admission`` the current call's slot while a backend answers it (in this thread)."""
    token = _ADMISSION.set(admission)
    try:
        yield
    finally:
        _ADMISSION.reset(token)


def current_admission() -> Admission | None:
    """The slot of the call this thread is answering, if a concurrency limit admitted it."""
    return _ADMISSION.get()


def backend_label(name: str, endpoint: str | None) -> str:
    """How messages name a backend: "backend 'api' (127.0.0.1:8123)"."""
    return f"backend {name!r} ({endpoint})" if endpoint else f"backend {name!r}"


@runtime_checkable
class Backend(Protocol):
    """A model that answers a chat. Implementations load lazily and are reused for a whole run."""

    name: str

    def complete(self, messages: Sequence[Message]) -> Completion:
        """Answer ``messages``; raise BackendError when the backend fails. A provider that honours request options
        (REQUEST_OPTIONS, declared as Provider.request_options) also takes them as keywords: ``tools=[...]``."""
        ...

    def close(self) -> None:
        """Release the model, connections or processes held."""
        ...


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for backends that report no usage."""
    return max(1, round(len(text) / 4)) if text else 0


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced by '***'."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
