"""Any OpenAI-compatible chat endpoint, streamed to time the first token.

The openai SDK gives the HTTP client, the default endpoint and the headers (its key and client
headers); the request is built, sent and read here: the SDK's own request path cost 1.1 to 1.6 ms more CPU a call (its parameter transforms, an idempotency key; see
benchmarks/client_cpu.py), and under the GIL that client CPU is what bounds many concurrent calls.

``timeout_s`` is one deadline for a whole call, retries included; ``attempt_timeout_s`` cuts one
attempt (by default half of ``timeout_s`` when a retry is allowed), so a server that hangs once is
asked again within the deadline. Connection failures, timeouts and HTTP 408/409/429/5xx are retried up
to ``max_retries`` times with exponential backoff and jitter, honouring Retry-After. A sign of overload
(429, 503, an interrupted stream, a reset, a timeout) is first offered to the call's concurrency limit,
which may lower its bound and queue the call again. Anything that is not a well-formed answer raises a
one-line BackendError.
"""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import itertools
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from .base import (
    CAUSE_PHRASES,
    BackendError,
    Completion,
    Message,
    Overloaded,
    ToolCall,
    backend_label,
    current_admission,
    estimate_tokens,
    redact,
    schema_as_json_object,
)
from .spec import BackendSpec

RETRIED_STATUSES = frozenset({408, 409, 429})
MAX_BACKOFF_S = 8.0
SERVER_MESSAGE_CHARS = 160
MIN_TIMEOUT_S = 0.001  # a zero timeout would make the socket non-blocking instead of failing fast
# Threads that share one HTTP client: 64 calls at once on one connection pool spent a quarter of their time
# waiting for its lock (2,000 calls at 64: 0.5-1 s slower than with a client for each 8 threads). Another client
# costs 35 ms (its TLS context), so it is made only when that many threads call.
CALLS_PER_CLIENT = 8


class MalformedResponse(Exception):
    """A response that arrived whole but is not a usable answer."""


class Interrupted(MalformedResponse):
    """A stream that ended before its answer was finished (no finish_reason)."""


class StreamedError(Exception):
    """An error the server sent as an event inside a stream."""


class StatusError(Exception):
    """An HTTP error status, with the server's body (decoded JSON, else text) and headers."""

    def __init__(self, status: int, body: object, headers: Mapping[str, str]):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers


@dataclass(frozen=True)
class _Server:
    """One server of the backend (several for a ``base_url`` pool): where it answers, what each request carries."""

    chat_url: str
    tokenize_url: str
    headers: Mapping[str, str]
    # The SDK's httpx clients, their response hook arming the watchdog: the first made at start, one more for
    # every CALLS_PER_CLIENT threads that call (httpcore's pool takes one lock for each request and response).
    clients: dict[int, Any]


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
    overload: str | None = None  # the sign of overload it shows (a key of base.OVERLOAD_SIGNS), if any


class OpenAIBackend:
    """Chat completions over HTTP. The API key is read from the environment and never stored in output."""

    def __init__(self, spec: BackendSpec, *, backoff_s: float = 0.5):
        import openai  # imported only when an openai backend is used

        self.name = spec.name
        self._model = spec.model
        self._params = dict(spec.params)
        self._stream = spec.stream
        self._timeout_s = spec.timeout_s
        self._attempt_timeout_s = attempt_timeout(spec)
        self._max_retries = spec.max_retries
        self._backoff_s = backoff_s
        self._jitter = random.Random()
        api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self._secrets = [api_key]
        self._watchdog = _Watchdog()
        # One server per base_url of a pool, taken in turn by each attempt.
        self._servers = []
        for url in spec.base_urls or (None,):
            http = self._new_client()
            # Local servers need no key, but the SDK insists on one.
            client = openai.OpenAI(base_url=url, api_key=api_key or "no-key", max_retries=0, http_client=http)
            headers = {**client.default_headers, **client.auth_headers}
            root = str(client.base_url).rstrip("/")
            self._servers.append(
                _Server(
                    f"{root}/chat/completions",
                    tokenize_url(root),
                    {name: value for name, value in headers.items() if isinstance(value, str)},  # not Omit()
                    {0: http},
                )
            )
        self._threads = itertools.count()  # numbers each thread that calls, to give it its client
        self._local = threading.local()
        self._clients_lock = threading.Lock()
        self._turns = itertools.count()
        self._tokenizer: bool | None = None  # whether the server offers POST /extras/tokenize; None: not tried
        # llama_cpp.server refuses OpenAI's {type: json_schema} and takes {type: json_object, schema} instead: learnt
        # from its first refusal, then every schema is sent in its form
        self._schema_as_json_object = False
        self.endpoint = ", ".join(endpoint_of(server.chat_url) for server in self._servers)

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        """Answer within ``timeout_s``, retrying transient faults; any failure is a one-line BackendError.
        ``options`` (tools, tool_choice, response_format) go into the request body as the API names them."""
        deadline = time.monotonic() + self._timeout_s
        admission = current_admission()
        attempts = admission.attempts_charged if admission is not None else 0
        while True:
            attempts += 1
            server = self._servers[next(self._turns) % len(self._servers)]
            cut_at = min(deadline, time.monotonic() + self._attempt_timeout_s)
            try:
                with self._watchdog.deadline(cut_at):
                    return (
                        self._streamed(server, messages, options, cut_at)
                        if self._stream
                        else self._whole(server, messages, options, cut_at)
                    )
            except Exception as exc:
                if self._refuses_json_schema(exc, options):
                    self._schema_as_json_object = True
                    attempts -= 1  # the server's dialect, not a fault: the same call again in its form
                    continue
                failure = self._classify(exc, cut_at, cut_at < deadline)
            if failure.overload and admission is not None and admission.overloaded(failure.overload):
                raise Overloaded(
                    self._error(failure, attempts).args[0],
                    sign=failure.overload,
                    endpoint=self.endpoint,
                    retry_after_s=failure.retry_after_s,
                ) from None
            delay = self._retry_delay(failure, attempts, deadline)
            if delay is None:
                raise self._error(failure, attempts) from None  # the chain may hold the key
            time.sleep(delay)

    def close(self) -> None:
        """Close the HTTP connection pools and stop the watchdog."""
        self._watchdog.close()
        for server in self._servers:
            for http in server.clients.values():
                http.close()

    def _new_client(self) -> Any:
        import openai

        return openai.DefaultHttpxClient(event_hooks={"response": [self._watchdog.arm]})

    def _http(self, server: _Server) -> Any:
        """The HTTP client of this thread for ``server``: threads 0-7 share the first, 8-15 the next, ..."""
        number = getattr(self._local, "number", None)
        if number is None:
            number = self._local.number = next(self._threads)
        shard = number // CALLS_PER_CLIENT
        http = server.clients.get(shard)
        if http is None:
            with self._clients_lock:  # made once: each costs 35 ms of CPU, and 8 threads come for it at once
                http = server.clients.get(shard)
                if http is None:
                    http = server.clients[shard] = self._new_client()
        return http

    @contextmanager
    def _post(self, server: _Server, body: Mapping[str, Any], deadline: float) -> Iterator[Any]:
        """The response to ``body``, its body still to read; StatusError for an HTTP error status."""
        with self._http(server).stream(
            "POST", server.chat_url, json=body, headers=server.headers, timeout=_time_left(deadline)
        ) as response:
            if response.status_code >= 400:
                raise StatusError(response.status_code, _decoded(response.read()), response.headers)
            yield response

    def _refuses_json_schema(self, exc: Exception, options: Mapping[str, Any]) -> bool:
        """Whether ``exc`` is a server refusing OpenAI's json_schema response_format (llama_cpp.server does)."""
        form = options.get("response_format")
        return (
            not self._schema_as_json_object
            and isinstance(form, Mapping)
            and form.get("type") == "json_schema"
            and isinstance(exc, StatusError)
            and exc.status in (400, 422, 500)
            and "response_format" in str(exc.body)
        )

    def _body(self, messages: Sequence[Message], options: Mapping[str, Any], stream: bool) -> dict[str, Any]:
        if self._schema_as_json_object:
            options = schema_as_json_object(options)
        body: dict[str, Any] = {"model": self._model, "messages": list(messages), **self._params, **options}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    def _whole(
        self, server: _Server, messages: Sequence[Message], options: Mapping[str, Any], deadline: float
    ) -> Completion:
        start = time.perf_counter()
        with self._post(server, self._body(messages, options, stream=False), deadline) as response:
            payload = json.loads(response.read())
        latency = time.perf_counter() - start
        if not isinstance(payload, dict) or not isinstance(payload.get("choices", []), list):
            raise MalformedResponse("unexpected JSON shape")
        choices = payload.get("choices")
        if not choices:
            raise MalformedResponse("no choices")
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        if not isinstance(message, dict):
            raise MalformedResponse("a choice without a message")
        content = message.get("content")
        if content is None and not message.get("tool_calls"):
            raise MalformedResponse("a message without content")
        if content is not None and not isinstance(content, str):
            raise MalformedResponse("unexpected JSON shape")
        calls = ToolCall.from_openai(message.get("tool_calls"))
        usage = _usage(payload.get("usage"))
        if usage is None:
            return replace(_estimated(messages, content or "", latency, latency), tool_calls=calls)
        return Completion(
            content or "", usage[0], usage[1], latency, latency, cached_prompt_tokens=usage[2], tool_calls=calls
        )

    def _streamed(
        self, server: _Server, messages: Sequence[Message], options: Mapping[str, Any], deadline: float
    ) -> Completion:
        start = time.perf_counter()
        first_token_at: float | None = None
        parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}  # streamed tool calls by index: id, name, arguments so far
        usage = None
        finished = False  # a finish_reason ("stop", "length", ...) proves the answer is whole
        # Read to the end of the body, past [DONE], so that one kept-alive connection serves every call.
        with self._post(server, self._body(messages, options, stream=True), deadline) as response:
            for chunk in _events(_lines(response.iter_bytes())):
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or ():
                    finished = finished or bool(choice.get("finish_reason"))
                    delta = choice.get("delta") or {}
                    if delta.get("tool_calls"):
                        _add_call_deltas(calls, delta["tool_calls"])
                        if first_token_at is None:
                            first_token_at = time.perf_counter()
                    content = delta.get("content")
                    if content:
                        if first_token_at is None:
                            first_token_at = time.perf_counter()
                        parts.append(content)
                if time.monotonic() >= deadline:
                    raise TimeoutError("the deadline passed while streaming")
        if not finished:
            raise Interrupted("stream ended without finish_reason")
        end = time.perf_counter()
        text = "".join(parts)
        ttft = (first_token_at or end) - start
        tool_calls = tuple(
            ToolCall.parsed(call["name"], call["arguments"], call["id"]) for _, call in sorted(calls.items())
        )
        counts = _usage(usage)
        if counts is None:
            # Some servers (llama_cpp.server among them) send no usage in a stream: count the answer with
            # the server's own tokenizer where it has one, estimate the rest, and say so.
            estimate = replace(_estimated(messages, text, end - start, ttft), tool_calls=tool_calls)
            counted = self._counted_tokens(server, text, deadline)
            return estimate if counted is None else replace(estimate, completion_tokens=counted)
        return Completion(
            text, counts[0], counts[1], end - start, ttft, cached_prompt_tokens=counts[2], tool_calls=tool_calls
        )

    def _counted_tokens(self, server: _Server, text: str, deadline: float) -> int | None:
        """The tokens of ``text`` by the server's tokenizer (llama_cpp.server's ``POST /extras/tokenize``,
        ``{"input": text}`` -> ``{"tokens": [...]}``): the count its own usage gives for the answer (the same on
        SmolLM2 for answers cut by max_tokens and ended by the model). None when the server has no such
        endpoint (asked once per backend) or the request failed."""
        if self._tokenizer is False or not text:
            return None if self._tokenizer is False else 0
        try:
            response = self._http(server).post(
                server.tokenize_url, json={"input": text}, headers=server.headers, timeout=_time_left(deadline)
            )
            reply = _decoded(response.read())
            tokens = reply.get("tokens") if isinstance(reply, dict) else None
            if response.status_code >= 400 or not isinstance(tokens, list):
                raise MalformedResponse("no tokenizer")
        except MalformedResponse:  # no tokenizer there (404): estimate from now on
            self._tokenizer = False
            return None
        except Exception:  # a glitch on the way: this answer's count is estimated
            return None
        self._tokenizer = True
        return len(tokens)

    def _classify(self, exc: BaseException, deadline: float, attempt_cut: bool = False) -> _Failure:
        """What went wrong in one attempt, read from the exception and its chain. ``deadline`` is the
        attempt's own; ``attempt_cut`` says it came before the call's (attempt_timeout_s, not timeout_s)."""
        if isinstance(exc, StatusError):
            return self._status_failure(exc)
        timed_out = _Failure("timeout", self._timed_out(attempt_cut), True, overload="timeout")
        if time.monotonic() >= deadline:
            # A timeout fired or the watchdog cut the connection: either way the time ran out.
            return timed_out
        chain = list(_chain(exc))
        for link in chain:
            if isinstance(link, ConnectionRefusedError):
                return _Failure("refused", CAUSE_PHRASES["refused"], True)
            if isinstance(link, socket.gaierror):
                # Only a temporary resolver failure is worth retrying; an unknown name stays unknown.
                return _Failure("dns", f"{CAUSE_PHRASES['dns']} ({link.strerror})", link.errno == socket.EAI_AGAIN)
        if any(isinstance(link, TimeoutError) or _named(link, "TimeoutException") for link in chain):
            return timed_out
        if any(_named(link, "ConnectError") for link in chain):
            return _Failure("refused", f"cannot connect ({_os_detail(chain)})", True)
        if any(_named(link, "RemoteProtocolError") for link in chain):
            return _Failure("reset", "connection closed before the response was complete", True, overload="reset")
        if any(isinstance(link, ConnectionError) or _named(link, "NetworkError") for link in chain):
            return _Failure("reset", CAUSE_PHRASES["reset"], True, overload="reset")
        # A garbled or cut answer is usually a proxy or server glitch: worth another attempt.
        if isinstance(exc, StreamedError):
            return _Failure("model", f"the server reported an error: {self._one_line(str(exc))}", False)
        if isinstance(exc, Interrupted):
            # llama_cpp.server ends the stream in progress when another request arrives: a sign of overload.
            return _Failure("malformed", f"malformed response: {exc}", True, overload="interrupted")
        if isinstance(exc, MalformedResponse):
            return _Failure("malformed", f"malformed response: {exc}", True)
        if isinstance(exc, UnicodeDecodeError):
            return _Failure("malformed", "malformed response: bytes that are not UTF-8", True)
        if isinstance(exc, json.JSONDecodeError):
            return _Failure("malformed", f"malformed response: invalid JSON: {exc.msg} (char {exc.pos})", True)
        return _Failure(None, f"unexpected {type(exc).__name__}: {self._one_line(str(exc))}", False)

    def _timed_out(self, attempt_cut: bool) -> str:
        if attempt_cut:
            return f"{CAUSE_PHRASES['timeout']} after attempt_timeout_s={self._attempt_timeout_s:g} s"
        return f"{CAUSE_PHRASES['timeout']} after timeout_s={self._timeout_s:g} s"

    def _status_failure(self, exc: StatusError) -> _Failure:
        status = exc.status
        try:
            what = f"HTTP {status} {HTTPStatus(status).phrase}"
        except ValueError:
            what = f"HTTP {status}"
        message = self._server_message(exc.body)
        if message:
            what += f": {message}"
        retry_after = _retry_after_s(exc.headers)
        if retry_after is not None:
            what += f" (Retry-After {retry_after:g} s)"
        overload = f"http {status}" if status in (429, 503) else None
        return _Failure(f"http {status}", what, status in RETRIED_STATUSES or status >= 500, retry_after, overload)

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
    bytes never trips a per-read timeout. The deadline is per thread, as calls may run concurrently.
    One thread keeps every due cut, started on the first (a timer thread per call cost about 0.2 ms
    of CPU a call)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._due: list[tuple[float, int, list[Any]]] = []  # (when, order, [response] or [] once answered)
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def deadline(self, deadline: float) -> Iterator[None]:
        """Watch the responses this thread receives until ``deadline``."""
        self._local.deadline = deadline
        self._local.armed = []
        try:
            yield
        finally:
            for entry in self._local.armed:
                entry.clear()  # answered (or failed) in time: nothing left to cut
            self._local.deadline = None

    def arm(self, response: Any) -> None:
        """httpx response hook, run once the headers arrived: schedule the cut at the deadline."""
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return
        entry = [response]
        self._local.armed.append(entry)
        with self._cond:
            heapq.heappush(self._due, (deadline, next(self._order), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="llmgate-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Stop the watching thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _watch(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._due or self._due[0][0] > time.monotonic()):
                    self._cond.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if self._closed:
                    return
                entry = heapq.heappop(self._due)[2]
            if entry:
                _cut_connection(entry[0])


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


def attempt_timeout(spec: BackendSpec) -> float:
    """One attempt's limit: ``attempt_timeout_s``, else half of ``timeout_s`` when a retry is allowed (so a
    hang leaves time to ask again), else all of it; never more than ``timeout_s``."""
    if spec.attempt_timeout_s is not None:
        return min(spec.attempt_timeout_s, spec.timeout_s)
    return spec.timeout_s / 2 if spec.max_retries > 0 else spec.timeout_s


def tokenize_url(base_url: str) -> str:
    """Where llama_cpp.server tokenizes: ``/extras/tokenize`` beside its ``/v1``."""
    root = base_url.rstrip("/")
    return (root.removesuffix("/v1") if root.endswith("/v1") else root) + "/extras/tokenize"


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


def _usage(usage: object) -> tuple[int, int, int] | None:
    """(prompt, completion, cached prompt) tokens from a ``usage`` object; None when it is absent or unreadable."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return prompt, completion, cached if isinstance(cached, int) else 0


def _add_call_deltas(calls: dict[int, dict[str, str]], deltas: object) -> None:
    """Fold one event's ``delta.tool_calls`` into ``calls``: each names its call by ``index``; the first piece
    of a call brings its id and name, the rest bring pieces of its arguments' JSON text."""
    for position, delta in enumerate(deltas if isinstance(deltas, list) else ()):
        if not isinstance(delta, dict):
            raise MalformedResponse("a tool call delta that is not a JSON object")
        index = delta.get("index", position)
        call = calls.setdefault(index if isinstance(index, int) else position, {"id": "", "name": "", "arguments": ""})
        function = delta.get("function") or {}
        call["id"] = call["id"] or str(delta.get("id") or "")
        call["name"] = call["name"] or str(function.get("name") or "")  # sent once, with the call's first piece
        call["arguments"] += function.get("arguments") or ""


def _decoded(body: bytes) -> object:
    """An error or tokenizer body: its JSON, else its text."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _estimated(messages: Sequence[Message], text: str, latency: float, ttft: float) -> Completion:
    prompt = sum(estimate_tokens(m.get("content") or "") + 4 for m in messages)  # ~4 tokens of chat markup per turn
    return Completion(text, prompt, estimate_tokens(text), latency, ttft, tokens_estimated=True)
