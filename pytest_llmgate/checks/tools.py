"""Checks on the tools a model called (``tool_call:``, ``no_tool_call:``), read from the normalised calls the
backend returned (CheckContext.tool_calls), and the format failure of calls whose arguments are not JSON.

A failure names the call (its position), the tool and the argument that differ, with what was expected and what
came, so that a wrong call reads as the fix it needs rather than as a bare False.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..backends.base import ToolCall

if TYPE_CHECKING:
    from .registry import CheckContext, CheckOutcome

MATCHES = ("exact", "subset", "schema")
ORDERS = ("strict", "unordered")
CALL_KEYS = frozenset({"name", "arguments", "match"})
LIST_KEYS = frozenset({"calls", "order", "no_extra_calls"})
SHOWN_CHARS = 200
TOOL_CALL_FORM = (
    "{name: TOOL, arguments: {...}, match: exact|subset|schema, no_extra_calls: true|false}, a list of such calls, "
    "or {calls: [...], order: strict|unordered, no_extra_calls: true|false}"
)


def _call_problem(spec: Any) -> str | None:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not spec["name"]:
        return "a call needs a 'name' (the tool's name)"
    stray = set(spec) - CALL_KEYS - {"no_extra_calls"}
    if stray:
        return f"unknown key(s) {', '.join(sorted(map(str, stray)))} in a call"
    match = spec.get("match", "subset")
    if match not in MATCHES:
        return f"'match' must be one of {', '.join(MATCHES)}, got {match!r}"
    arguments = spec.get("arguments", {})
    if not isinstance(arguments, Mapping):
        return "'arguments' must be a mapping of argument name to value"
    if match == "schema":
        from jsonschema import SchemaError, validators

        for name, schema in arguments.items():
            if not isinstance(schema, Mapping):
                return f"with match: schema, argument {name!r} must be a JSON Schema (a mapping)"
            try:
                validators.validator_for(schema).check_schema(schema)
            except SchemaError as exc:
                return f"argument {name!r} is not a valid JSON Schema: {exc.message}"
    return None


def tool_call_argument(argument: Any) -> str | None:
    """What ``tool_call:`` must be, or None when ``argument`` is valid."""
    if isinstance(argument, Mapping) and "calls" in argument:
        stray = set(argument) - LIST_KEYS
        if stray:
            return f"{TOOL_CALL_FORM} (unknown key(s) {', '.join(sorted(map(str, stray)))})"
        if argument.get("order", "strict") not in ORDERS:
            return f"{TOOL_CALL_FORM} ('order' must be strict or unordered)"
        calls = argument["calls"]
    else:
        calls = argument if isinstance(argument, list) else [argument]
    if not isinstance(calls, list) or not calls:
        return TOOL_CALL_FORM
    if isinstance(argument, Mapping) and not isinstance(argument.get("no_extra_calls", False), bool):
        return f"{TOOL_CALL_FORM} ('no_extra_calls' must be true or false)"
    for spec in calls:
        problem = _call_problem(spec)
        if problem:
            return f"{TOOL_CALL_FORM} ({problem})"
    return None


def _same(expected: Any, actual: Any) -> bool:
    """Equal values; a number and its text ('48213' and 48213) count as the same, as models write either."""
    if expected == actual:
        return True
    scalars = (str, int, float)
    if isinstance(expected, scalars) and isinstance(actual, scalars) and not isinstance(expected, bool):
        return str(expected).strip() == str(actual).strip()
    return False


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _differences(spec: Mapping[str, Any], call: ToolCall) -> list[str]:
    """How ``call``'s arguments differ from ``spec``'s (empty when they match)."""
    if not call.valid:
        return [f"arguments are not valid JSON: {_shown(call.arguments)}"]
    actual = call.arguments
    if not isinstance(actual, Mapping):
        return [f"arguments are not a JSON object: {_shown(actual)}"]
    expected: Mapping[str, Any] = spec.get("arguments", {})
    match = spec.get("match", "subset")
    found = []
    for name, wanted in expected.items():
        if name not in actual:
            found.append(f"argument {name!r} missing (expected {_shown(wanted) if match != 'schema' else 'one'})")
        elif match == "schema":
            from jsonschema import validators

            error = next(iter(validators.validator_for(wanted)(wanted).iter_errors(actual[name])), None)
            if error is not None:
                found.append(f"argument {name!r}: {_shown(actual[name])} does not fit its schema: {error.message}")
        elif not _same(wanted, actual[name]):
            found.append(f"argument {name!r}: expected {_shown(wanted)}, got {_shown(actual[name])}")
    if match == "exact":
        found += [f"unexpected argument {name!r} = {_shown(actual[name])}" for name in actual if name not in expected]
    return found


def _listed(calls: Sequence[ToolCall]) -> str:
    return "; ".join(f"{index}. {clipped(call.shown())}" for index, call in enumerate(calls, start=1)) or "none"


def clipped(text: str) -> str:
    """``text`` shortened for a check's detail."""
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def check_tool_call(output: str, argument: Any, context: CheckContext) -> CheckOutcome:
    """The expected calls were made: by name, with matching arguments, in order when ``order: strict``
    (the default for a list), and no others when ``no_extra_calls``."""
    calls = context.tool_calls
    if isinstance(argument, Mapping) and "calls" in argument:
        specs, order = list(argument["calls"]), argument.get("order", "strict")
        no_extra = argument.get("no_extra_calls", False)
    elif isinstance(argument, list):
        specs, order, no_extra = list(argument), "strict", False
    else:
        specs, order, no_extra = [argument], "unordered", argument.get("no_extra_calls", False)
    problems: list[str] = []
    used: set[int] = set()
    matched = 0
    for position, spec in enumerate(specs, start=1):
        name = spec["name"]
        if order == "strict":
            if position > len(calls):
                problems.append(f"call {position}: expected {name}, but only {len(calls)} call(s) were made")
                continue
            call = calls[position - 1]
            if call.name != name:
                problems.append(f"call {position}: expected tool {name}, got {call.name}")
                continue
            differences = _differences(spec, call)
            problems += [f"call {position} ({name}): {d}" for d in differences]
            matched += not differences
            continue
        candidates = [i for i, call in enumerate(calls) if call.name == name and i not in used]
        if not candidates:
            problems.append(f"expected a call of {name}; calls made: {_listed(calls)}")
            continue
        # The first call of that tool whose arguments match; else report against the first one.
        fitting = next((i for i in candidates if not _differences(spec, calls[i])), None)
        if fitting is None:
            problems += [f"call {candidates[0] + 1} ({name}): {d}" for d in _differences(spec, calls[candidates[0]])]
            used.add(candidates[0])
        else:
            used.add(fitting)
            matched += 1
    if no_extra and len(calls) > len(specs):
        extra = calls[len(specs) :] if order == "strict" else [c for i, c in enumerate(calls) if i not in used]
        problems.append(f"{len(calls) - len(specs)} call(s) beyond those expected: {_listed(extra)}")
    score = matched / len(specs)
    if problems:
        return False, "; ".join(problems), score
    return True, f"called {_listed(calls)}", score


def check_no_tool_call(output: str, argument: Any, context: CheckContext) -> CheckOutcome:
    """No tool was called (``no_tool_call: true``), or none of the named ones (``no_tool_call: [issue_refund]``)."""
    forbidden = None if argument is True else set(argument)
    made = [call for call in context.tool_calls if forbidden is None or call.name in forbidden]
    if made:
        return (
            False,
            f"expected no {'tool call' if forbidden is None else 'call of ' + ', '.join(sorted(forbidden))}; calls made: {_listed(made)}",
            None,
        )
    return True, "no tool called" if forbidden is None else f"none of {', '.join(sorted(forbidden))} called", None


def no_tool_call_argument(argument: Any) -> str | None:
    """What ``no_tool_call:`` must be."""
    if argument is True or (isinstance(argument, list) and argument and all(isinstance(n, str) for n in argument)):
        return None
    return "true (no tool at all) or a list of tool names that must not be called"


def malformed_calls(calls: Sequence[ToolCall]) -> list[tuple[str, bool, str]]:
    """The format check every answer with tool calls gets: (name, passed, detail), arguments parsed as JSON."""
    if not calls:
        return []
    bad = [(index, call) for index, call in enumerate(calls, start=1) if not call.valid]
    if not bad:
        return [("tool_arguments", True, f"{len(calls)} call(s) with JSON arguments")]
    detail = "; ".join(
        f"call {index} ({call.name}): arguments are not valid JSON: {_shown(call.arguments)}" for index, call in bad
    )
    return [("tool_arguments", False, detail)]
