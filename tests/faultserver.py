"""A fault-injecting OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

It answers ``POST .../chat/completions`` (streamed as SSE or whole) with ``reply(last user message)``.
A marker in the last user message picks a fault for that request: ``FAULT:503`` always fails;
``FAULT:503x2`` fails the first two attempts of that exact message, then answers. ``fault_rate``
(with ``seed``) injects faults from ``random_faults`` into any attempt. ``overload_above=N`` answers
429 (with Retry-After) to a request that arrives while N others are being answered, as a rate-limited
API or a server with N slots does. Modes:

  429 500 503   that HTTP status with a JSON error body (429 carries Retry-After)
  reset         the connection is reset (RST) after the request is read
  hang          never answers (until the server stops)
  truncate      a stream (or whole body) that ends cleanly without finish_reason / [DONE]
  cut           Content-Length promises more bytes than are sent, then the connection closes
  badjson       a body, or one SSE event, that is not JSON
  badbytes      bytes that are not UTF-8
  empty         ``choices: []``
  nocontent     a message whose content is null
  length        a real answer cut by max_tokens (finish_reason "length"): not a fault
  trickle       the answer one byte every ``trickle_s`` seconds
  echokey       HTTP 401 whose message repeats the request's bearer key

Usage: ``with FaultServer() as server: OpenAI(base_url=server.url)``. Threads are daemons and every
wait ends when the server stops, so nothing outlives a test.
"""

from __future__ import annotations

import json
import random
import re
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, final

FAULT_MODES = (
    "429",
    "500",
    "503",
    "reset",
    "hang",
    "truncate",
    "cut",
    "badjson",
    "badbytes",
    "empty",
    "nocontent",
    "length",
    "trickle",
    "echokey",
)
# Faults that end quickly: the default mix for random injection.
QUICK_FAULTS = ("429", "500", "503", "reset", "truncate", "cut", "badjson", "badbytes", "empty", "nocontent")
_MARKER = re.compile(r"FAULT:([a-z0-9]+?)(?:x(\d+))?\b")
_STATUS_TEXT = {401: "invalid api key", 429: "rate limited", 500: "internal error", 503: "overloaded"}


def label_reply(text: str) -> str:
    """The default answer: a label derived from the message, so that a wrong answer is visible."""
    return f"label-{zlib.crc32(text.encode()):08x}"


@final
class FaultServer:
    """The server; ``url`` is its OpenAI base URL, ``requests`` counts every request received."""

    def __init__(
        self,
        *,
        reply: Callable[[str], str] = label_reply,
        reply_to_chat: Callable[[list[dict[str, str]]], str] | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        random_faults: tuple[str, ...] = QUICK_FAULTS,
        latency_ms: float = 0.0,
        trickle_s: float = 0.5,
        retry_after_s: float = 0.2,
        chunk_chars: int = 3,
        max_hang_s: float = 120.0,
        overload_above: int | None = None,
        tool_calls_for: Callable[[list[dict[str, Any]]], list[dict[str, str]]] | None = None,
    ):
        unknown = set(random_faults) - set(FAULT_MODES)
        if unknown:
            raise ValueError(f"unknown fault modes {sorted(unknown)}; known: {', '.join(FAULT_MODES)}")
        self.reply = reply
        self.reply_to_chat = reply_to_chat  # when set, answers from the whole chat (system prompt included)
        self.fault_rate = fault_rate
        self.random_faults = random_faults
        self.latency_s = latency_ms / 1000
        self.trickle_s = trickle_s
        self.retry_after_s = retry_after_s
        self.chunk_chars = chunk_chars
        self.max_hang_s = max_hang_s
        self.overload_above = overload_above
        # when set, the tool calls to answer a chat with: [{"name": ..., "arguments": "<JSON text>"}]
        self.tool_calls_for = tool_calls_for
        self.bodies: list[dict[str, Any]] = []  # every request's JSON body, in arrival order
        self.rejected = 0  # requests refused with 429 for arriving above overload_above
        self.arrivals: list[float] = []  # time.monotonic() of every request's arrival, for benchmarks' ends of a run
        self.stopping = threading.Event()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        self.questions: list[str] = []  # every request's last user message, in arrival order
        self.faults_injected: Counter[str] = Counter()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._httpd.fault_server = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the SDK."""
        return f"http://127.0.0.1:{self.port}/v1"

    def attempts(self, message: str) -> int:
        """How many requests arrived whose last user message was ``message``."""
        with self._lock:
            return self._attempts[message]

    def start(self) -> FaultServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release every waiting handler."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def fault_for(self, message: str) -> str | None:
        """Count an attempt of ``message`` and decide its fault: a marker, else a random draw."""
        with self._lock:
            self.requests += 1
            self._attempts[message] += 1
            attempt = self._attempts[message]
            fault = None
            marker = _MARKER.search(message)
            if marker and (marker.group(2) is None or attempt <= int(marker.group(2))):
                fault = marker.group(1)
            elif marker is None and self.fault_rate and self._random.random() < self.fault_rate:
                fault = self._random.choice(self.random_faults)
            if fault:
                self.faults_injected[fault] += 1
            return fault


class _Server(ThreadingHTTPServer):
    """Many clients at once (a benchmark opens dozens of connections); a client that hangs up is not an error."""

    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: resets and broken pipes are what the fault modes and impatient clients cause."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do
    calls: list[dict[str, str]]  # the tool calls of the request being answered, set by do_POST
    disable_nagle_algorithm = True  # small answers on a kept-alive connection would wait ~40 ms otherwise

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read counters, not logs."""

    @property
    def server_state(self) -> FaultServer:
        return self.server.fault_server  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        self._send_json(200, {"object": "list", "data": [{"id": "fault-model", "object": "model"}]})

    def do_POST(self) -> None:
        state = self.server_state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        messages = body.get("messages", [])
        question = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        with state._lock:
            state.arrivals.append(time.monotonic())
            over = state.overload_above is not None and state.in_flight >= state.overload_above
            state.rejected += over
            state.in_flight += not over
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            state.questions.append(question)
            state.bodies.append(body)
        if over:
            self._fail("429")
            return
        fault = state.fault_for(question)
        if state.latency_s:
            state.stopping.wait(state.latency_s)
        with state._lock:  # before answering: the client cannot send on this slot again until the answer arrives
            state.in_flight -= 1
        if fault not in FAULT_MODES:
            fault = None  # an unknown marker is plain text
        answer = state.reply_to_chat(messages) if state.reply_to_chat else state.reply(question)
        self.calls = state.tool_calls_for(messages) if state.tool_calls_for else []
        if fault in ("429", "500", "503", "echokey"):
            self._fail(fault)
        elif fault == "reset":
            self._reset()
        elif fault == "hang":
            state.stopping.wait(state.max_hang_s)
            self.close_connection = True
        elif body.get("stream"):
            self._stream(answer, fault, bool(body.get("stream_options", {}).get("include_usage")))
        else:
            self._whole(answer, fault)

    def _fail(self, fault: str) -> None:
        status = 401 if fault == "echokey" else int(fault)
        message = _STATUS_TEXT[status]
        if fault == "echokey":
            message = f"Incorrect API key provided: {self.headers.get('Authorization', '').removeprefix('Bearer ')}"
        headers = {"Retry-After": f"{self.server_state.retry_after_s:g}"} if status == 429 else {}
        self._send_json(status, {"error": {"message": message, "type": "fault", "code": status}}, headers)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # before socketserver's shutdown(SHUT_WR), which would send FIN first
        self.close_connection = True

    def _whole(self, answer: str, fault: str | None) -> None:
        finish = "length" if fault == "length" else "stop"
        text = answer[: max(1, len(answer) // 2)] if fault == "length" else answer
        message: dict[str, Any] = {"role": "assistant", "content": None if fault == "nocontent" else text}
        if self.calls:
            finish = "tool_calls"
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": call} for i, call in enumerate(self.calls)
            ]
        choices = [] if fault == "empty" else [{"index": 0, "message": message, "finish_reason": finish}]
        payload = json.dumps(
            {
                "id": "chatcmpl-fault",
                "object": "chat.completion",
                "created": 0,
                "model": "fault-model",
                "choices": choices,
                "usage": _usage(text),
            }
        ).encode()
        if fault == "badjson":
            payload = payload[: len(payload) // 2]
        elif fault == "badbytes":
            payload = b'{"id": "\xff\xfe\xfd", ' + payload[1:]
        elif fault == "truncate":
            payload = payload[: len(payload) - 10]
        if fault == "cut":
            self._send_head(200, "application/json", {"Content-Length": str(len(payload) + 50)})
            self._write(payload)
            self.close_connection = True
            return
        self._send_head(200, "application/json", {"Content-Length": str(len(payload))})
        self._write(payload, trickle=fault == "trickle")

    def _stream(self, answer: str, fault: str | None, include_usage: bool) -> None:
        self._send_head(200, "text/event-stream", {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"})
        text = answer[: max(1, len(answer) // 2)] if fault == "length" else answer
        pieces = [
            text[i : i + self.server_state.chunk_chars] for i in range(0, len(text), self.server_state.chunk_chars)
        ]
        events: list[bytes] = [
            _event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        ]
        events += [
            _event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}) for piece in pieces
        ]
        for i, call in enumerate(self.calls):  # as OpenAI streams them: the name once, the arguments in pieces
            half = len(call["arguments"]) // 2
            head = {
                "index": i,
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            for delta in (
                head,
                *(
                    {"index": i, "function": {"arguments": part}}
                    for part in (call["arguments"][:half], call["arguments"][half:])
                ),
            ):
                events.append(
                    _event({"choices": [{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}]})
                )
        finish = "tool_calls" if self.calls else "length" if fault == "length" else "stop"
        events.append(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
        if include_usage:
            events.append(_event({"choices": [], "usage": _usage(text)}))
        events.append(b"data: [DONE]\n\n")
        if fault == "empty":
            events = [_event({"choices": []}) for _ in pieces] + [b"data: [DONE]\n\n"]
        elif fault == "truncate":
            events = events[: 1 + len(pieces) // 2]
        elif fault == "badjson":
            events.insert(2, b"data: {not json\n\n")
        elif fault == "badbytes":
            events.insert(2, b'data: {"choices": [{"index": 0, "delta": {"content": "\xff\xfe"}}]}\n\n')
        elif fault == "cut":
            # A chunk that announces more bytes than follow, then the connection closes.
            self._write(b"%x\r\n" % (len(events[0]) + 50) + events[0])
            self.close_connection = True
            return
        elif fault == "nocontent":
            events = [
                _event({"choices": [{"index": 0, "delta": {"content": None}, "finish_reason": None}]}),
                b"data: [DONE]\n\n",
            ]
        for event in events:
            self._write(b"%x\r\n%s\r\n" % (len(event), event), trickle=fault == "trickle")
        self._write(b"0\r\n\r\n")

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_head(status, "application/json", {"Content-Length": str(len(data)), **(headers or {})})
        self._write(data)

    def _send_head(self, status: int, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _write(self, data: bytes, *, trickle: bool = False) -> None:
        """Send ``data``, a byte at a time with pauses when trickling; give up quietly if the client left."""
        try:
            if not trickle:
                self.wfile.write(data)
                self.wfile.flush()
                return
            for index in range(len(data)):
                if self.server_state.stopping.wait(self.server_state.trickle_s):
                    return
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
        except OSError:
            self.close_connection = True


def _event(payload: dict[str, Any]) -> bytes:
    chunk = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 0, "model": "fault-model", **payload}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _usage(text: str) -> dict[str, int]:
    completion = max(1, len(text) // 4)
    return {"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion}
