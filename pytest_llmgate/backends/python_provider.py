"""The ``python`` provider: the team's own application function as the backend under test.

``function: myapp.support:reply`` is imported from the config's folder (or the ``path:`` folders) and called
with the case's chat as a list of {role, content} dicts and, when the case has them, its ``tools``,
``tool_choice`` and ``response_format`` as keywords (OpenAI's shapes); it may be async. It returns the
answer's text, or a dict or dataclass with ``text`` and optional ``prompt_tokens``, ``completion_tokens``,
``cost_usd``, ``ttft_s`` and ``tool_calls`` (normalised to ToolCall, as the openai backend's are). Its
answers are cached by its module, qualified name and the hash of its source file, so editing the function
misses the cache.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import math
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .base import REQUEST_OPTIONS, Backend, BackendError, Completion, Message, ToolCall, estimate_tokens
from .provider import TEXTS, Provider, Rule, rules, shown
from .spec import BackendSpec

_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# What a structured result may hold beside its text.
RESULT_KEYS = ("text", "prompt_tokens", "completion_tokens", "cost_usd", "ttft_s", "tool_calls")


def one_line(exc: BaseException) -> str:
    """'ValueError: bad ticket': an exception's type and the first line of its message, never a traceback."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def search_path(spec: BackendSpec) -> list[Path]:
    """The folders ``spec``'s function is imported from: its ``path:`` (relative to the config), else the
    config's folder; the working directory (pytest's rootdir, as a rule) comes after either."""
    written = [spec.path] if isinstance(spec.path, str) else list(spec.path or ["."])
    return [*(spec.resolve_path(folder).resolve() for folder in written), Path.cwd()]


def load_function(spec: BackendSpec) -> Callable[..., Any]:
    """The callable ``spec.function`` names, imported now; SpecError naming the config line when it cannot be."""
    reference = spec.function or ""
    module_name, _, qualname = reference.partition(":")
    folders = search_path(spec)
    for folder in reversed(folders):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may raise anything while it is imported
        searched = ", ".join(str(folder) for folder in folders)
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r}: cannot import {module_name!r} for function {reference!r}: {one_line(exc)} "
            f"(searched {searched} and sys.path; add the folder to 'path:')",
        ) from None
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {spec.name!r}: {module_name} has no {qualname!r} (from function {reference!r})",
            )
        target = getattr(target, part)
    if not callable(target):
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r}: {reference!r} is a {type(target).__name__}, not a function",
        )
    return target


def source_file(function: Callable[..., Any]) -> Path | None:
    """The file that defines ``function`` (a callable object's class, for one that is no function)."""
    for candidate in (function, getattr(function, "__func__", None), type(function)):
        try:
            found = inspect.getsourcefile(candidate) if candidate is not None else None
        except TypeError:
            found = None
        if found:
            return Path(found)
    return None


class _Loop:
    """One event loop in a thread of its own for a backend's async function, so clients it creates once
    (an httpx.AsyncClient) stay bound to the loop that runs every call."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llmgate-python-loop", daemon=True)
        self._thread.start()

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class PythonBackend:
    """Calls the application's function; latency is the wall time of the call, measured here."""

    def __init__(self, spec: BackendSpec, function: Callable[..., Any]):
        self.name = spec.name
        self._function = function
        self._takes = _keywords(function)
        self._loop: _Loop | None = None
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        """The function's answer to ``messages``, given the case's ``options`` (tools, tool_choice,
        response_format) as keywords; its exception is a one-line BackendError of the case."""
        chat = [dict(message) for message in messages]
        unfit = sorted(set(options) - self._takes) if self._takes is not None else []
        if unfit:  # a case's tools must reach the application, never be dropped on the way
            names = ", ".join(unfit)
            raise BackendError(
                f"backend {self.name!r}: the case sends {names}, which the function takes no parameter for; "
                f"add {', '.join(f'{name}=None' for name in unfit)} (or **options) to its signature"
            )
        start = time.perf_counter()
        try:
            result = self._function(chat, **options)
            if inspect.isawaitable(result):
                result = self._event_loop().run(result)
        except BackendError:
            raise
        except Exception as exc:  # the application may raise anything: it is this case's error
            raise BackendError(f"backend {self.name!r}: the function raised {one_line(exc)}", cause="model") from None
        latency = time.perf_counter() - start
        return self._completion(result, chat, latency)

    def _event_loop(self) -> _Loop:
        with self._lock:
            if self._loop is None:
                self._loop = _Loop()
            return self._loop

    def _completion(self, result: Any, chat: list[dict[str, Any]], latency: float) -> Completion:
        fields = _result_fields(result)
        if isinstance(fields, str):
            raise BackendError(f"backend {self.name!r}: the function {fields}", cause="malformed")
        problem = _result_problem(fields)
        if problem:
            raise BackendError(f"backend {self.name!r}: the function returned {problem}", cause="malformed")
        calls = _tool_calls(fields.get("tool_calls") or ())
        if isinstance(calls, str):
            raise BackendError(f"backend {self.name!r}: the function returned {calls}", cause="malformed")
        text = fields.get("text") or ""
        prompt = fields.get("prompt_tokens")
        completion = fields.get("completion_tokens")
        ttft = fields.get("ttft_s")
        answered = " ".join([text, *(call.shown() for call in calls)])
        return Completion(
            text=text,
            prompt_tokens=sum(estimate_tokens(m.get("content") or "") for m in chat) if prompt is None else prompt,
            completion_tokens=estimate_tokens(answered.strip()) if completion is None else completion,
            latency_s=latency,
            ttft_s=latency if ttft is None else min(float(ttft), latency),
            tokens_estimated=prompt is None or completion is None,
            cost_usd=None if fields.get("cost_usd") is None else float(fields["cost_usd"]),
            tool_calls=calls,
        )

    def close(self) -> None:
        """Stop the event loop, if an async function needed one."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def _keywords(function: Callable[..., Any]) -> frozenset[str] | None:
    """The request options ``function`` can be given as keywords; None when it takes any (``**options``) or
    its signature cannot be read."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    named = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return frozenset(named & set(REQUEST_OPTIONS))


def _tool_calls(value: Sequence[Any]) -> tuple[ToolCall, ...] | str:
    """A result's ``tool_calls`` as ToolCalls: each a ToolCall, ``{name, arguments, id}`` or OpenAI's
    ``{id, function: {name, arguments}}`` (arguments a JSON text or a mapping); else what is wrong."""
    calls = []
    for index, call in enumerate(value):
        if isinstance(call, ToolCall):
            calls.append(call)
            continue
        inner = call.get("function") if isinstance(call, Mapping) else None
        named = inner if isinstance(inner, Mapping) else call
        if not isinstance(named, Mapping) or not isinstance(named.get("name"), str) or not named["name"]:
            return (
                f"tool_calls[{index}] = {shown(call)}; a call must be a ToolCall, "
                "{'name', 'arguments'} or OpenAI's {'function': {'name', 'arguments'}}"
            )
        calls.append(ToolCall.parsed(named["name"], named.get("arguments"), str(call.get("id") or "")))
    return tuple(calls)


def _result_fields(result: Any) -> dict[str, Any] | str:
    """A result's fields by name, or what is wrong with its type."""
    if isinstance(result, str):
        return {"text": result}
    if isinstance(result, Mapping):
        return dict(result)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {field.name: getattr(result, field.name) for field in dataclasses.fields(result)}
    return f"returned a {type(result).__name__}; return a str, or a dict or dataclass with 'text'"


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _amount(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda value: isinstance(value, str), "a string"),
    "prompt_tokens": (_count, "a whole number >= 0"),
    "completion_tokens": (_count, "a whole number >= 0"),
    "cost_usd": (_amount, "a number >= 0"),
    "ttft_s": (_amount, "a number of seconds >= 0"),
    "tool_calls": (lambda value: isinstance(value, (list, tuple)), "a list"),
}


def _result_problem(fields: Mapping[str, Any]) -> str | None:
    """What is wrong with a structured result's fields, or None."""
    unknown = sorted(set(fields) - set(RESULT_KEYS))
    if unknown:
        return f"unknown field {unknown[0]!r}; known: {', '.join(RESULT_KEYS)}"
    if fields.get("text") is None and not fields.get("tool_calls"):
        return "no 'text' (and no 'tool_calls')"
    for key, value in fields.items():
        test, wanted = _CHECKS[key]
        if value is not None and not test(value):
            return f"{key!r} = {value!r}; it must be {wanted}"
    return None


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(_REFERENCE.match(value))


class PythonProvider(Provider):
    """The application's own function; as many calls at once as the run's bound or ``concurrency:`` allows
    (set ``concurrency: 1`` for a function that is not thread-safe)."""

    name = "python"
    params = rules()  # the function takes the chat (and the case's request options); its settings are its own
    request_options = frozenset(REQUEST_OPTIONS)  # given to the function as keywords, when the case has them
    settings = rules(
        function=Rule(_is_reference, "'module:function' (a dotted module, a colon, a qualified name)"),
        path=TEXTS,
    )
    model_from = "function"

    def identity(self, spec: BackendSpec, file_hash: Callable[[Path], str]) -> dict[str, Any]:
        """The function's module and qualified name and its source file's hash: editing the code misses the cache."""
        source = source_file(load_function(spec))
        return {
            "provider": spec.provider,
            "function": spec.function,
            "source_sha256": file_hash(source) if source is not None and source.is_file() else None,
        }

    def preflight(self, spec: BackendSpec, needs_key: bool) -> None:
        """The function must be named and importable: a config error at start-up, not an error per case."""
        if not spec.function:
            raise SpecError(
                spec.config_path, spec.line, f"backend {spec.name!r} of provider python needs 'function: module:name'"
            )
        load_function(spec)

    def make(self, spec: BackendSpec) -> Backend:
        """A PythonBackend around the imported function."""
        return PythonBackend(spec, load_function(spec))
