"""The Backend protocol every provider implements, and what a call returns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Message = dict[str, str]


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
        """Answer ``messages``; raise BackendError when the backend fails."""
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
