"""The ``http`` provider: an application behind an HTTP endpoint, asked with a JSON body made from the case.

``body`` is a JSON template: a string that is exactly ``{{messages}}`` becomes the chat (a list of {role,
content}); ``{{input}}`` (the last user message) and ``{{system}}`` are filled into strings, JSON-safely, as
the body is built as data and encoded once. ``response`` is a JSON pointer (RFC 6901) to the answer's text, or
a mapping of pointers (text, prompt_tokens, completion_tokens, cost_usd). ``headers`` keep ``${VAR}`` (or
``{env: NAME}``) as written until the backend starts; the values they read are redacted like API keys.
Connection failures, timeouts and HTTP 408/429/5xx are retried up to ``max_retries`` times with backoff,
within ``timeout_s`` for the whole call. Standard library only: one JSON request needs no client library.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import SpecError
from .base import (
    BackendError,
    Completion,
    Message,
    Overloaded,
    backend_label,
    current_admission,
    estimate_tokens,
    redact,
)
from .openai_provider import OpenAIProvider, identity_endpoint
from .provider import Provider, Rule, one_of, rules
from .spec import TEMPLATE, BackendSpec

PLACEHOLDERS = ("input", "messages", "system")
DEFAULT_BODY = {"input": "{{input}}", "messages": "{{messages}}"}
RESPONSE_KEYS = ("text", "prompt_tokens", "completion_tokens", "cost_usd")
RETRIED_STATUSES = frozenset({408, 429})
MAX_BACKOFF_S = 4.0
SERVER_MESSAGE_CHARS = 160
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # as the config writes ${VAR:-default}


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https") and bool(urlsplit(value).netloc)


def _is_pointer(value: Any) -> bool:
    return isinstance(value, str) and (value == "" or value.startswith("/"))


def _is_response(value: Any) -> bool:
    if isinstance(value, dict):
        return "text" in value and set(value) <= set(RESPONSE_KEYS) and all(map(_is_pointer, value.values()))
    return _is_pointer(value)


def _is_header(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str)
    )


def _is_headers(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _is_header(v) for k, v in value.items())


def _is_json(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(map(_is_json, value))
    return value is None or isinstance(value, (str, int, float, bool))


def pointer(document: Any, path: str) -> Any:
    """The value at JSON pointer ``path`` (RFC 6901) in ``document``; KeyError naming the step that is missing."""
    if path == "":
        return document
    value = document
    for raw in path[1:].split("/"):
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            raise KeyError(step)
    return value


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with ``{{name}}`` placeholders filled: a string that is only ``{{messages}}`` becomes the
    value itself (a list), any other is filled as text. Built as data, so encoding it is JSON-safe."""
    if isinstance(template, dict):
        return {key: fill(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, str):
        whole = TEMPLATE.fullmatch(template.strip())
        if whole and not isinstance(values[whole.group(1)], str):
            return values[whole.group(1)]
        return TEMPLATE.sub(lambda match: str(values[match.group(1)]), template)
    return template


def placeholders(template: Any) -> set[str]:
    """The ``{{name}}`` names ``template`` uses."""
    if isinstance(template, dict):
        return set().union(*map(placeholders, template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*map(placeholders, template)) if template else set()
    return set(TEMPLATE.findall(template)) if isinstance(template, str) else set()


def header_values(spec: BackendSpec, environ: Mapping[str, str]) -> tuple[dict[str, str], list[str], list[str]]:
    """The headers with their variables read, the values read (the secrets) and the variables that are unset."""
    headers: dict[str, str] = {}
    secrets: list[str] = []
    missing: list[str] = []

    def read(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if environ.get(name):
            secrets.append(environ[name])
            return environ[name]
        if default is None:
            missing.append(name)
        return default or ""

    for name, written in spec.headers.items():
        if isinstance(written, dict):
            written = "${" + written["env"] + "}"
        headers[name] = _ENV.sub(read, written)
        if _ENV.search(written) and headers[name]:
            secrets.append(headers[name])
    return headers, secrets, missing


class HttpBackend:
    """POSTs (or PUTs) one JSON request a case and reads the answer at the response pointers."""

    def __init__(self, spec: BackendSpec):
        assert spec.url is not None
        self.name = spec.name
        self._url = spec.url
        self._method = spec.method
        self._body = DEFAULT_BODY if spec.body is None else spec.body
        self._response: Mapping[str, str] = (
            {"text": spec.response or ""} if not isinstance(spec.response, Mapping) else spec.response
        )
        headers, self._secrets, _ = header_values(spec, os.environ)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
        self._timeout_s = spec.timeout_s
        self._attempt_s = spec.attempt_timeout_s or (spec.timeout_s / 2 if spec.max_retries else spec.timeout_s)
        self._retries = spec.max_retries
        parts = urlsplit(spec.url)
        self._endpoint = parts.hostname or ""
        if parts.port:
            self._endpoint += f":{parts.port}"
        self._label = backend_label(spec.name, self._endpoint)

    def complete(self, messages: Sequence[Message]) -> Completion:
        """Send the case, retrying transient failures within the deadline; BackendError when it cannot answer."""
        chat = [dict(message) for message in messages]
        values = {
            "messages": chat,
            "input": next((m["content"] for m in reversed(chat) if m.get("role") == "user"), ""),
            "system": next((m["content"] for m in chat if m.get("role") == "system"), ""),
        }
        data = json.dumps(fill(self._body, values), ensure_ascii=False).encode()
        start = time.perf_counter()
        deadline = start + self._timeout_s
        attempt = 0
        while True:
            attempt += 1
            try:
                body = self._send(data, min(self._attempt_s, max(deadline - time.perf_counter(), 0.001)))
            except BackendError as error:
                error.attempts = attempt
                sign = error.cause if error.cause in ("timeout", "reset") else None
                self._maybe_overloaded(error, sign)
                if not error.transient or attempt > self._retries or time.perf_counter() >= deadline:
                    raise
                self._back_off(attempt, deadline)
                continue
            latency = time.perf_counter() - start
            return self._completion(body, chat, latency, attempt)

    def _send(self, data: bytes, timeout_s: float) -> bytes:
        request = urllib.request.Request(self._url, data=data, headers=self._headers, method=self._method)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = self._server_message(exc.read())
            transient = status in RETRIED_STATUSES or status >= 500
            raise BackendError(
                f"{self._label}: HTTP {status}{': ' + detail if detail else ''}",
                cause=f"http {status}",
                endpoint=self._endpoint,
                transient=transient,
            ) from None
        except TimeoutError:
            raise self._connection_error("timeout", f"timed out after {timeout_s:.1f} s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise self._connection_error("timeout", f"timed out after {timeout_s:.1f} s") from None
            if isinstance(reason, ConnectionRefusedError):
                raise self._connection_error("refused", "connection refused") from None
            if isinstance(reason, socket.gaierror):
                raise self._connection_error("dns", "DNS lookup failed") from None
            raise self._connection_error("reset", redact(str(reason), self._secrets)) from None
        except (ConnectionError, OSError) as exc:  # reset or closed mid-response
            raise self._connection_error("reset", f"connection reset ({type(exc).__name__})") from None

    def _connection_error(self, cause: str, phrase: str) -> BackendError:
        return BackendError(f"{self._label}: {phrase}", cause=cause, endpoint=self._endpoint, transient=True)

    def _maybe_overloaded(self, error: BackendError, sign: str | None) -> None:
        """Offer a sign of overload to the call's concurrency limit, which may queue the call again."""
        sign = sign or (error.cause if error.cause in ("http 429", "http 503") else None)
        admission = current_admission()
        if sign is not None and admission is not None and admission.overloaded(sign):
            raise Overloaded(str(error), sign=sign, endpoint=self._endpoint)

    def _back_off(self, attempt: int, deadline: float) -> None:
        delay = min(MAX_BACKOFF_S, 0.1 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        time.sleep(max(0.0, min(delay, deadline - time.perf_counter())))

    def _server_message(self, body: bytes) -> str:
        text = " ".join(redact(body.decode("utf-8", "replace"), self._secrets).split())
        return text[:SERVER_MESSAGE_CHARS] + ("..." if len(text) > SERVER_MESSAGE_CHARS else "")

    def _completion(self, body: bytes, chat: list[dict[str, str]], latency: float, attempts: int) -> Completion:
        def malformed(why: str) -> BackendError:
            return BackendError(f"{self._label}: {why}", cause="malformed", endpoint=self._endpoint, attempts=attempts)

        try:
            document: Any = json.loads(body)
        except ValueError:
            if self._response["text"]:
                raise malformed(f"the answer is not JSON: {self._server_message(body)!r}") from None
            document = body.decode("utf-8", "replace")  # no pointer: a plain-text answer is the text
        found: dict[str, Any] = {}
        for key, path in self._response.items():
            try:
                found[key] = pointer(document, path)
            except KeyError as exc:
                raise malformed(f"the answer has nothing at {path!r} (no {exc.args[0]!r}) for {key!r}") from None
        text = found["text"]
        if not isinstance(text, str):
            raise malformed(f"the answer at {self._response['text']!r} is a {type(text).__name__}, not a string")
        counts = {key: found.get(key) for key in ("prompt_tokens", "completion_tokens")}
        for key, value in counts.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise malformed(f"{key!r} at {self._response[key]!r} is {value!r}, not a whole number")
        cost = found.get("cost_usd")
        if cost is not None and (not isinstance(cost, (int, float)) or isinstance(cost, bool) or cost < 0):
            raise malformed(f"'cost_usd' at {self._response['cost_usd']!r} is {cost!r}, not a number")
        prompt, completion = counts["prompt_tokens"], counts["completion_tokens"]
        return Completion(
            text=redact(text, self._secrets),  # an app that echoes its token must not put it in the cache
            prompt_tokens=sum(estimate_tokens(m.get("content") or "") for m in chat) if prompt is None else prompt,
            completion_tokens=estimate_tokens(text) if completion is None else completion,
            latency_s=latency,
            ttft_s=latency,
            tokens_estimated=prompt is None or completion is None,
            cost_usd=None if cost is None else float(cost),
        )

    def close(self) -> None:
        """Nothing held between calls: each request opens its own connection."""


class HttpProvider(Provider):
    """An application's HTTP endpoint; many calls at once (``concurrency:``), as an API backend."""

    name = "http"
    params = rules()  # the application decides its sampling; the body template is what it is sent
    settings = rules(
        url=Rule(_is_url, "an http:// or https:// URL"),
        method=one_of("POST", "PUT", "PATCH"),
        body=Rule(_is_json, "a JSON value (a mapping, list or string) with {{input}} or {{messages}}"),
        response=Rule(_is_response, "a JSON pointer ('/answer') or a mapping of pointers with 'text'"),
        headers=Rule(_is_headers, "a mapping of header names to strings (${VAR} reads a variable) or {env: NAME}"),
        timeout_s=OpenAIProvider.settings["timeout_s"],
        attempt_timeout_s=OpenAIProvider.settings["attempt_timeout_s"],
        max_retries=OpenAIProvider.settings["max_retries"],
    )
    model_from = "url"

    def identity(self, spec: BackendSpec, file_hash: Callable[[Path], str]) -> dict[str, Any]:
        """The endpoint (without credentials or query), method, body template and response pointers; never a header."""
        return {
            "provider": spec.provider,
            "endpoint": identity_endpoint(spec.url or ""),
            "method": spec.method,
            "body": DEFAULT_BODY if spec.body is None else spec.body,
            "response": spec.response,
        }

    def secrets(self, spec: BackendSpec) -> tuple[str, ...]:
        """Every value the headers read from the environment, and each header made with one."""
        return tuple(dict.fromkeys(header_values(spec, os.environ)[1]))

    def preflight(self, spec: BackendSpec, needs_key: bool) -> None:
        """A URL, placeholders the body knows, and every variable a header reads set (unless a replay answers)."""
        if not spec.url:
            raise SpecError(spec.config_path, spec.line, f"backend {spec.name!r} of provider http needs 'url:'")
        unknown = sorted(placeholders(spec.body) - set(PLACEHOLDERS))
        if unknown:
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {spec.name!r}: 'body' uses {{{{{unknown[0]}}}}}; known: {', '.join(PLACEHOLDERS)}",
            )
        missing = header_values(spec, os.environ)[2]
        if needs_key and missing:
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {spec.name!r}: its headers read the environment variable(s) {', '.join(missing)}, "
                "which are not set",
            )

    def make(self, spec: BackendSpec) -> HttpBackend:
        """An HttpBackend with its headers read now."""
        return HttpBackend(spec)
