"""The Backend protocol every provider implements, and what a call returns."""

from __future__ import annotations

from collections.abc import Sequence
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
    "skipped" (a circuit breaker refused the call) or None when unclassified; ``endpoint`` is
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
