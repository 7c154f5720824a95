"""Any OpenAI-compatible chat endpoint through the official openai SDK, streamed to time the first token.

``timeout_s`` is one deadline for a whole call, retries included. Connection failures, timeouts and
HTTP 408/409/429/5xx are retried up to ``max_retries`` times with exponential backoff and jitter,
honouring Retry-After. Anything that is not a well-formed answer raises a one-line BackendError.
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from .base import CAUSE_PHRASES, BackendError, Completion, Message, backend_label, estimate_tokens, redact
from .spec import BackendSpec

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

RETRIED_STATUSES = frozenset({408, 409, 429})
MAX_BACKOFF_S = 8.0
SERVER_MESSAGE_CHARS = 160
MIN_TIMEOUT_S = 0.001  # a zero timeout would make the socket non-blocking instead of failing fast


class MalformedResponse(Exception):
    """A response that arrived whole but is not a usable answer."""


class StreamedError(Exception):
    """An error the server sent as an event inside a stream."""


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """The body's lines, decoded strictly: bytes that are not UTF-8 raise instead of turning into U+FFFD."""
    pending = b""
    for chunk in chunks:
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8")
    if pending:
        yield pending.decode("utf-8")


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of server-sent ``data:`` lines up to ``[DONE]``, reading the body to its end."""
    done = False
    for line in lines:
        if done or not line.startswith("data:"):
            continue  # comments, 'event:' lines, blank separators, and the rest of the body after [DONE]
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            done = True
            continue
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise MalformedResponse("an event that is not a JSON object")
        if payload.get("error"):
            error = payload["error"]
            raise StreamedError(error.get("message", error) if isinstance(error, dict) else error)
        yield payload


@dataclass(frozen=True)
class _Failure:
    """One failed attempt, classified."""

    cause: str | None
    what: str  # the message's core, e.g. "connection refused" or "HTTP 503 Service Unavailable"
    retryable: bool
    retry_after_s: float | None = None


class OpenAIBackend:
    """Chat completions over HTTP. The API key is read from the environment and never stored in output."""

    def __init__(self, spec: BackendSpec, *, backoff_s: float = 0.5):
        import openai  # imported only when an openai backend is used

        self.name = spec.name
        self._openai = openai
        self._model = spec.model
        self._params = dict(spec.params)
        self._stream = spec.stream
        self._timeout_s = spec.timeout_s
        self._max_retries = spec.max_retries
        self._backoff_s = backoff_s
        self._jitter = random.Random()
        api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self._secrets = [api_key]
        self._watchdog = _Watchdog()
        # One client per server of a pool (several base_url), taken in turn by each attempt.
        self._clients = [
            openai.OpenAI(
                base_url=url,
                # Local servers need no key, but the SDK insists on one.
                api_key=api_key or "no-key",
                max_retries=0,  # retried here, so that all attempts share one deadline
                http_client=openai.DefaultHttpxClient(event_hooks={"response": [self._watchdog.arm]}),
            )
            for url in spec.base_urls or (None,)
        ]
        self._turns = itertools.count()
        self.endpoint = ", ".join(endpoint_of(str(client.base_url)) for client in self._clients)

    def complete(self, messages: Sequence[Message]) -> Completion:
        """Answer within ``timeout_s``, retrying transient faults; any failure is a one-line BackendError."""
        deadline = time.monotonic() + self._timeout_s
        attempts = 0
        while True:
            attempts += 1
            client = self._clients[next(self._turns) % len(self._clients)]
            try:
                with self._watchdog.deadline(deadline):
                    return (
                        self._streamed(client, messages, deadline)
                        if self._stream
                        else self._whole(client, messages, deadline)
                    )
            except Exception as exc:
                failure = self._classify(exc, deadline)
            delay = self._retry_delay(failure, attempts, deadline)
            if delay is None:
                raise self._error(failure, attempts) from None  # the chain may hold the key
            time.sleep(delay)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        for client in self._clients:
            client.close()

    def _whole(self, client: Any, messages: Sequence[Message], deadline: float) -> Completion:
        start = time.perf_counter()
        response = client.chat.completions.create(
            model=self._model, messages=_chat(messages), timeout=_time_left(deadline), **self._params
        )
        latency = time.perf_counter() - start
        choices = getattr(response, "choices", None)
        if not choices:
            raise MalformedResponse("no choices")
        message = getattr(choices[0], "message", None)
        if message is None:
            raise MalformedResponse("a choice without a message")
        if message.content is None and not getattr(message, "tool_calls", None):
            raise MalformedResponse("a message without content")
        text = message.content or ""
        usage = response.usage
        if usage is None:
            return _estimated(messages, text, latency, latency)
        return Completion(
            text,
            usage.prompt_tokens,
            usage.completion_tokens,
            latency,
            latency,
            cached_prompt_tokens=_cached_tokens(usage),
        )

    def _streamed(self, client: Any, messages: Sequence[Message], deadline: float) -> Completion:
        start = time.perf_counter()
        first_token_at: float | None = None
        parts: list[str] = []
        usage = None
        finished = False  # a finish_reason ("stop", "length", ...) proves the answer is whole
        # The raw response, its server-sent events read here to the end of the body: the SDK's own
        # stream stops at [DONE] and drops the connection, so every call would open a new one.
        with client.chat.completions.with_streaming_response.create(
            model=self._model,
            messages=_chat(messages),
            stream=True,
            stream_options={"include_usage": True},
            timeout=_time_left(deadline),
            **self._params,
        ) as response:
            for chunk in _events(_lines(response.iter_bytes())):
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or ():
                    finished = finished or bool(choice.get("finish_reason"))
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        if first_token_at is None:
                            first_token_at = time.perf_counter()
                        parts.append(content)
                if time.monotonic() >= deadline:
                    raise TimeoutError("the deadline passed while streaming")
        if not finished:
            raise MalformedResponse("stream ended without finish_reason")
        end = time.perf_counter()
        text = "".join(parts)
        ttft = (first_token_at or end) - start
        if usage is None:
            # Some servers (llama_cpp.server among them) send no usage in a stream: estimate, and say so.
            return _estimated(messages, text, end - start, ttft)
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return Completion(
            text, usage["prompt_tokens"], usage["completion_tokens"], end - start, ttft, cached_prompt_tokens=cached
        )

    def _classify(self, exc: BaseException, deadline: float) -> _Failure:
        """What went wrong in one attempt, read from the exception and its chain."""
        if isinstance(exc, self._openai.APIStatusError):
            return self._status_failure(exc)
        if time.monotonic() >= deadline:
            # A timeout fired or the watchdog cut the connection: either way the time ran out.
            return _Failure("timeout", self._timed_out, True)
        chain = list(_chain(exc))
        for link in chain:
            if isinstance(link, ConnectionRefusedError):
                return _Failure("refused", CAUSE_PHRASES["refused"], True)
            if isinstance(link, socket.gaierror):
                # Only a temporary resolver failure is worth retrying; an unknown name stays unknown.
                return _Failure("dns", f"{CAUSE_PHRASES['dns']} ({link.strerror})", link.errno == socket.EAI_AGAIN)
        if any(
            isinstance(link, (TimeoutError, self._openai.APITimeoutError)) or _named(link, "TimeoutException")
            for link in chain
        ):
            return _Failure("timeout", self._timed_out, True)
        if any(_named(link, "ConnectError") for link in chain):
            return _Failure("refused", f"cannot connect ({_os_detail(chain)})", True)
        if any(_named(link, "RemoteProtocolError") for link in chain):
            return _Failure("reset", "connection closed before the response was complete", True)
        if any(isinstance(link, ConnectionError) or _named(link, "NetworkError") for link in chain):
            return _Failure("reset", CAUSE_PHRASES["reset"], True)
        # A garbled or cut answer is usually a proxy or server glitch: worth another attempt.
        if isinstance(exc, StreamedError):
            return _Failure("model", f"the server reported an error: {self._one_line(str(exc))}", False)
        if isinstance(exc, MalformedResponse):
            return _Failure("malformed", f"malformed response: {exc}", True)
        if isinstance(exc, UnicodeDecodeError):
            return _Failure("malformed", "malformed response: bytes that are not UTF-8", True)
        if isinstance(exc, json.JSONDecodeError):
            return _Failure("malformed", f"malformed response: invalid JSON: {exc.msg} (char {exc.pos})", True)
        if isinstance(exc, self._openai.APIResponseValidationError) or _named(exc, "ValidationError"):
            return _Failure("malformed", "malformed response: unexpected JSON shape", True)
        if isinstance(exc, self._openai.APIError):  # an error event inside a stream
            return _Failure(
                "model", f"the server reported an error: {self._server_message(exc.body) or exc.message}", False
            )
        return _Failure(None, f"unexpected {type(exc).__name__}: {self._one_line(str(exc))}", False)

    @property
    def _timed_out(self) -> str:
        return f"{CAUSE_PHRASES['timeout']} after timeout_s={self._timeout_s:g} s"

    def _status_failure(self, exc: Any) -> _Failure:
        status = exc.status_code
        try:
            what = f"HTTP {status} {HTTPStatus(status).phrase}"
        except ValueError:
            what = f"HTTP {status}"
        message = self._server_message(exc.body)
        if message:
            what += f": {message}"
        retry_after = _retry_after_s(exc.response.headers)
        if retry_after is not None:
            what += f" (Retry-After {retry_after:g} s)"
        return _Failure(f"http {status}", what, status in RETRIED_STATUSES or status >= 500, retry_after)

    def _server_message(self, body: object) -> str:
        """The error message in a server's error body, on one line, secrets removed, shortened."""
        if isinstance(body, Mapping):
            inner = body.get("error")
            body = inner.get("message") if isinstance(inner, Mapping) else body.get("message", inner)
        return self._one_line(str(body)) if body else ""

    def _one_line(self, text: str) -> str:
        # Redact before shortening, so that a key cut in two cannot slip through.
        text = " ".join(redact(text, self._secrets).split())
        return text if len(text) <= SERVER_MESSAGE_CHARS else text[: SERVER_MESSAGE_CHARS - 1] + "…"

    def _retry_delay(self, failure: _Failure, attempts: int, deadline: float) -> float | None:
        """Seconds to wait before the next attempt; None when there is none (not retryable, no
        retries left, or the wait would pass the deadline)."""
        if not failure.retryable or attempts > self._max_retries:
            return None
        if failure.retry_after_s is not None:
            delay = failure.retry_after_s
        else:
            delay = min(MAX_BACKOFF_S, self._backoff_s * 2 ** (attempts - 1)) * self._jitter.uniform(0.5, 1.0)
        return delay if time.monotonic() + delay < deadline else None

    def _error(self, failure: _Failure, attempts: int) -> BackendError:
        message = f"{backend_label(self.name, self.endpoint)}: {failure.what}"
        if attempts > 1:
            message += f" after {attempts} attempts"
        if failure.retryable and attempts <= self._max_retries and failure.cause != "timeout":
            message += f"; no time left to retry within timeout_s={self._timeout_s:g}"
        return BackendError(
            redact(message, self._secrets),
            cause=failure.cause,
            endpoint=self.endpoint,
            attempts=attempts,
            transient=failure.retryable,
        )


class _Watchdog:
    """Cuts a response's connection when its call's deadline passes: a server that trickles
    bytes never trips a per-read timeout. The deadline is per thread, as calls may run concurrently."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def deadline(self, deadline: float) -> Iterator[None]:
        """Watch the responses this thread receives until ``deadline``."""
        self._local.deadline = deadline
        self._local.timers = []
        try:
            yield
        finally:
            for timer in self._local.timers:
                timer.cancel()
            self._local.deadline = None

    def arm(self, response: Any) -> None:
        """httpx response hook, run once the headers arrived: schedule the cut at the deadline."""
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), _cut_connection, (response,))
        timer.daemon = True
        timer.start()
        self._local.timers.append(timer)


def _cut_connection(response: Any) -> None:
    """Shut down the socket under ``response``: a read blocked on it returns at once."""
    if response.is_closed:
        return  # answered in time; its connection may already serve another request
    network_stream = response.extensions.get("network_stream")
    sock = network_stream.get_extra_info("socket") if network_stream is not None else None
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        # socket.socket's own shutdown, not SSLSocket's, which would also drop the TLS state under the reader.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def endpoint_of(url: str) -> str:
    """host[:port] of ``url``: never the scheme, credentials or path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def _chat(messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
    return cast("list[ChatCompletionMessageParam]", list(messages))


def _time_left(deadline: float) -> float:
    return max(MIN_TIMEOUT_S, deadline - time.monotonic())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, innermost last."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _named(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is an instance of a class called ``name``; httpx and httpx2 share class names."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def _os_detail(chain: list[BaseException]) -> str:
    errors = [link for link in chain if isinstance(link, OSError)]
    return (errors[-1].strerror or str(errors[-1])) if errors else "no detail"


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); None if absent or unreadable."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError):
        return None


def _cached_tokens(usage: Any) -> int:
    details = getattr(usage, "prompt_tokens_details", None)
    return getattr(details, "cached_tokens", None) or 0


def _estimated(messages: Sequence[Message], text: str, latency: float, ttft: float) -> Completion:
    prompt = sum(estimate_tokens(m["content"]) + 4 for m in messages)  # ~4 tokens of chat markup per turn
    return Completion(text, prompt, estimate_tokens(text), latency, ttft, tokens_estimated=True)
