"""The suite config (``llmgate.yaml``): named backends, default backend and thresholds.

Backend strings and prompts may use ``${VAR}`` and ``${VAR:-default}``; a variable that is unset
makes only the backends that use it unusable, with an error naming the variable when one is selected.
API keys are never read into the config: a backend names the variable that holds its key.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..backends.embedders import EMBEDDING_PROVIDERS, LOCAL_EMBEDDERS
from ..backends.provider import TEXT, Provider, Rule, one_of, rules, whole
from ..backends.registry import DEFAULT_PROVIDERS, ProviderRegistry
from ..backends.spec import APPROACHES, BackendSpec, FewShotPool, Pricing, Prompt
from ..errors import SpecError, SpecErrors
from ..robustness.perturb import PerturbSpec
from .cases import parse_tools
from .rubrics import RubricSpec, parse_rubrics
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
    "embedder",
    "rubrics",
)
# The keys every backend takes, whatever its provider; a provider adds its own (Provider.settings).
BACKEND_KEYS = (
    "provider",
    "model",
    "system_prompt",
    "few_shot",
    "tasks",
    "params",
    "pricing",
    "options",
    "tools",
    "description",
    "approach",
    "concurrency",
    "thresholds",
)
MAX_CONCURRENCY = 256
_CALLS = whole(1, MAX_CONCURRENCY, unit="of calls at once")
_COMMON_RULES = rules(
    description=TEXT,
    approach=one_of(*APPROACHES),
    concurrency=Rule(
        lambda v: _CALLS.test(v) or (isinstance(v, dict) and set(v) == {"fixed"} and _CALLS.test(v["fixed"])),
        f"{_CALLS.wanted} (the ceiling, adapted under overload) or {{fixed: N}} (exactly N)",
    ),
)
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class SuiteConfig:
    """A parsed ``llmgate.yaml``."""

    path: Path
    backends: Mapping[str, BackendSpec]
    default_backend: str | None
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    volume_per_day: float | None = None
    horizon_months: float = DEFAULT_HORIZON_MONTHS
    decision: DecisionPolicy = field(default_factory=DecisionPolicy)
    max_error_rate: float = 0.0  # 'errors: {max_rate: ...}': the share of unanswered cases a gate tolerates
    regression_tolerance: Mapping[str, Tolerance] = field(default_factory=dict)  # 'regression:' per category
    perturb: PerturbSpec | None = None  # 'perturb:' for every case that names none
    embedder: str | None = None  # 'embedder:' for similar: checks (None: the in-process default)
    embedder_line: int | None = None
    rubrics: Mapping[str, RubricSpec] = field(default_factory=dict)  # 'rubrics:' of judge: checks, by name
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


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, providers: ProviderRegistry = DEFAULT_PROVIDERS
) -> SuiteConfig:
    """Parse and validate a suite config against ``providers``; raise one SpecError listing every problem
    (each backend and each top-level key checked on its own), with file and line."""
    environ = os.environ if environ is None else environ
    data = load_yaml(path, "config file")
    root = expect_mapping(data if data is not None else {}, path, 1, "the config")
    errors = SpecErrors()
    with errors.part():
        reject_unknown(root, CONFIG_KEYS, path, "top-level key")
    backends: dict[str, BackendSpec] = {}
    backend_thresholds: dict[str, dict[str, Threshold]] = {}
    raw_backends = LineDict()
    with errors.part():
        raw_backends = expect_mapping(root.get("backends", {}), path, root.line_of("backends"), "'backends'")
    for name, raw in raw_backends.items():
        with errors.part():
            backends[name], thresholds = _parse_backend(name, raw, raw_backends.line_of(name), path, environ, providers)
            if thresholds is not None:
                backend_thresholds[name] = thresholds
    default = root.get("default_backend")
    with errors.part():
        _check_default(default, raw_backends, root, path)
    parsed: dict[str, Any] = {}
    for key, parse in _TOP_LEVEL_PARSERS.items():
        if key in root:
            with errors.part():
                parsed.update(parse(root, path))
    if "rubrics" in root:
        with errors.part():
            parsed["rubrics"] = parse_rubrics(root, path, raw_backends)
    errors.raise_any()
    return SuiteConfig(path, backends, default, backend_thresholds=backend_thresholds, **parsed)


def _check_default(default: Any, backends: Mapping[str, Any], root: LineDict, path: Path) -> None:
    """``default_backend`` must name a backend under ``backends:``."""
    line = root.line_of("default_backend")
    if default is not None and not isinstance(default, str):
        raise SpecError(path, line, f"default_backend must be a backend's name, got {type_name(default)}")
    if default is not None and default not in backends:
        known = ", ".join(backends) or "none"
        raise SpecError(path, line, f"default_backend {default!r} is not defined under 'backends' (defined: {known})")


def _parse_perturb(root: LineDict, path: Path) -> PerturbSpec | None:
    """The suite-wide ``perturb:`` (the same keys as a case's)."""
    if root.get("perturb") is None:
        return None
    try:
        return PerturbSpec.from_mapping(root["perturb"])
    except ValueError as exc:
        raise SpecError(path, root.line_of("perturb"), str(exc)) from None


def _parse_embedder(root: LineDict, path: Path) -> str:
    """The ``embedder:`` of similar: checks: a backend of this file of a provider that embeds, or an in-process one."""
    name, line = root["embedder"], root.line_of("embedder")
    local = ", ".join(LOCAL_EMBEDDERS)
    if not isinstance(name, str) or not name:
        raise SpecError(path, line, f"'embedder' must be a backend's name or one of {local}, got {type_name(name)}")
    backends = root.get("backends")
    raw = backends.get(name) if isinstance(backends, dict) else None
    if raw is not None and name in LOCAL_EMBEDDERS:
        raise SpecError(
            path, line, f"'embedder: {name}' names both a backend and the in-process embedder; rename the backend"
        )
    if raw is None and name not in LOCAL_EMBEDDERS:
        raise SpecError(path, line, f"'embedder' {name!r} is neither a backend of this file nor one of {local}")
    provider = raw.get("provider") if isinstance(raw, dict) else None
    if raw is not None and provider not in EMBEDDING_PROVIDERS:
        raise SpecError(
            path,
            line,
            f"'embedder' {name!r} is a backend of provider {provider}, which serves no embeddings; "
            f"name a backend of provider {' or '.join(EMBEDDING_PROVIDERS)} (its model an embeddings model), or one of {local}",
        )
    return name


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


def _checked(root: LineDict, path: Path, key: str, parse: Callable[[Any], Any]) -> Any:
    """``parse(root[key])``, its ValueError a SpecError at the key's line."""
    try:
        return parse(root[key])
    except ValueError as exc:
        raise SpecError(path, root.line_of(key), str(exc)) from None


def _parse_decision(root: LineDict, path: Path) -> DecisionPolicy:
    decision = expect_mapping(root["decision"], path, root.line_of("decision"), "'decision'")
    return _checked(root, path, "decision", lambda _: DecisionPolicy.from_mapping(decision))


def _horizon(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"horizon_months must be a number of months > 0, got {value!r}")
    return float(value)


# Each top-level key but backends and default_backend: the SuiteConfig fields it gives, checked on its own.
_TOP_LEVEL_PARSERS: dict[str, Callable[[LineDict, Path], dict[str, Any]]] = {
    "thresholds": lambda root, path: {"thresholds": parse_thresholds(root["thresholds"], path)},
    "volume": lambda root, path: (
        {} if root["volume"] is None else {"volume_per_day": _checked(root, path, "volume", parse_volume)}
    ),
    "horizon_months": lambda root, path: {"horizon_months": _checked(root, path, "horizon_months", _horizon)},
    "decision": lambda root, path: {"decision": _parse_decision(root, path)},
    "errors": lambda root, path: {"max_error_rate": _parse_error_tolerance(root, path)},
    "regression": lambda root, path: {"regression_tolerance": _parse_regression(root, path)},
    "perturb": lambda root, path: {"perturb": _parse_perturb(root, path)},
    "embedder": lambda root, path: {"embedder": _parse_embedder(root, path), "embedder_line": root.line_of("embedder")},
}


def _parse_backend(
    name: str, raw: Any, line: int, path: Path, environ: Mapping[str, str], providers: ProviderRegistry
) -> tuple[BackendSpec, dict[str, Threshold] | None]:
    """One backend and its own thresholds, every key checked (its provider's by the rules the provider
    declares); one SpecError listing all of the backend's problems."""
    where = f"backend {name!r}"
    node = expect_mapping(raw, path, line, where)
    errors = SpecErrors()
    # A provider that names what answers in a key of its own (python's 'function') needs no 'model'.
    written_provider = node.get("provider")
    model_from = providers.declared(written_provider if isinstance(written_provider, str) else "").model_from
    for key in ("provider", "model"):
        # Checked before expansion: an unset ${VAR} only blocks this backend when it is selected.
        if key == "model" and model_from is not None and "model" not in node:
            continue
        if not isinstance(node.get(key), str) or not node[key]:
            errors.add(SpecError(path, node.line_of(key), f"{where} needs {key!r} (a string)"))
    missing: list[str] = []
    values: dict[str, Any] = {}
    unresolved: set[str] = set()  # keys whose value used an unset variable: checked when the backend is selected
    for key, value in node.items():
        if key not in _PARSED_APART:
            before = len(missing)
            values[key] = _expand(value, environ, missing)
            if len(missing) > before:
                unresolved.add(key)
    provider_name = values["provider"] if isinstance(values.get("provider"), str) else ""
    provider = providers.declared(provider_name)
    _check_keys(node, values, unresolved, provider, providers, provider_name, path, where, errors)
    params: dict[str, Any] = {}
    with errors.part():
        params = _parse_params(node, provider, environ, missing, path, where)
    pricing = Pricing()
    with errors.part():
        pricing_node = expect_mapping(node.get("pricing", {}), path, node.line_of("pricing"), f"{where}: 'pricing'")
        try:
            pricing = Pricing.from_mapping(pricing_node)
        except ValueError as exc:
            raise SpecError(path, node.line_of("pricing"), f"{where}: {exc}") from None
    options: dict[str, Any] = {}
    with errors.part():
        options = _parse_options(node, values.get("options"), provider, path, where)
    tasks: dict[str, Prompt] = {}
    with errors.part():
        tasks = _parse_tasks(node, path, where, lambda value: _expand(value, environ, missing))
    prompt = Prompt()
    with errors.part():
        prompt = _parse_prompt(node, path, lambda value: _expand(value, environ, missing))
    tools: list[dict[str, Any]] = []
    if node.get("tools") is not None:
        with errors.part():
            tools = _parse_tools(node, provider, provider_name, path, where)
    thresholds = None
    if "thresholds" in node:
        with errors.part():
            thresholds = parse_thresholds(node["thresholds"], path)
    errors.raise_any()
    scalars = {key: values[key] for key in (*provider.settings, *_COMMON_RULES) if key in values}
    if "headers" in scalars:  # header values may carry secrets: kept as written, expanded by the backend
        scalars["headers"] = node["headers"]
    if isinstance(scalars.get("concurrency"), dict):  # {fixed: N}: exactly N calls at once, never adapted
        scalars.update(concurrency=scalars["concurrency"]["fixed"], concurrency_fixed=True)
    spec = BackendSpec(
        name=name,
        provider=values["provider"],
        model=values["model"] if "model" in values else str(values.get(model_from or "", "")),
        config_path=path,
        line=line,
        prompt=prompt,
        tasks=tasks,
        params=params,
        pricing=pricing,
        options=options,
        tools=tuple(tools),
        missing_env=tuple(dict.fromkeys(missing)),
        **scalars,
    )
    return spec, thresholds


# Parsed on their own, with their own expansion (or none: pricing holds numbers).
_PARSED_APART = ("system_prompt", "few_shot", "tasks", "params", "pricing", "thresholds", "tools")


def _check_keys(
    node: LineDict,
    values: Mapping[str, Any],
    unresolved: set[str],
    provider: Provider,
    providers: ProviderRegistry,
    provider_name: str,
    path: Path,
    where: str,
    errors: SpecErrors,
) -> None:
    """Every key of a backend known to its provider (or common to all), and each value as its rule asks."""
    if "api_key" in node:
        errors.add(
            SpecError(
                path,
                node.line_of("api_key"),
                f"{where}: never write a key in the config; set 'api_key_env: VARIABLE_NAME' instead",
            )
        )
    known = (*BACKEND_KEYS, *provider.settings)
    for key in node:
        if key in known or key == "api_key":
            continue
        owners = providers.owners(key)
        if owners:
            message = f"{where}: {key!r} is a setting of provider {' and '.join(owners)}, not of {provider_name}"
        else:
            message = f"unknown key in {where} {key!r}; known: {', '.join(known)}"
        errors.add(SpecError(path, node.line_of(key), message))
    for key, value in values.items():
        rule = provider.settings.get(key) or _COMMON_RULES.get(key)
        if rule is not None and key not in unresolved and (problem := rule.problem(key, value)) is not None:
            errors.add(SpecError(path, node.line_of(key), f"{where}: {problem}"))


def _parse_params(
    node: LineDict, provider: Provider, environ: Mapping[str, str], missing: list[str], path: Path, where: str
) -> dict[str, Any]:
    """The backend's ``params:``, each a param its provider takes, of the type and in the range it declares."""
    raw = node.get("params")
    params = expect_mapping({} if raw is None else raw, path, node.line_of("params"), f"{where}: 'params'")
    errors = SpecErrors()
    result = {}
    for key, value in params.items():
        line = params.line_of(key)
        rule = provider.params.get(key)
        if rule is None:
            errors.add(
                SpecError(path, line, f"unknown parameter in {where} {key!r}; known: {', '.join(provider.params)}")
            )
            continue
        before = len(missing)
        result[key] = _expand(value, environ, missing)
        if len(missing) > before:
            continue  # checked once the variable is set: the backend is unusable until then
        if result[key] != value and not rule.test(result[key]):
            result[key] = _as_number(result[key])  # 'temperature: ${TEMP}' expands to the text '0.7'
        if (problem := rule.problem(key, result[key])) is not None:
            errors.add(SpecError(path, line, f"{where}: param {problem}"))
    errors.raise_any()
    return result


def _parse_tools(
    node: LineDict, provider: Provider, provider_name: str, path: Path, where: str
) -> list[dict[str, Any]]:
    """The backend's ``tools:`` (a list of OpenAI functions or ``{file: tools.json}`` beside llmgate.yaml), sent
    with every case beside the case's own; a provider that cannot send tools says so here, not by ignoring them."""
    if "tools" not in provider.request_options:
        raise SpecError(
            path,
            node.line_of("tools"),
            f"{where}: provider {provider_name} cannot send tools; declare them on a backend whose provider can "
            "(docs/tools.md lists them)",
        )
    return parse_tools(node["tools"], path, node.line_of("tools"), f"{where}: 'tools'")


def _as_number(text: str) -> Any:
    """The number an expanded text spells (YAML's reading of '0.7' or '64'), else the text itself."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def _parse_options(node: LineDict, raw: Any, provider: Provider, path: Path, where: str) -> dict[str, Any]:
    """The backend's ``options:`` (null reads as none), checked by its provider."""
    options = expect_mapping({} if raw is None else raw, path, node.line_of("options"), f"{where}: 'options'")
    written = node.get("options")
    lines = written if isinstance(written, LineDict) else options
    errors = SpecErrors()
    for key, problem in provider.check_options(options):
        errors.add(SpecError(path, lines.line_of(key), f"{where}: {problem}"))
    errors.raise_any()
    return dict(options)


def _parse_tasks(node: LineDict, path: Path, where: str, expand: Callable[[str], str]) -> dict[str, Prompt]:
    """The backend's ``tasks:``: a prompt per task name."""
    tasks_node = expect_mapping(node.get("tasks", {}), path, node.line_of("tasks"), f"{where}: 'tasks'")
    tasks = {}
    for task, task_raw in tasks_node.items():
        task_node = expect_mapping(task_raw, path, tasks_node.line_of(task), f"{where}: task {task!r}")
        reject_unknown(task_node, ("system_prompt", "few_shot"), path, f"key in {where} task {task!r}")
        tasks[task] = _parse_prompt(task_node, path, expand)
    return tasks


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
    pool = None
    if isinstance(few_shot_raw, LineDict) and "pool" in few_shot_raw:
        pool, few_shot_raw = _parse_pool(few_shot_raw, path, few_shot_line), []
    if isinstance(few_shot_raw, dict):
        few_shot_path = _file_ref_path(few_shot_raw, path, few_shot_line, "few_shot")
        few_shot_raw = load_yaml(few_shot_path, "few-shot file")
        few_shot_line = line_of(few_shot_raw, default=1)
    few_shot = _parse_few_shot(few_shot_raw, few_shot_path, few_shot_line)
    return Prompt(
        expand(system) if system else system, tuple((expand(user), expand(reply)) for user, reply in few_shot), pool
    )


def _parse_pool(ref: LineDict, path: Path, line: int) -> FewShotPool:
    """``few_shot: {pool: FILE, k: 3, by: similarity}``: the pool file (YAML list or JSONL of {input, output})."""
    reject_unknown(ref, ("pool", "k", "by"), path, "key in 'few_shot'")
    k, by = ref.get("k", 3), ref.get("by", "similarity")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64:
        raise SpecError(path, line, f"few_shot 'k' must be a whole number from 1 to 64, got {k!r}")
    if by not in ("similarity", "lexical"):
        raise SpecError(path, line, f"few_shot 'by' must be one of similarity, lexical, got {by!r}")
    pool_path = _file_ref_path({"file": ref["pool"]}, path, line, "few_shot pool")
    items: list[tuple[Any, int]] = []
    if pool_path.suffix == ".jsonl":
        for number, text in enumerate(read_text(pool_path, "few-shot pool").splitlines(), 1):
            if text.strip():
                try:
                    items.append((json.loads(text), number))
                except json.JSONDecodeError as exc:
                    raise SpecError(pool_path, number, f"few-shot pool: not a JSON object: {exc.msg}") from None
    else:
        raw = load_yaml(pool_path, "few-shot pool")
        if not isinstance(raw, list):
            raise SpecError(pool_path, 1, f"a few-shot pool must be a list of {{input, output}}, not {type_name(raw)}")
        lines = getattr(raw, "item_lines", [1] * len(raw))
        items = list(zip(raw, lines))
    examples = []
    for item, item_line in items:
        if not isinstance(item, dict) or set(item) != {"input", "output"} or not all(map(_is_text, item.values())):
            raise SpecError(
                pool_path, item_line, "each few-shot pool example needs exactly 'input' and 'output' strings"
            )
        examples.append((item["input"], item["output"], item_line))
    if not examples:
        raise SpecError(pool_path, 1, "the few-shot pool is empty")
    return FewShotPool(pool_path, tuple(examples), k, by)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


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
