"""What a backend is: its config (BackendSpec), the prompt it sends and what it costs.

Plain data with no provider code, so every layer can name a backend without loading one."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Approach = Literal["prompted", "fine_tuned", "hybrid"]
PROMPTED: Approach = "prompted"
FINE_TUNED: Approach = "fine_tuned"
HYBRID: Approach = "hybrid"  # a fine-tuned model, a short system prompt and few-shot examples chosen per case
APPROACHES = (PROMPTED, FINE_TUNED, HYBRID)


@dataclass(frozen=True)
class Pricing:
    """What a backend costs: API tokens, self-hosted compute by the hour, fixed monthly costs
    (a hosted instance, on-device distribution) and one-time costs (training, data preparation)."""

    input_per_mtok_usd: float = 0.0
    output_per_mtok_usd: float = 0.0
    cached_input_per_mtok_usd: float | None = None  # None: cached input is billed as input
    per_hour_usd: float = 0.0
    concurrency: int = 1  # requests served at once on the hourly-priced compute
    per_month_usd: float = 0.0
    one_time_usd: float = 0.0

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a ``pricing:`` mapping may use."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Pricing:
        """Build from a config mapping; raises ValueError naming a bad key or value."""
        check_numbers(data, cls.keys(), "pricing")
        if data.get("concurrency", 1) < 1:
            raise ValueError("pricing 'concurrency' must be at least 1")
        return cls(**data)


def check_numbers(data: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    """Raise ValueError unless every key of ``data`` is in ``known`` and every value a number >= 0."""
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} key {unknown[0]!r}; known: {', '.join(known)}")
    for key, value in data.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{what} {key!r} must be a number >= 0, got {value!r}")


TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")  # {{name}}; other braces are left as written


class UnknownVariable(ValueError):
    """A ``{{name}}`` template names a variable that the case does not define."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def render(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with every ``{{name}}`` replaced by ``variables[name]``: one function renders a case's input and a
    backend's prompt alike. Raises UnknownVariable for the first name ``variables`` lacks."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise UnknownVariable(name)
        return variables[name]

    return TEMPLATE.sub(value, text)


@dataclass(frozen=True)
class FewShotPool:
    """``few_shot: {pool: FILE, k: 3, by: similarity}``: examples (input, output, line) of which the ``k``
    nearest a case are sent before it (answers/fewshot.py picks them)."""

    path: Path
    examples: tuple[tuple[str, str, int], ...]
    k: int = 3
    by: Literal["similarity", "lexical"] = "similarity"


@dataclass(frozen=True)
class Prompt:
    """What a backend sends before the case: a system prompt, few-shot (user, assistant) pairs and
    optionally a pool to choose more pairs from per case."""

    system: str | None = None
    few_shot: tuple[tuple[str, str], ...] = ()
    pool: FewShotPool | None = None

    def render(self, variables: Mapping[str, str]) -> Prompt:
        """This prompt with its ``{{name}}`` templates filled from a case's ``vars:`` (UnknownVariable when one
        is missing); rendered before the request is built, so the cache keys on the text actually sent."""
        few_shot = tuple((render(user, variables), render(assistant, variables)) for user, assistant in self.few_shot)
        return replace(self, system=render(self.system, variables) if self.system else self.system, few_shot=few_shot)

    def messages(self, case_messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The full chat: system prompt, few-shot turns, then the case's own messages."""
        chat = [{"role": "system", "content": self.system}] if self.system else []
        for user, assistant in self.few_shot:
            chat += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return chat + [dict(m) for m in case_messages]


@dataclass(frozen=True)
class BackendSpec:
    """One named backend from the config. Holds no secret: ``api_key_env`` names the variable.

    Plain data: the fields from ``base_url`` to ``prefix_cache`` belong to one provider or another,
    which declares them as its settings and checks them (backends/registry.py); the rest are common."""

    name: str
    provider: str
    model: str
    config_path: Path
    line: int = 0
    base_url: str | list[str] | None = None  # a list: a pool of identical servers, taken in turn
    api_key_env: str | None = None
    prompt: Prompt = field(default_factory=Prompt)
    tasks: Mapping[str, Prompt] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    pricing: Pricing = field(default_factory=Pricing)
    stream: bool = True
    timeout_s: float = 60.0  # the deadline of a whole call, retries included
    attempt_timeout_s: float | None = None  # one attempt's limit; None: half of timeout_s when it may retry
    max_retries: int = 2
    n_ctx: int = 2048
    n_threads: int | None = None
    concurrency: int | None = None  # the ceiling of calls at once; None: --llm-concurrency or its default
    concurrency_fixed: bool = False  # 'concurrency: {fixed: N}': exactly the ceiling, never adapted
    lora: str | None = None
    lora_scale: float = 1.0
    prefix_cache: bool = True
    function: str | None = None  # provider python: 'package.module:qualified.name'
    path: str | list[str] | None = None  # provider python: folders to import from, relative to the config
    url: str | None = None  # provider http: the application's endpoint
    method: str = "POST"
    body: Any = None  # provider http: the JSON request body, with {{input}} and {{messages}} placeholders
    response: str | Mapping[str, str] | None = None  # provider http: JSON pointer(s) into the answer
    headers: Mapping[str, Any] = field(default_factory=dict)  # provider http: as written (${VAR} unexpanded)
    options: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[Mapping[str, Any], ...] = ()  # OpenAI functions sent with every case, merged by options_for
    description: str = ""
    approach: Approach = PROMPTED
    missing_env: tuple[str, ...] = ()

    def prompt_for(self, task: str | None) -> Prompt | None:
        """The prompt for a case's task; None when this backend does not serve that task."""
        if task is None:
            return self.prompt
        return self.tasks.get(task)

    def options_for(self, case_options: Mapping[str, Any]) -> dict[str, Any]:
        """A case's request options with this backend's ``tools:`` merged in: the case wins per tool name (its
        tool takes the backend's place), its other tools follow the backend's."""
        if not self.tools:
            return dict(case_options)
        own = {tool["function"]["name"]: tool for tool in case_options.get("tools", ())}
        tools = [own.pop(tool["function"]["name"], tool) for tool in self.tools]
        return {**case_options, "tools": [*tools, *own.values()]}

    @property
    def fingerprint(self) -> str:
        """A short hash of what shapes the answers (model, adapter, endpoint, prompts, params), to tell
        a baseline made with another model or prompt from one made with this."""
        shape = {
            "provider": self.provider,
            "model": self.model,
            "base_url": self.base_urls,
            "lora": self.lora,
            "lora_scale": self.lora_scale,
            "prompt": asdict(self.prompt),
            "tasks": {name: asdict(prompt) for name, prompt in sorted(self.tasks.items())},
            "params": dict(self.params),
            **({"tools": list(self.tools)} if self.tools else {}),  # only when declared: older fingerprints hold
        }
        return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @property
    def base_urls(self) -> tuple[str, ...]:
        """The server(s) of an API backend: one, several (a pool), or none for the provider's default."""
        if self.base_url is None:
            return ()
        return (self.base_url,) if isinstance(self.base_url, str) else tuple(self.base_url)

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else self.config_path.parent / path

    @property
    def where(self) -> str:
        """'llmgate.yaml:12' for error messages."""
        return f"{self.config_path}:{self.line}"
