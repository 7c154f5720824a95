"""A circuit breaker per backend: once a backend looks down, the remaining cases fail at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .base import CAUSE_PHRASES, BackendError, backend_label

T = TypeVar("T")


class CircuitBreaker:
    """Opens after ``threshold`` consecutive calls failed to reach the backend (refused, DNS,
    timeout, reset); while open, calls fail at once without reaching it.

    Any answer closes it and resets the count, even an HTTP error or a malformed response: those
    prove the backend reachable.
    ``cooldown_s`` after opening, one call is let through as a probe: its success closes the
    breaker, its failure keeps it open for another cooldown. Thread-safe.
    """

    def __init__(
        self, backend: str, *, threshold: int = 3, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.backend = backend
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._last: BackendError | None = None
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """True while calls are refused (a probe may still be let through after the cooldown)."""
        with self._lock:
            return self._opened_at is not None

    def guard(self) -> None:
        """Return if a call may proceed; raise BackendError (cause "skipped", 0 attempts) if open."""
        with self._lock:
            if self._opened_at is None:
                return
            if not self._probing and self._clock() - self._opened_at >= self.cooldown_s:
                self._probing = True  # this caller is the probe; the others keep failing fast
                return
            last = self._last
        assert last is not None  # the breaker opens only on a recorded failure
        phrase = CAUSE_PHRASES.get(last.cause or "", str(last.cause))
        raise BackendError(
            f"{backend_label(self.backend, last.endpoint)}: skipped: {self.threshold} consecutive "
            f"connection failures (last: {phrase}); the backend looks down",
            cause="skipped",
            endpoint=last.endpoint,
            attempts=0,
        )

    def record_success(self) -> None:
        """A call answered: close the breaker and reset the count."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self, error: BackendError) -> None:
        """A call failed with ``error``: count it if the backend could not be reached; any other
        failure (HTTP status, malformed answer) proves it reachable and acts as a success."""
        if error.cause == "skipped":
            return  # our own refusal says nothing new about the backend
        if not error.is_connection_failure:
            self.record_success()
            return
        with self._lock:
            was_probe = self._probing
            self._probing = False
            self._failures += 1
            self._last = error
            if self._failures >= self.threshold or was_probe:
                self._opened_at = self._clock()

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` unless the breaker is open; its outcome updates the breaker."""
        self.guard()
        try:
            result = fn()
        except BackendError as error:
            self.record_failure(error)
            raise
        self.record_success()
        return result
