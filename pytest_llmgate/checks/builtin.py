"""The built-in checks and the validators of their arguments: pure functions of an answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .schema import json_problem
from .text import clip, normalize_label, parse_json_loosely, parse_strict_json

if TYPE_CHECKING:
    from .registry import CheckContext

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


def check_no_prompt_leak(output: str, options: Any, context: CheckContext) -> tuple[bool, str, None]:
    """The answer must not reproduce the prompt of the backend that gave it: its system prompt or few-shot examples."""
    from ..robustness.leak import DEFAULT_RUN, prompt_leak, protected_texts

    n = options.get("n", DEFAULT_RUN) if isinstance(options, dict) else DEFAULT_RUN
    protected = protected_texts(context.prompt.system, context.prompt.few_shot, n=n)
    if not protected:
        return True, "the backend has no system prompt or few-shot examples to protect", None
    passed, detail = prompt_leak(output, protected, n=n)
    return passed, detail, None


# --- format checks ------------------------------------------------------------------------


def check_one_of(output: str, options: list[str]) -> tuple[bool, str, None]:
    got = normalize_label(output)
    allowed = [normalize_label(o) for o in options]
    return got in allowed, f"{clip(repr(got))} is not one of {allowed!r}", None


def check_json(output: str, required: bool) -> tuple[bool, str, None]:
    _, error = parse_strict_json(output.strip())
    if not required:
        return True, "JSON not required", None
    return error is None, error or "valid JSON", None


def check_max_words(output: str, limit: int) -> tuple[bool, str, None]:
    count = len(output.split())
    return count <= limit, f"{count} words (max {limit})", None


def check_max_chars(output: str, limit: int) -> tuple[bool, str, None]:
    count = len(output.strip())
    return count <= limit, f"{count} characters (max {limit})", None


def check_format_regex(output: str, pattern: str) -> tuple[bool, str, None]:
    return re.fullmatch(pattern, output.strip()) is not None, f"whole output should match /{pattern}/", None


# --- argument validation ------------------------------------------------------------------


def string_argument(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def strings_argument(value: Any) -> str | None:
    ok = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    return None if ok else "a non-empty list of strings"


def positive_int_argument(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "a positive integer"


def boolean_argument(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def pattern_argument(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a regular expression string"
    try:
        re.compile(value)
    except re.error as exc:
        return f"a valid regular expression ({exc})"
    return None


def leak_argument(value: Any) -> str | None:
    if value is True:
        return None
    ok = (
        isinstance(value, dict)
        and set(value) <= {"n"}
        and isinstance(value.get("n", 8), int)
        and value.get("n", 8) >= 3
    )
    return None if ok else "true, or {n: N} with N >= 3 words in a row"


def fields_argument(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return "a non-empty mapping of field: expected value"
    problem = json_problem(value)
    return f"plain JSON values under string field names ({problem})" if problem else None
