"""Per-case checks: pure functions from a model's output and an expectation to a CheckResult.

Correctness checks (a case's ``expect:``) decide whether the answer is right; format checks
(``format:``) decide whether it has the required shape. Both kinds are counted separately.
A CheckRegistry holds the check types by kind and name; plugins add theirs to a registry of their own.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

# jsonschema and referencing take ~40 ms to import; only a 'schema:' check needs them, so they are
# imported where used, and a run without one never pays for them.
if TYPE_CHECKING:
    import referencing
    from referencing._core import (
        Resolver,  # the type is not exported; only hints use it
    )

CORRECTNESS = "correctness"
FORMAT = "format"
KINDS = (CORRECTNESS, FORMAT)
DETAIL_VALUE_CHARS = 200  # a value quoted in a detail is cut here, so a huge answer cannot flood a report

@cache
def _local_only() -> referencing.Registry[Any]:
    """An empty registry, whose default retrieve refuses every URI: no $ref is ever fetched."""
    import referencing

    return referencing.Registry()


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one output."""

    name: str
    kind: str
    passed: bool
    detail: str
    score: float | None = None  # partial credit in [0, 1] where a check has one (fields)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for reports."""
        data = {"name": self.name, "kind": self.kind, "passed": self.passed, "detail": self.detail}
        if self.score is not None:
            data["score"] = self.score
        return data


_PUNCTUATION = string.punctuation.replace("_", "") + "“”‘’«»"


def normalize_label(text: str) -> str:
    """Lowercase, trim quotes and punctuation, join words with underscores: ' Feature request.' -> 'feature_request'."""
    words = text.strip().lower().strip(_PUNCTUATION + string.whitespace).replace("-", " ").split()
    return "_".join(words)


def clip(text: str, limit: int = DETAIL_VALUE_CHARS) -> str:
    """``text``, or its first ``limit`` characters with a marker giving the full length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [truncated: {len(text):,} characters in all]"


def parse_json_loosely(text: str) -> Any:
    """Parse JSON from a model answer, tolerating code fences and prose around one object or array."""
    stripped = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return _decode_json(stripped)
    except ValueError:
        pass
    start = min((i for i in (stripped.find("{"), stripped.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON object in the output")
    return _decode_json(stripped[start:], prefix_only=True)


def _decode_json(text: str, prefix_only: bool = False) -> Any:
    """json.loads (or the JSON value at the start of ``text``); nesting too deep is a ValueError."""
    try:
        return json.JSONDecoder().raw_decode(text)[0] if prefix_only else json.loads(text)
    except RecursionError:
        # The json module recurses once per level: a hostile answer like '[' * 100000 must
        # fail the check, not the run.
        raise ValueError("JSON nested too deeply") from None


def _parse_strict_json(output: str) -> tuple[Any, str | None]:
    try:
        return _decode_json(output), None
    except ValueError as exc:
        return None, clip(f"not valid JSON: {exc}")


# --- correctness checks -------------------------------------------------------------------

def check_label(output: str, expected: str) -> tuple[bool, str, None]:
    got = normalize_label(output)
    want = normalize_label(expected)
    return got == want, f"expected label {want!r}, got {clip(repr(got))}", None


def check_equals(output: str, expected: str) -> tuple[bool, str, None]:
    return output.strip() == expected.strip(), f"expected exactly {expected.strip()!r}", None


def check_contains(output: str, needle: str) -> tuple[bool, str, None]:
    return needle.lower() in output.lower(), f"should contain {needle!r}", None


def check_contains_any(output: str, needles: list[str]) -> tuple[bool, str, None]:
    lowered = output.lower()
    return any(n.lower() in lowered for n in needles), f"should contain one of {needles!r}", None


def check_contains_all(output: str, needles: list[str]) -> tuple[bool, str, None]:
    lowered = output.lower()
    missing = [n for n in needles if n.lower() not in lowered]
    return not missing, f"missing {missing!r}" if missing else "contains all", None


def check_not_contains(output: str, needles: list[str]) -> tuple[bool, str, None]:
    lowered = output.lower()
    found = [n for n in needles if n.lower() in lowered]
    return not found, f"must not contain {found!r}" if found else "contains none", None


def check_regex(output: str, pattern: str) -> tuple[bool, str, None]:
    return re.search(pattern, output) is not None, f"should match /{pattern}/", None


def check_fields(output: str, expected: Mapping[str, Any]) -> tuple[bool, str, float]:
    try:
        data = parse_json_loosely(output)
    except ValueError as exc:
        return False, clip(f"output is not JSON ({exc})"), 0.0
    if not isinstance(data, dict):
        return False, "output JSON is not an object", 0.0
    wrong = [
        f"{key}: expected {clip(repr(want))}, got {clip(repr(data.get(key)))}"
        for key, want in expected.items()
        if not _same_value(data.get(key), want)
    ]
    matched = len(expected) - len(wrong)
    score = matched / len(expected) if expected else 1.0
    detail = f"{matched}/{len(expected)} fields match" + (f"; {'; '.join(wrong)}" if wrong else "")
    return not wrong, detail, score


def _same_value(got: Any, want: Any) -> bool:
    if isinstance(got, str) and isinstance(want, str):
        return got.strip().casefold() == want.strip().casefold()
    return got == want


def check_no_prompt_leak(output: str, options: Any) -> tuple[bool, str, None]:
    """The answer must not reproduce the backend's system prompt or few-shot examples, which the run
    adds to the options as ``protected`` (see leak.bind_prompt)."""
    from .leak import DEFAULT_RUN, prompt_leak

    protected = options.get("protected", {}) if isinstance(options, dict) else {}
    if not protected:
        return True, "the backend has no system prompt or few-shot examples to protect", None
    passed, detail = prompt_leak(output, protected, n=options.get("n", DEFAULT_RUN))
    return passed, detail, None


# --- format checks ------------------------------------------------------------------------

def check_one_of(output: str, options: list[str]) -> tuple[bool, str, None]:
    got = normalize_label(output)
    allowed = [normalize_label(o) for o in options]
    return got in allowed, f"{clip(repr(got))} is not one of {allowed!r}", None


def check_json(output: str, required: bool) -> tuple[bool, str, None]:
    _, error = _parse_strict_json(output.strip())
    if not required:
        return True, "JSON not required", None
    return error is None, error or "valid JSON", None


def check_schema(output: str, schema: Mapping[str, Any]) -> tuple[bool, str, None]:
    data, error = _parse_strict_json(output.strip())
    if error:
        return False, error, None
    import jsonschema

    try:
        validator = jsonschema.validators.validator_for(schema)(schema, registry=_local_only())
        problem = jsonschema.exceptions.best_match(validator.iter_errors(data))
    except Exception as exc:
        return False, clip(f"the schema could not be applied ({type(exc).__name__}: {exc})"), None
    if problem is None:
        return True, "matches the schema", None
    where = "/".join(str(p) for p in problem.absolute_path) or "(root)"
    return False, clip(f"schema violation at {where}: {problem.message}"), None


def check_max_words(output: str, limit: int) -> tuple[bool, str, None]:
    count = len(output.split())
    return count <= limit, f"{count} words (max {limit})", None


def check_max_chars(output: str, limit: int) -> tuple[bool, str, None]:
    count = len(output.strip())
    return count <= limit, f"{count} characters (max {limit})", None


def check_format_regex(output: str, pattern: str) -> tuple[bool, str, None]:
    return re.fullmatch(pattern, output.strip()) is not None, f"whole output should match /{pattern}/", None


# --- argument validation ------------------------------------------------------------------

def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _strings(value: Any) -> str | None:
    ok = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    return None if ok else "a non-empty list of strings"


def _positive_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "a positive integer"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _pattern(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a regular expression string"
    try:
        re.compile(value)
    except re.error as exc:
        return f"a valid regular expression ({exc})"
    return None


def _leak_options(value: Any) -> str | None:
    if value is True:
        return None
    ok = isinstance(value, dict) and set(value) <= {"n"} and isinstance(value.get("n", 8), int) and value.get("n", 8) >= 3
    return None if ok else "true, or {n: N} with N >= 3 words in a row"


def _fields(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return "a non-empty mapping of field: expected value"
    problem = json_problem(value)
    return f"plain JSON values under string field names ({problem})" if problem else None


def _json_schema(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "a JSON Schema mapping"
    problem = json_problem(value)
    if problem:
        return f"a JSON Schema, which is plain JSON ({problem})"
    import jsonschema

    dialect = value.get("$schema")
    if "$schema" in value and (not isinstance(dialect, str) or jsonschema.validators.validator_for(value, default=None) is None):
        return f"a JSON Schema with a known '$schema' (draft-03 to 2020-12) or none, not {clip(repr(dialect))}"
    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.exceptions.SchemaError as exc:
        return f"a valid JSON Schema ({clip(exc.message)})"
    return _unresolvable_ref(value)


def json_problem(value: Any, where: str = "") -> str | None:
    """What in ``value`` is not plain JSON (a non-string key, a date, a set...), or None."""
    here = where or "the top"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"key {clip(repr(key))} at {here} is not a string; quote it"
            if problem := json_problem(item, f"{where}/{key}"):
                return problem
        return None
    if isinstance(value, list):
        return next((problem for index, item in enumerate(value) if (problem := json_problem(item, f"{where}/{index}"))), None)
    if value is None or isinstance(value, (str, int, float)):
        return None
    return f"the {type(value).__name__} at {here} is not a JSON value; quote it"


def _unresolvable_ref(schema: Mapping[str, Any]) -> str | None:
    """Why a ``$ref`` in ``schema`` does not resolve inside it, or None: nothing is ever fetched."""
    import referencing
    import referencing.jsonschema

    root = referencing.Resource.from_contents(schema, default_specification=referencing.jsonschema.DRAFT202012)
    for resolver, contents in _subschemas(_local_only().resolver_with_root(root), root):
        for keyword in ("$ref", "$dynamicRef"):
            if keyword in contents and (problem := _ref_problem(resolver, contents[keyword])):
                return f"a self-contained JSON Schema: {keyword} {problem}"
    return None


def _ref_problem(resolver: Resolver[Any], ref: Any) -> str | None:
    if not isinstance(ref, str):
        return f"must be a string, not {clip(repr(ref))}"
    import referencing.exceptions

    inline = "inline the schema under 'definitions' and refer to it as '#/definitions/NAME'"
    try:
        target = resolver.lookup(ref).contents
    except (referencing.exceptions.PointerToNowhere, referencing.exceptions.NoSuchAnchor):
        return f"{clip(ref)!r} points at nothing in the schema; define its target under 'definitions' or '$defs'"
    except referencing.exceptions.Unresolvable:
        if ref.lower().startswith(("http:", "https:")):
            return f"{clip(ref)!r} is remote: remote $ref are not fetched; {inline}"
        return f"{clip(ref)!r} names another document, which is not loaded; {inline}"
    except ValueError as exc:  # a malformed URI or a non-numeric index into a list
        return f"{clip(ref)!r} is not a valid reference ({exc})"
    if not isinstance(target, (dict, bool)):
        return f"{clip(ref)!r} points at {clip(repr(target))}, which is not a schema"
    return None


def _subschemas(resolver: Resolver[Any], resource: referencing.Resource[Any]) -> Iterator[tuple[Resolver[Any], Mapping[str, Any]]]:
    """Every mapping subschema of ``resource`` with the resolver of its scope (``$id`` moves it)."""
    pending = [(resolver, resource)]
    while pending:
        resolver, resource = pending.pop()
        if isinstance(resource.contents, Mapping):
            yield resolver, resource.contents
        pending.extend((resolver.in_subresource(sub), sub) for sub in resource.subresources())


@dataclass(frozen=True)
class CheckSpec:
    """A check function and the validator of its argument (returns what was expected, or None)."""

    run: Callable[[str, Any], tuple[bool, str, float | None]]
    validate: Callable[[Any], str | None]


_BUILTINS: Mapping[str, Mapping[str, CheckSpec]] = {
    CORRECTNESS: {
        "label": CheckSpec(check_label, _string),
        "equals": CheckSpec(check_equals, _string),
        "contains": CheckSpec(check_contains, _string),
        "contains_any": CheckSpec(check_contains_any, _strings),
        "contains_all": CheckSpec(check_contains_all, _strings),
        "not_contains": CheckSpec(check_not_contains, _strings),
        "regex": CheckSpec(check_regex, _pattern),
        "no_prompt_leak": CheckSpec(check_no_prompt_leak, _leak_options),
        "fields": CheckSpec(check_fields, _fields),
    },
    FORMAT: {
        "one_of": CheckSpec(check_one_of, _strings),
        "json": CheckSpec(check_json, _boolean),
        "schema": CheckSpec(check_schema, _json_schema),
        "max_words": CheckSpec(check_max_words, _positive_int),
        "max_chars": CheckSpec(check_max_chars, _positive_int),
        "regex": CheckSpec(check_format_regex, _pattern),
    },
}


class CheckRegistry:
    """The check types cases may use, by kind (correctness or format) and name; starts with the built-ins.

    Each run (or plugin) makes its own, so registering a check never changes another run's checks.
    """

    def __init__(self) -> None:
        self._specs: dict[str, dict[str, CheckSpec]] = {kind: dict(specs) for kind, specs in _BUILTINS.items()}

    def register(self, kind: str, name: str, run: Callable[[str, Any], tuple[bool, str, float | None]],
                 validate: Callable[[Any], str | None]) -> None:
        """Add check ``name`` of ``kind``: ``run(output, argument) -> (passed, detail, score)`` and
        ``validate(argument) -> what was expected, or None``; ValueError for a duplicate or unknown kind."""
        specs = self._of_kind(kind)
        if not isinstance(name, str) or not name:
            raise ValueError(f"a check name must be a non-empty string, got {name!r}")
        if name in specs:
            raise ValueError(f"a {kind} check named {name!r} is already registered")
        specs[name] = CheckSpec(run, validate)

    def names(self, kind: str) -> tuple[str, ...]:
        """The check names of ``kind``, sorted."""
        return tuple(sorted(self._of_kind(kind)))

    def validate(self, kind: str, name: str, argument: Any) -> str | None:
        """Why ``name: argument`` is not a valid ``kind`` check, or None when it is."""
        specs = self._of_kind(kind)
        if name not in specs:
            return f"unknown {kind} check {clip(repr(name))}; known: {', '.join(self.names(kind))}"
        expected = specs[name].validate(argument)
        return f"{name!r} must be {expected}" if expected else None

    def run(self, output: str, expect: Mapping[str, Any], fmt: Mapping[str, Any]) -> list[CheckResult]:
        """Run every correctness check in ``expect`` and format check in ``fmt`` on ``output``."""
        results = []
        for kind, specs in ((CORRECTNESS, expect), (FORMAT, fmt)):
            for name, argument in specs.items():
                passed, detail, score = self._of_kind(kind)[name].run(output, argument)
                results.append(CheckResult(name, kind, passed, detail, score))
        return results

    def _of_kind(self, kind: str) -> dict[str, CheckSpec]:
        if kind not in self._specs:
            raise ValueError(f"unknown check kind {kind!r}; use one of {', '.join(KINDS)}")
        return self._specs[kind]


# The built-ins, for callers that take no registry; never register into it, make a CheckRegistry().
DEFAULT_CHECKS = CheckRegistry()
