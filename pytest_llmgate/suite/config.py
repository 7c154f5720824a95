"""The suite config (``llmgate.yaml``): named backends, default backend and thresholds.

Backend strings and prompts may use ``${VAR}`` and ``${VAR:-default}``; a variable that is unset
makes only the backends that use it unusable, with an error naming the variable when one is selected.
API keys are never read into the config: a backend names the variable that holds its key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.spec import APPROACHES, BackendSpec, Pricing, Prompt
from ..errors import SpecError
from ..robustness.perturb import PerturbSpec
from .terms import (
    CATEGORIES,
    DEFAULT_HORIZON_MONTHS,
    DecisionPolicy,
    Threshold,
    Tolerance,
    parse_thresholds,
    parse_tolerance,
    parse_volume,
)
from .yamlio import LineDict, expect_mapping, line_of, load_yaml, read_text, reject_unknown, type_name

CONFIG_NAME = "llmgate.yaml"
CONFIG_KEYS = (
    "default_backend",
    "backends",
    "thresholds",
    "errors",
    "regression",
    "perturb",
    "volume",
    "horizon_months",
    "decision",
)
BACKEND_KEYS = (
    "provider",
    "model",
    "base_url",
    "api_key_env",
    "system_prompt",
    "few_shot",
    "tasks",
    "params",
    "pricing",
    "stream",
    "timeout_s",
    "max_retries",
    "n_ctx",
    "n_threads",
    "lora",
    "lora_scale",
    "prefix_cache",
    "options",
    "description",
    "approach",
    "concurrency",
    "thresholds",
)
PARAM_KEYS = ("temperature", "max_tokens", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty")
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class SuiteConfig:
    """A parsed ``llmgate.yaml``."""

    path: Path
    backends: Mapping[str, BackendSpec]
    default_backend: str | None
    thresholds: Mapping[str, Threshold]
    volume_per_day: float | None = None
    horizon_months: float = DEFAULT_HORIZON_MONTHS
    decision: DecisionPolicy = field(default_factory=DecisionPolicy)
    max_error_rate: float = 0.0  # 'errors: {max_rate: ...}': the share of unanswered cases a gate tolerates
    regression_tolerance: Mapping[str, Tolerance] = field(default_factory=dict)  # 'regression:' per category
    perturb: PerturbSpec | None = None  # 'perturb:' for every case that names none
    backend_thresholds: Mapping[str, Mapping[str, Threshold]] = field(
        default_factory=dict
    )  # per backend, over the suite's

    def backend(self, name: str) -> BackendSpec:
        """The backend called ``name``; SpecError listing the known names otherwise."""
        if name not in self.backends:
            known = ", ".join(self.backends) or "none"
            raise SpecError(self.path, None, f"unknown backend {name!r}; known backends: {known}")
        return self.backends[name]

    def selected(self, requested: list[str]) -> list[str]:
        """The requested backend names, or the default backend when none was requested."""
        if requested:
            return list(dict.fromkeys(requested))
        if self.default_backend:
            return [self.default_backend]
        raise SpecError(self.path, None, "no backend selected: pass --llm-backend NAME or set 'default_backend'")


def find_config(start: Path, name: str = CONFIG_NAME) -> Path | None:
    """The nearest ``llmgate.yaml`` in ``start``'s folder or an ancestor folder."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if (candidate / name).is_file():
            return candidate / name
    return None


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> SuiteConfig:
    """Parse and validate a suite config; raise SpecError with file and line on any problem."""
    environ = os.environ if environ is None else environ
    data = load_yaml(path, "config file")
    root = expect_mapping(data if data is not None else {}, path, 1, "the config")
    reject_unknown(root, CONFIG_KEYS, path, "top-level key")
    raw_backends = expect_mapping(root.get("backends", {}), path, root.line_of("backends"), "'backends'")
    backends = {
        name: _parse_backend(name, raw, raw_backends.line_of(name), path, environ) for name, raw in raw_backends.items()
    }
    default = root.get("default_backend")
    if default is not None and not isinstance(default, str):
        raise SpecError(
            path, root.line_of("default_backend"), f"default_backend must be a backend's name, got {type_name(default)}"
        )
    if default is not None and default not in backends:
        raise SpecError(
            path, root.line_of("default_backend"), f"default_backend {default!r} is not defined under 'backends'"
        )
    thresholds = parse_thresholds(root["thresholds"], path) if "thresholds" in root else {}
    backend_thresholds = {
        name: parse_thresholds(raw["thresholds"], path)
        for name, raw in raw_backends.items()
        if isinstance(raw, dict) and "thresholds" in raw
    }
    return SuiteConfig(
        path,
        backends,
        default,
        thresholds,
        **_parse_economics(root, path),
        backend_thresholds=backend_thresholds,
        max_error_rate=_parse_error_tolerance(root, path),
        regression_tolerance=_parse_regression(root, path),
        perturb=_parse_perturb(root, path),
    )


def _parse_perturb(root: LineDict, path: Path) -> PerturbSpec | None:
    """The suite-wide ``perturb:`` (the same keys as a case's)."""
    if root.get("perturb") is None:
        return None
    try:
        return PerturbSpec.from_mapping(root["perturb"])
    except ValueError as exc:
        raise SpecError(path, root.line_of("perturb"), str(exc)) from None


def _parse_regression(root: LineDict, path: Path) -> dict[str, Tolerance]:
    """The ``regression:`` key: per category (or 'all'), the drop --llm-fail-on-regression allows, e.g. 'accuracy:2%'."""
    if "regression" not in root:
        return {}
    node = expect_mapping(root["regression"], path, root.line_of("regression"), "'regression'")
    tolerances = {}
    for category, spec in node.items():
        if category not in (*CATEGORIES, "all"):
            raise SpecError(
                path,
                node.line_of(category),
                f"unknown category {category!r} in 'regression'; use one of {', '.join(CATEGORIES)} or all",
            )
        try:
            tolerances[category] = parse_tolerance(spec if isinstance(spec, str) else repr(spec))
        except ValueError as exc:
            raise SpecError(path, node.line_of(category), f"regression.{category}: {exc}") from None
    return tolerances


def _parse_error_tolerance(root: LineDict, path: Path) -> float:
    """The ``errors: {max_rate: R}`` key: the share of cases a gate group may lose to errors (default 0)."""
    if "errors" not in root:
        return 0.0
    node = expect_mapping(root["errors"], path, root.line_of("errors"), "'errors'")
    reject_unknown(node, ("max_rate",), path, "key in 'errors'")
    rate = node.get("max_rate", 0.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise SpecError(
            path,
            node.line_of("max_rate"),
            f"errors.max_rate must be a number from 0 to below 1 (a share of the cases, e.g. 0.02), got {rate!r}",
        )
    return float(rate)


def _parse_economics(root: LineDict, path: Path) -> dict[str, Any]:
    """The ``volume``, ``horizon_months`` and ``decision`` keys, validated."""

    def checked(key: str, parse: Callable[[Any], Any]) -> Any:
        try:
            return parse(root[key])
        except ValueError as exc:
            raise SpecError(path, root.line_of(key), str(exc)) from None

    parsed: dict[str, Any] = {}
    if root.get("volume") is not None:
        parsed["volume_per_day"] = checked("volume", parse_volume)
    if "horizon_months" in root:
        parsed["horizon_months"] = checked("horizon_months", _horizon)
    if "decision" in root:
        decision = expect_mapping(root["decision"], path, root.line_of("decision"), "'decision'")
        parsed["decision"] = checked("decision", lambda _: DecisionPolicy.from_mapping(decision))
    return parsed


def _horizon(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"horizon_months must be a number of months > 0, got {value!r}")
    return float(value)


# Parsed on their own below, with their own expansion (or none: pricing holds numbers).
_PARSED_APART = ("system_prompt", "few_shot", "tasks", "params", "pricing", "thresholds")


def _parse_backend(name: str, raw: Any, line: int, path: Path, environ: Mapping[str, str]) -> BackendSpec:
    node = expect_mapping(raw, path, line, f"backend {name!r}")
    if "api_key" in node:
        raise SpecError(
            path,
            node.line_of("api_key"),
            f"backend {name!r}: never write a key in the config; set 'api_key_env: VARIABLE_NAME' instead",
        )
    reject_unknown(node, BACKEND_KEYS, path, f"key in backend {name!r}")
    missing: list[str] = []

    def expand(value: Any) -> Any:
        return _expand(value, environ, missing)

    values = {key: expand(value) for key, value in node.items() if key not in _PARSED_APART}
    where = f"backend {name!r}"
    for key in ("provider", "model"):
        # Checked before expansion: an unset ${VAR} only blocks this backend when it is selected.
        if not isinstance(node.get(key), str) or not node[key]:
            raise SpecError(path, node.line_of(key), f"{where} needs {key!r} (a string)")
    params = expect_mapping(node.get("params", {}), path, node.line_of("params"), f"{where}: 'params'")
    reject_unknown(params, PARAM_KEYS, path, f"parameter in {where}")
    pricing_node = node.get("pricing", {})
    try:
        pricing = Pricing.from_mapping(
            expect_mapping(pricing_node, path, node.line_of("pricing"), f"{where}: 'pricing'")
        )
    except ValueError as exc:
        raise SpecError(path, node.line_of("pricing"), f"{where}: {exc}") from None
    raw_options = values.get("options")  # 'options:' with nothing after it reads as null
    options = expect_mapping(
        {} if raw_options is None else raw_options, path, node.line_of("options"), f"{where}: 'options'"
    )
    tasks_node = expect_mapping(node.get("tasks", {}), path, node.line_of("tasks"), f"{where}: 'tasks'")
    tasks = {}
    for task, task_raw in tasks_node.items():
        task_node = expect_mapping(task_raw, path, tasks_node.line_of(task), f"{where}: task {task!r}")
        reject_unknown(task_node, ("system_prompt", "few_shot"), path, f"key in {where} task {task!r}")
        tasks[task] = _parse_prompt(task_node, path, expand)
    scalars = {key: values[key] for key in _SCALAR_TYPES if key in values}
    _check_scalars(scalars, node, path, where)
    return BackendSpec(
        name=name,
        provider=values["provider"],
        model=values["model"],
        config_path=path,
        line=line,
        prompt=_parse_prompt(node, path, expand),
        tasks=tasks,
        params=expand(dict(params)),
        pricing=pricing,
        options=dict(options),
        missing_env=tuple(dict.fromkeys(missing)),
        **scalars,
    )


_SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "api_key_env": (str,),
    "stream": (bool,),
    "timeout_s": (int, float),
    "max_retries": (int,),
    "n_ctx": (int,),
    "n_threads": (int,),
    "lora": (str,),
    "lora_scale": (int, float),
    "prefix_cache": (bool,),
    "description": (str,),
    "approach": (str,),
    "base_url": (str, list),
    "concurrency": (int,),
}
MAX_RETRIES = 10
MAX_CONCURRENCY = 256

# The values each scalar may take once its type is right: (test, what the message asks for).
_SCALAR_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "timeout_s": (lambda v: math.isfinite(v) and v > 0, "a number of seconds > 0"),
    "max_retries": (lambda v: 0 <= v <= MAX_RETRIES, f"a whole number from 0 to {MAX_RETRIES}"),
    "n_ctx": (lambda v: v > 0, "a number of tokens > 0"),
    "n_threads": (lambda v: v >= 1, "a number of threads >= 1"),
    "lora_scale": (math.isfinite, "a finite number"),
    "approach": (lambda v: v in APPROACHES, f"one of {', '.join(APPROACHES)}"),
    "base_url": (
        lambda v: isinstance(v, str) or (bool(v) and all(isinstance(u, str) and u for u in v)),
        "a URL or a non-empty list of URLs",
    ),
    "concurrency": (lambda v: 1 <= v <= MAX_CONCURRENCY, f"a number of calls at once from 1 to {MAX_CONCURRENCY}"),
}


def _check_scalars(scalars: Mapping[str, Any], node: LineDict, path: Path, where: str) -> None:
    for key, value in scalars.items():
        allowed = _SCALAR_TYPES[key]
        wrong_bool = isinstance(value, bool) and bool not in allowed
        if wrong_bool or not isinstance(value, allowed):
            raise SpecError(
                path,
                node.line_of(key),
                f"{where}: {key!r} must be {' or '.join(t.__name__ for t in allowed)}, got {type_name(value)}",
            )
        in_range, wanted = _SCALAR_RANGES.get(key, (lambda _: True, ""))
        if not in_range(value):
            raise SpecError(path, node.line_of(key), f"{where}: {key!r} must be {wanted}, got {value!r}")


def _parse_prompt(node: LineDict, path: Path, expand: Callable[[str], str]) -> Prompt:
    """The system prompt and few-shot pairs of ``node`` (inline or from files), ``${VAR}`` expanded."""
    system = node.get("system_prompt")
    if isinstance(system, dict):
        prompt_path = _file_ref_path(system, path, node.line_of("system_prompt"), "system_prompt")
        system = read_text(prompt_path, "system prompt file").strip()
    elif system is not None and not isinstance(system, str):
        raise SpecError(
            path,
            node.line_of("system_prompt"),
            f"'system_prompt' must be a string or {{file: path}}, got {type_name(system)}",
        )
    few_shot_raw = node.get("few_shot", [])
    few_shot_path, few_shot_line = path, node.line_of("few_shot")
    if isinstance(few_shot_raw, dict):
        few_shot_path = _file_ref_path(few_shot_raw, path, few_shot_line, "few_shot")
        few_shot_raw = load_yaml(few_shot_path, "few-shot file")
        few_shot_line = line_of(few_shot_raw, default=1)
    few_shot = _parse_few_shot(few_shot_raw, few_shot_path, few_shot_line)
    return Prompt(
        expand(system) if system else system, tuple((expand(user), expand(reply)) for user, reply in few_shot)
    )


def _parse_few_shot(raw: Any, path: Path, line: int) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise SpecError(path, line, f"few-shot examples must be a list of {{user, assistant}}, got {type_name(raw)}")
    pairs = []
    for index, pair in enumerate(raw):
        pair_line = raw.item_lines[index] if hasattr(raw, "item_lines") else line
        if (
            not isinstance(pair, dict)
            or set(pair) != {"user", "assistant"}
            or not all(isinstance(v, str) for v in pair.values())
        ):
            raise SpecError(
                path, pair_line, "each few-shot example must be a mapping with exactly 'user' and 'assistant' strings"
            )
        pairs.append((pair["user"], pair["assistant"]))
    return tuple(pairs)


def _file_ref_path(ref: dict, path: Path, line: int, key: str) -> Path:
    if set(ref) != {"file"} or not isinstance(ref["file"], str):
        raise SpecError(path, line, f"{key!r} as a mapping must be {{file: relative/path}}")
    target = path.parent / ref["file"]
    try:
        found = target.is_file()
    except (OSError, ValueError):  # a name too long for the filesystem, or with a NUL byte
        found = False
    if not found:
        raise SpecError(path, line, f"{key!r} file not found: {target}")
    return target


def _expand(value: Any, environ: Mapping[str, str], missing: list[str]) -> Any:
    """Expand ${VAR} and ${VAR:-default} in every string of ``value``; collect unset names."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ and environ[name] != "":
                return environ[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        return _ENV_PATTERN.sub(replace, value)
    if isinstance(value, dict):
        return {k: _expand(v, environ, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, missing) for v in value]
    return value
