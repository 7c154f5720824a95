"""What a provider declares about itself: the params and settings it takes (each with its type and range),
how many calls it takes at once, what identifies its answers, what it checks before a run, and how it is made.

The core asks the provider (as Inspect AI asks a model API for ``max_connections()``), so adding a provider
touches ``backends/`` only, and a plugin's provider, registered with ``pytest_llmgate_register_providers``,
takes the same path as a built-in one.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import SpecError
from .base import Backend
from .spec import BackendSpec

# Option names whose values may be credentials; a provider's default cache identity leaves them out.
SECRET_WORDS = ("key", "token", "secret", "password", "auth")
SHOWN_CHARS = 60


@dataclass(frozen=True)
class Rule:
    """What one setting's value must be: a test, and the words that tell a user (``a number from 0 to 2``)."""

    test: Callable[[Any], bool]
    wanted: str

    def problem(self, key: str, value: Any) -> str | None:
        """Why ``key: value`` is wrong (the key, what it must be and what it got), or None when it is right."""
        return None if self.test(value) else f"{key!r} must be {self.wanted}, got {shown(value)}"


def shown(value: Any) -> str:
    """A value as a message quotes it: a string quoted and called one (so '64' is not read as 64)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value) if len(value) <= SHOWN_CHARS else repr(value[:SHOWN_CHARS]) + "..."
        return f"{text} (a string)"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounds(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"<= {high}" if high is not None else ""


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False, unit: str = "") -> Rule:
    """A finite number within [low, high] (or above ``low`` when ``low_open``); ``unit`` names what it counts."""

    def test(value: Any) -> bool:
        if not _is_number(value):
            return False
        above = low is None or (value > low if low_open else value >= low)
        return above and (high is None or value <= high)

    bounds = _bounds(low, high, low_open)
    return Rule(test, " ".join(part for part in ("a number" if bounds else "a finite number", unit, bounds) if part))


def whole(low: int | None = None, high: int | None = None, *, unit: str = "") -> Rule:
    """A whole number within [low, high]."""

    def test(value: Any) -> bool:
        return _is_whole(value) and (low is None or value >= low) and (high is None or value <= high)

    return Rule(test, " ".join(part for part in ("a whole number", unit, _bounds(low, high, False)) if part))


def one_of(*choices: Any) -> Rule:
    """One of a few fixed values."""
    return Rule(lambda value: isinstance(value, str) and value in choices, f"one of {', '.join(map(str, choices))}")


BOOLEAN = Rule(lambda value: isinstance(value, bool), "true or false")
TEXT = Rule(lambda value: isinstance(value, str), "a string")
NAME = Rule(lambda value: isinstance(value, str) and bool(value), "a non-empty string")
TEXTS = Rule(
    lambda value: isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
    "a string or a list of strings",
)
MAPPING = Rule(lambda value: isinstance(value, dict), "a mapping")
TOOLS = Rule(
    lambda value: isinstance(value, list) and all(isinstance(tool, dict) for tool in value),
    "a list of tools in OpenAI's function format ({type: function, function: {name, parameters}})",
)
TOOL_CHOICE = Rule(
    lambda value: value in ("auto", "none", "required") or isinstance(value, dict), "auto, none, required or a mapping"
)


def rules(**by_name: Rule) -> Mapping[str, Rule]:
    """A read-only table of a provider's params (or settings) by name."""
    return MappingProxyType(by_name)


# The sampling params every OpenAI-style chat API takes, with the ranges the OpenAI API documents.
COMMON_PARAMS = rules(
    temperature=number(0, 2),
    top_p=number(0, 1),
    max_tokens=whole(1),
    seed=whole(),
    stop=TEXTS,
    frequency_penalty=number(-2, 2),
    presence_penalty=number(-2, 2),
)
NO_SETTINGS: Mapping[str, Rule] = rules()


def missing_env_check(spec: BackendSpec) -> None:
    """Raise SpecError naming the variables ``spec``'s values needed that are unset."""
    if spec.missing_env:
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r} needs the environment variable(s) {', '.join(spec.missing_env)}; "
            "set them or choose another backend",
        )


def require_package(spec: BackendSpec, module: str, extra: str) -> None:
    """Raise SpecError naming the extra to install when ``module`` is absent (found without importing it:
    llama_cpp loads a native library on import)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ValueError:  # already imported without a __spec__ (a stand-in module): present
        found = True
    if not found:
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r} uses provider {spec.provider}, "
            f"which needs the {extra!r} extra: pip install 'pytest-llmgate[{extra}]'",
        )


def require_key(spec: BackendSpec) -> None:
    """Raise SpecError when ``spec`` names an API key variable that is not set."""
    if spec.api_key_env and not os.environ.get(spec.api_key_env):
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r} reads its API key from ${spec.api_key_env}, which is not set",
        )


class Provider:
    """One kind of backend and its facts. Subclass it for a plugin provider and register an instance::

        class GatewayProvider(Provider):
            name = "my_gateway"
            params = COMMON_PARAMS
            def check_options(self, options):
                return [] if isinstance(options.get("region"), str) else [("region", "'region' must be a string")]
            def make(self, spec):
                return GatewayBackend(spec.name, spec.model, spec.options["region"])

    ``settings`` are the provider's own backend keys beside the common ones (each a BackendSpec field,
    such as ``base_url`` or ``n_ctx``); anything else a provider needs goes under ``options:``.
    """

    name: str = ""
    params: Mapping[str, Rule] = COMMON_PARAMS
    settings: Mapping[str, Rule] = NO_SETTINGS
    model_from: str | None = (
        None  # a setting that names what answers, so 'model:' may be left out (python's 'function')
    )
    # What a request may carry beyond the chat that this provider sends on (a subset of base.REQUEST_OPTIONS:
    # tools, tool_choice, response_format); a case asking another backend for one is an error, not ignored.
    request_options: frozenset[str] = frozenset()

    def check_options(self, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The problems of a backend's ``options:`` as (key, what is wrong); options are free by default."""
        return []

    def max_calls(self, spec: BackendSpec) -> int | None:
        """How many calls ``spec``'s backend takes at once, or None when only the run's bound applies."""
        return None

    def connection_key(self, spec: BackendSpec) -> Hashable:
        """The pool whose calls share one bound: by default each backend's own."""
        return (spec.config_path, spec.name)

    def identity(self, spec: BackendSpec, file_hash: Callable[[Path], str]) -> dict[str, Any]:
        """What identifies the answers of ``spec`` for the response cache, never a secret: by default the
        model and the options (without credentials). ``file_hash`` gives a file's SHA-256, remembered."""
        return {
            "provider": spec.provider,
            "model": spec.model,
            "options": {
                name: value
                for name, value in spec.options.items()
                if not any(word in name.lower() for word in SECRET_WORDS)
            },
        }

    def secrets(self, spec: BackendSpec) -> tuple[str, ...]:
        """The credential values ``spec``'s backend sends, to be redacted from everything written: its API key."""
        key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        return (key,) if key else ()

    def warm_up(self) -> None:
        """Start what can be readied while pytest collects (an SDK's import), once a config names this provider."""

    def preflight(self, spec: BackendSpec, needs_key: bool) -> None:
        """Raise SpecError if ``spec`` cannot start (a package, key or file missing); ``needs_key`` is false
        when a replay answers every call. Runs before any model loads."""

    def make(self, spec: BackendSpec) -> Backend:
        """The backend for ``spec``, made once per run and process."""
        raise NotImplementedError(f"provider {self.name!r} does not say how to make its backend")
