"""Case files: YAML -> Case dataclasses, with errors that name the file, line and key."""

from __future__ import annotations

import json
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
    "tools",
    "tool_choice",
    "response_format",
    "turns",
    "max_steps",
)
MAX_REPEAT = 100
TURN_KEYS = ("user", "expect", "format", "tool_results")
MAX_STEPS = 20  # the most answers one turn may take (tool call -> canned result -> answer ...)
DEFAULT_MAX_STEPS = 3
RESPONSE_FORMAT_TYPES = ("json_schema", "json_object", "text")


@dataclass(frozen=True)
class Turn:
    """One user turn of a conversation (``turns:``): what the user says, the checks its answer must pass, and
    the canned results fed back (as tool messages) when the model calls a tool."""

    user: str
    expect: Mapping[str, Any]
    format: Mapping[str, Any] = field(default_factory=dict)
    tool_results: Mapping[str, Any] = field(default_factory=dict)  # tool name -> what it returns
    line: int = 0


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
    # tools, tool_choice, response_format sent with every request of the case (OpenAI's shapes)
    options: Mapping[str, Any] = field(default_factory=dict)
    turns: tuple[Turn, ...] = ()  # a conversation: the model answers each turn, its replies kept in the history
    max_steps: int = DEFAULT_MAX_STEPS  # answers a turn may take while the model calls tools with canned results
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
    options = _parse_options(merged, path, key_line, where)
    turns = _parse_turns(merged, path, key_line, where, variables, checks) if "turns" in merged else ()
    max_steps = merged.get("max_steps", DEFAULT_MAX_STEPS)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= MAX_STEPS:
        raise SpecError(
            path, key_line("max_steps"), f"{where}: 'max_steps' must be a whole number from 1 to {MAX_STEPS}"
        )
    if turns:
        if "input" in merged or "messages" in merged:
            raise SpecError(path, key_line("turns"), f"{where}: give either 'turns' or 'input'/'messages', not both")
        messages: tuple[dict[str, str], ...] = ({"role": "user", "content": turns[0].user},)
    else:
        messages = _parse_messages(merged, path, line, key_line, where, variables)
    check_specs = {key: _parse_checks(merged, key, path, key_line, where, checks) for key in ("expect", "format")}
    if not turns and not check_specs["expect"] and not check_specs["format"]:
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
        options=options,
        turns=turns,
        max_steps=max_steps,
        line=line,
    )


def _parse_checks(
    raw: Mapping[str, Any], key: str, path: Path, key_line: Callable[[str], int], where: str, checks: CheckRegistry
) -> dict[str, Any]:
    """The ``expect:`` (correctness) or ``format:`` checks of a case or turn, each validated."""
    kind = CORRECTNESS if key == "expect" else FORMAT
    spec = expect_mapping(raw.get(key, {}), path, key_line(key), f"{where}: {key!r}")
    for name, argument in spec.items():
        problem = checks.validate(kind, name, argument)
        if problem:
            raise SpecError(path, line_of(spec, name, key_line(key)), f"{where}: {problem}")
    return dict(spec)


def _parse_turns(
    merged: Mapping[str, Any],
    path: Path,
    key_line: Callable[[str], int],
    where: str,
    variables: Mapping[str, str],
    checks: CheckRegistry,
) -> tuple[Turn, ...]:
    """``turns:``: a list of {user, expect, format, tool_results}, each turn with checks of its own."""
    raw = merged["turns"]
    if not isinstance(raw, list) or not raw:
        raise SpecError(path, key_line("turns"), f"{where}: 'turns' must be a non-empty list of {{user, expect}}")
    turns = []
    for index, item in enumerate(raw):
        item_line = raw.item_lines[index] if isinstance(raw, LineList) else key_line("turns")
        turn_where = f"{where}, turn {index + 1}"
        turn = expect_mapping(item, path, item_line, f"{turn_where}")
        reject_unknown(turn, TURN_KEYS, path, f"key in {turn_where}")

        def turn_line(key: str, turn: LineDict = turn, item_line: int = item_line) -> int:
            return turn.line_of(key) if key in turn else item_line

        user = turn.get("user")
        if not isinstance(user, str) or not user:
            raise SpecError(path, item_line, f"{turn_where}: 'user' must be the user's message (a string)")
        expect = _parse_checks(turn, "expect", path, turn_line, turn_where, checks)
        fmt = _parse_checks(turn, "format", path, turn_line, turn_where, checks)
        if not expect and not fmt:
            raise SpecError(path, item_line, f"{turn_where} has no checks; add an 'expect:' (and/or 'format:')")
        results = expect_mapping(turn.get("tool_results", {}), path, turn_line("tool_results"), "'tool_results'")
        turns.append(
            Turn(
                user=_rendered(user, variables, path, item_line, turn_where, "'user'"),
                expect=expect,
                format=fmt,
                tool_results=dict(results),
                line=item_line,
            )
        )
    return tuple(turns)


def parse_tools(tools: Any, path: Path, line: int, where: str) -> list[dict[str, Any]]:
    """A ``tools:`` value (a list of OpenAI functions, or ``{file: tools.json}`` beside ``path``, the file that
    says it: a case file or llmgate.yaml) as the request sends it; SpecError naming the file, line and fix."""
    if isinstance(tools, dict) and set(tools) == {"file"} and isinstance(tools["file"], str):
        tools_path = path.parent / tools["file"]
        try:
            tools = json.loads(tools_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpecError(path, line, f"{where}: cannot read tools file {tools_path}: {exc.strerror}") from None
        except ValueError as exc:
            raise SpecError(path, line, f"{where}: tools file {tools_path} is not JSON: {exc}") from None
    if not isinstance(tools, list) or not tools:
        raise SpecError(path, line, f"{where}: 'tools' must be a list of OpenAI functions or {{file: tools.json}}")
    for position, tool in enumerate(tools, start=1):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise SpecError(
                path,
                line,
                f"{where}: tool {position} must be {{type: function, function: {{name, description, parameters}}}}",
            )
    plain: list[dict[str, Any]] = _plain(tools)
    return plain


def _parse_options(merged: Mapping[str, Any], path: Path, key_line: Callable[[str], int], where: str) -> dict[str, Any]:
    """The case's ``tools`` (a list, or ``{file: tools.json}`` beside the case file), ``tool_choice`` and
    ``response_format`` (a JSON Schema, or OpenAI's ``{type: json_schema, ...}`` form), as the request sends them."""
    options: dict[str, Any] = {}
    if merged.get("tools") is not None:
        options["tools"] = parse_tools(merged["tools"], path, key_line("tools"), where)
    choice = merged.get("tool_choice")
    if choice is not None:
        if not (choice in ("auto", "none", "required") or isinstance(choice, (dict, str))):
            raise SpecError(
                path, key_line("tool_choice"), f"{where}: 'tool_choice' must be auto, none, required or a tool name"
            )
        if isinstance(choice, str) and choice not in ("auto", "none", "required"):
            choice = {"type": "function", "function": {"name": choice}}  # a tool's name: that tool is to be called
        options["tool_choice"] = choice
    form = merged.get("response_format")
    if form is not None:
        if not isinstance(form, dict):
            raise SpecError(
                path, key_line("response_format"), f"{where}: 'response_format' must be a JSON Schema (a mapping)"
            )
        if form.get("type") not in RESPONSE_FORMAT_TYPES:
            from jsonschema import SchemaError, validators

            try:
                validators.validator_for(form).check_schema(form)
            except SchemaError as exc:
                raise SpecError(
                    path,
                    key_line("response_format"),
                    f"{where}: 'response_format' is not a valid JSON Schema: {exc.message}",
                ) from None
            form = {"type": "json_schema", "json_schema": {"name": "response", "schema": form, "strict": True}}
        options["response_format"] = _plain(form)
    return options


def _plain(value: Any) -> Any:
    """``value`` with YAML's line-carrying containers turned into plain dicts and lists (for JSON and keys)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


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
