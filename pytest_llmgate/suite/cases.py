"""Case files: YAML -> Case dataclasses, with errors that name the file, line and key."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..backends.spec import UnknownVariable, render
from ..checks.registry import CORRECTNESS, DEFAULT_CHECKS, FORMAT, CheckRegistry
from ..errors import SpecError, SpecErrors
from ..robustness.attacks import expand as expand_attacks
from ..robustness.attacks import pick_target
from ..robustness.attacks import resolve as resolve_attacks
from ..robustness.perturb import PerturbSpec
from .sources import read_source
from .terms import CATEGORIES, Threshold, parse_thresholds
from .yamlio import LineDict, LineList, expect_mapping, line_of, load_yaml, reject_unknown, type_name

ROLES = ("system", "user", "assistant")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
FILE_KEYS = ("defaults", "thresholds", "cases")
CASE_FILE_PATTERNS = ("*.llm.yaml", "*.llm.yml")  # the default of the llmgate_case_patterns ini
CASE_KEYS = (
    "id",
    "category",
    "input",
    "messages",
    "expect",
    "format",
    "must_pass",
    "task",
    "description",
    "tags",
    "repeat",
    "perturb",
    "attacks",
    "vars",
)
MAX_REPEAT = 100


@dataclass(frozen=True)
class Case:
    """One test case: what is sent and what the answer must satisfy."""

    id: str
    category: str
    messages: tuple[Mapping[str, str], ...]
    expect: Mapping[str, Any]
    format: Mapping[str, Any] = field(default_factory=dict)
    must_pass: bool = False
    task: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    repeat: int | None = None  # samples to draw; None: --llm-repeat, else 1
    perturb: PerturbSpec | None = None  # metamorphic variants to search for a flip
    attacks: tuple[str, ...] = ()  # attack templates or families that turn this case into adversarial ones
    attack: str | None = None  # for a case made by an attack template: its name
    attack_family: str | None = None
    # {{name}} values: the input is rendered with them at load time, the backend's prompt per request
    vars: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def input_text(self) -> str:
        """The last user message: what a reader wants to see first."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""


@dataclass(frozen=True)
class CaseFileSpec:
    """A parsed case file: its cases and, when it declares them, its own thresholds."""

    path: Path
    cases: tuple[Case, ...]
    thresholds: Mapping[str, Threshold] | None


def category_from_filename(path: Path) -> str | None:
    """'edge.llm.yaml' -> 'edge'; None when the file name is not a category."""
    stem = path.name.split(".", 1)[0]
    return stem if stem in CATEGORIES else None


def load_case_file(path: Path, checks: CheckRegistry = DEFAULT_CHECKS) -> CaseFileSpec:
    """Parse and validate a case file against ``checks``; raise one SpecError listing every problem
    (the file's own keys, then the first problem of each case), with file and line."""
    data = load_yaml(path, "case file")
    if data is None:
        raise SpecError(path, None, "the file is empty; it needs a 'cases:' list")
    root = expect_mapping(data, path, 1, "a case file")
    errors = SpecErrors()
    with errors.part():
        reject_unknown(root, FILE_KEYS, path, "top-level key")
    defaults = LineDict()
    with errors.part():
        defaults = expect_mapping(root.get("defaults", LineDict()), path, root.line_of("defaults"), "'defaults'")
        reject_unknown(defaults, CASE_KEYS[1:], path, "key in 'defaults'")
    thresholds = None
    with errors.part():
        thresholds = parse_thresholds(root["thresholds"], path) if "thresholds" in root else None
    raw_cases = root.get("cases")
    source_path = path  # where the cases are written: this file, or the CSV/JSONL file 'cases: {from: ...}' names
    if isinstance(raw_cases, dict) and raw_cases:
        with errors.part():
            source = read_source(raw_cases, path)
            source_path, raw_cases = source.path, list(source.rows)
        if isinstance(raw_cases, dict):
            errors.raise_any()
    if not isinstance(raw_cases, list) or not raw_cases:
        errors.add(
            SpecError(
                path,
                root.line_of("cases") or 1,
                "'cases' must be a non-empty list of cases, or {from: FILE.csv, input: COLUMN, ...} (docs/cases.md)",
            )
        )
        errors.raise_any()
    assert isinstance(raw_cases, list)
    file_category = category_from_filename(path)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases):
        line = raw_cases.item_lines[index] if isinstance(raw_cases, LineList) else 0
        with errors.part():
            if isinstance(raw, SpecError):  # a row of a case source that makes no case
                raise raw
            raw = expect_mapping(raw, source_path, line, "a case")
            case = _parse_case(raw, defaults, file_category, source_path, checks)
            if case.id in seen:
                raise SpecError(
                    source_path, case.line, f"duplicate case id {case.id!r} (first at line {seen[case.id]})"
                )
            seen[case.id] = case.line
            cases.append(case)
    errors.raise_any()
    return CaseFileSpec(path, tuple(cases), thresholds)


def _parse_case(
    raw: LineDict, defaults: LineDict, file_category: str | None, path: Path, checks: CheckRegistry
) -> Case:
    reject_unknown(raw, CASE_KEYS, path, "case key")
    merged = _merge(defaults, raw)
    line = raw.line
    case_id = raw.get("id")
    if case_id is None:
        raise SpecError(path, line, "case has no 'id'; give every case a stable, unique id")
    if not isinstance(case_id, str) or not _ID_PATTERN.match(case_id):
        raise SpecError(
            path, raw.line_of("id"), f"case id must be a string of letters, digits, '-', '_' or '.', got {case_id!r}"
        )
    where = f"case {case_id!r}"

    def key_line(key: str) -> int:
        return raw.line_of(key) if key in raw else defaults.line_of(key)

    category = merged.get("category", file_category)
    if category is None:
        raise SpecError(
            path,
            line,
            f"{where} has no 'category'; use one of {', '.join(CATEGORIES)} (or name the file common/edge/adversarial.llm.yaml)",
        )
    if category not in CATEGORIES:
        raise SpecError(
            path, key_line("category"), f"{where}: unknown category {category!r}; use one of {', '.join(CATEGORIES)}"
        )
    variables = _parse_vars(merged, path, key_line, where)
    messages = _parse_messages(merged, path, line, key_line, where, variables)
    check_specs = {}
    for key, kind in (("expect", CORRECTNESS), ("format", FORMAT)):
        spec = expect_mapping(merged.get(key, {}), path, key_line(key), f"{where}: {key!r}")
        for name, argument in spec.items():
            problem = checks.validate(kind, name, argument)
            if problem:
                raise SpecError(path, line_of(spec, name, key_line(key)), f"{where}: {problem}")
        check_specs[key] = dict(spec)
    if not check_specs["expect"] and not check_specs["format"]:
        raise SpecError(path, line, f"{where} has no checks; add an 'expect:' (and/or 'format:') mapping")
    must_pass = merged.get("must_pass", False)
    if not isinstance(must_pass, bool):
        raise SpecError(path, key_line("must_pass"), f"{where}: 'must_pass' must be true or false")
    tags = merged.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.isidentifier() for t in tags):
        raise SpecError(
            path, key_line("tags"), f"{where}: 'tags' must be a list of identifiers (they become pytest marks)"
        )
    repeat = merged.get("repeat")
    if repeat is not None and (
        isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT
    ):
        raise SpecError(
            path,
            key_line("repeat"),
            f"{where}: 'repeat' must be a whole number of samples from 1 to {MAX_REPEAT}, got {repeat!r}",
        )
    perturb, attacks = _robustness(merged, path, key_line, where)
    for key in ("task", "description"):
        if merged.get(key) is not None and not isinstance(merged[key], str):
            raise SpecError(path, key_line(key), f"{where}: {key!r} must be a string, got {type_name(merged[key])}")
    return Case(
        id=case_id,
        category=category,
        messages=messages,
        expect=check_specs["expect"],
        format=check_specs["format"],
        must_pass=must_pass,
        task=merged.get("task"),
        description=merged.get("description") or "",
        tags=tuple(tags),
        repeat=repeat,
        perturb=perturb,
        attacks=attacks,
        vars=variables,
        line=line,
    )


def attacked(case: Case, seed: int = 0) -> list[Case]:
    """The adversarial cases ``case.attacks`` make of ``case``: its last user message attacked, its
    expectation kept. An override aims at a label other than the expected one."""
    labels = case.format.get("one_of", [])
    target = pick_target(case.expect.get("label"), labels if isinstance(labels, list) else [], seed)
    made = []
    for name, family, text in expand_attacks(case.input_text, case.attacks, target, seed):
        messages = (*case.messages[:-1], {"role": "user", "content": text})
        made.append(
            replace(
                case,
                id=f"{case.id}.{name.replace('#', '-')}",
                category="adversarial",
                messages=messages,
                tags=(*case.tags, "attack"),
                attacks=(),
                perturb=None,
                attack=name,
                attack_family=family,
            )
        )
    return made


def _robustness(
    merged: Mapping[str, Any], path: Path, key_line: Callable[[str], int], where: str
) -> tuple[PerturbSpec | None, tuple[str, ...]]:
    """The case's ``perturb:`` and ``attacks:``, validated against the known kinds and attacks."""
    perturb = None
    if merged.get("perturb") is not None:
        try:
            perturb = PerturbSpec.from_mapping(merged["perturb"])
        except ValueError as exc:
            raise SpecError(path, key_line("perturb"), f"{where}: {exc}") from None
    attacks = merged.get("attacks") or []
    if not isinstance(attacks, list) or not all(isinstance(name, str) for name in attacks):
        raise SpecError(
            path, key_line("attacks"), f"{where}: 'attacks' must be a list of attack or family names (or all)"
        )
    try:
        resolve_attacks(attacks)
    except ValueError as exc:
        raise SpecError(path, key_line("attacks"), f"{where}: {exc}") from None
    return perturb, tuple(attacks)


def _parse_vars(merged: Mapping[str, Any], path: Path, key_line: Callable[[str], int], where: str) -> dict[str, str]:
    """The case's ``vars:``: identifier names to text (numbers are written as text)."""
    raw = expect_mapping(merged.get("vars", {}), path, key_line("vars"), f"{where}: 'vars'")
    variables = {}
    for name, value in raw.items():
        if not name.isidentifier():
            raise SpecError(
                path, raw.line_of(name), f"{where}: var name {name!r} must be an identifier, e.g. customer_name"
            )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise SpecError(
                path, raw.line_of(name), f"{where}: var {name!r} must be a string, got {type_name(value)}; quote it"
            )
        variables[name] = str(value)
    return variables


def _rendered(text: str, variables: Mapping[str, str], path: Path, line: int, where: str, key: str) -> str:
    """``text`` with the case's vars filled in; a ``{{name}}`` the case does not define is an error at ``line``."""
    try:
        return render(text, variables)
    except UnknownVariable as exc:
        known = f" (its vars: {', '.join(sorted(variables))})" if variables else ""
        raise SpecError(
            path,
            line,
            f"{where}: {key} uses {{{{{exc.name}}}}}, which the case does not define{known}; add it under 'vars:'",
        ) from None


def _parse_messages(
    merged: Mapping[str, Any], path: Path, line: int, key_line, where: str, variables: Mapping[str, str]
) -> tuple[dict[str, str], ...]:
    has_input, has_messages = "input" in merged, "messages" in merged
    if has_input == has_messages:
        raise SpecError(
            path, line, f"{where} needs exactly one of 'input' (a string) or 'messages' (a list of {{role, content}})"
        )
    if has_input:
        text = merged["input"]
        if not isinstance(text, str):
            raise SpecError(path, key_line("input"), f"{where}: 'input' must be a string, got {type_name(text)}")
        return ({"role": "user", "content": _rendered(text, variables, path, key_line("input"), where, "'input'")},)
    raw = merged["messages"]
    if not isinstance(raw, list) or not raw:
        raise SpecError(
            path, key_line("messages"), f"{where}: 'messages' must be a non-empty list of {{role, content}}"
        )
    messages = []
    for index, message in enumerate(raw):
        message_line = raw.item_lines[index] if isinstance(raw, LineList) else key_line("messages")
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise SpecError(
                path, message_line, f"{where}: each message must be a mapping with exactly 'role' and 'content'"
            )
        if message["role"] not in ROLES or not isinstance(message["content"], str):
            raise SpecError(
                path, message_line, f"{where}: message role must be one of {', '.join(ROLES)} and content a string"
            )
        content = _rendered(message["content"], variables, path, message_line, where, "a message")
        messages.append({"role": message["role"], "content": content})
    if messages[-1]["role"] != "user":
        raise SpecError(path, key_line("messages"), f"{where}: the last message must be from the user")
    return tuple(messages)


def _merge(defaults: Mapping[str, Any], case: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults under the case; mappings (expect, format) merge key by key, the case winning."""
    merged = dict(defaults)
    for key, value in case.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            key_lines = {**getattr(merged[key], "key_lines", {}), **getattr(value, "key_lines", {})}
            merged[key] = LineDict({**merged[key], **value}, line=line_of(value), key_lines=key_lines)
        else:
            merged[key] = value
    return merged
