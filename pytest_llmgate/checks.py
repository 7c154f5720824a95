"""Per-case checks: pure functions from a model's output and an expectation to a CheckResult.

Correctness checks (a case's ``expect:``) decide whether the answer is right; format checks
(``format:``) decide whether it has the required shape. Both kinds are counted separately.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

CORRECTNESS = "correctness"
FORMAT = "format"


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


def parse_json_loosely(text: str) -> Any:
    """Parse JSON from a model answer, tolerating code fences and prose around one object or array."""
    stripped = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    start = min((i for i in (stripped.find("{"), stripped.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON object in the output")
    value, _ = json.JSONDecoder().raw_decode(stripped[start:])
    return value


def _parse_strict_json(output: str) -> tuple[Any, str | None]:
    try:
        return json.loads(output), None
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"


# --- correctness checks -------------------------------------------------------------------

def check_label(output: str, expected: str) -> tuple[bool, str, None]:
    got = normalize_label(output)
    want = normalize_label(expected)
    return got == want, f"expected label {want!r}, got {got!r}", None


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
        return False, f"output is not JSON ({exc})", 0.0
    if not isinstance(data, dict):
        return False, "output JSON is not an object", 0.0
    wrong = [
        f"{key}: expected {want!r}, got {data.get(key)!r}"
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


# --- format checks ------------------------------------------------------------------------

def check_one_of(output: str, options: list[str]) -> tuple[bool, str, None]:
    got = normalize_label(output)
    allowed = [normalize_label(o) for o in options]
    return got in allowed, f"{got!r} is not one of {allowed!r}", None


def check_json(output: str, required: bool) -> tuple[bool, str, None]:
    _, error = _parse_strict_json(output.strip())
    if not required:
        return True, "JSON not required", None
    return error is None, error or "valid JSON", None


def check_schema(output: str, schema: Mapping[str, Any]) -> tuple[bool, str, None]:
    data, error = _parse_strict_json(output.strip())
    if error:
        return False, error, None
    problem = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(data))
    if problem is None:
        return True, "matches the schema", None
    where = "/".join(str(p) for p in problem.absolute_path) or "(root)"
    return False, f"schema violation at {where}: {problem.message}", None


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


def _fields(value: Any) -> str | None:
    return None if isinstance(value, dict) and value else "a non-empty mapping of field: expected value"


def _json_schema(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "a JSON Schema mapping"
    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.exceptions.SchemaError as exc:
        return f"a valid JSON Schema ({exc.message})"
    return None


@dataclass(frozen=True)
class CheckSpec:
    """A check function and the validator of its argument (returns what was expected, or None)."""

    run: Callable[[str, Any], tuple[bool, str, float | None]]
    validate: Callable[[Any], str | None]


CHECKS: Mapping[str, Mapping[str, CheckSpec]] = {
    CORRECTNESS: {
        "label": CheckSpec(check_label, _string),
        "equals": CheckSpec(check_equals, _string),
        "contains": CheckSpec(check_contains, _string),
        "contains_any": CheckSpec(check_contains_any, _strings),
        "contains_all": CheckSpec(check_contains_all, _strings),
        "not_contains": CheckSpec(check_not_contains, _strings),
        "regex": CheckSpec(check_regex, _pattern),
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


def validate_check(kind: str, name: str, argument: Any) -> str | None:
    """Why ``name: argument`` is not a valid ``kind`` check, or None when it is."""
    known = CHECKS[kind]
    if name not in known:
        return f"unknown {kind} check {name!r}; known: {', '.join(sorted(known))}"
    expected = known[name].validate(argument)
    return f"{name!r} must be {expected}" if expected else None


def run_checks(output: str, expect: Mapping[str, Any], fmt: Mapping[str, Any]) -> list[CheckResult]:
    """Run every correctness check in ``expect`` and format check in ``fmt`` on ``output``."""
    results = []
    for kind, specs in ((CORRECTNESS, expect), (FORMAT, fmt)):
        for name, argument in specs.items():
            passed, detail, score = CHECKS[kind][name].run(output, argument)
            results.append(CheckResult(name, kind, passed, detail, score))
    return results
