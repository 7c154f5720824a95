"""The ``schema:`` format check: JSON Schema validation with jsonschema, where no ``$ref`` is ever fetched."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from .text import clip, parse_strict_json

# jsonschema and referencing take ~40 ms to import; only a 'schema:' check needs them, so they are
# imported where used, and a run without one never pays for them.
if TYPE_CHECKING:
    import referencing
    from referencing._core import (
        Resolver,  # the type is not exported; only hints use it
    )


@cache
def _local_only() -> referencing.Registry[Any]:
    """An empty registry, whose default retrieve refuses every URI: no $ref is ever fetched."""
    import referencing

    return referencing.Registry()


def check_schema(output: str, schema: Mapping[str, Any]) -> tuple[bool, str, None]:
    data, error = parse_strict_json(output.strip())
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


def schema_argument(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "a JSON Schema mapping"
    problem = json_problem(value)
    if problem:
        return f"a JSON Schema, which is plain JSON ({problem})"
    import jsonschema

    dialect = value.get("$schema")
    if "$schema" in value and (
        not isinstance(dialect, str) or jsonschema.validators.validator_for(value, default=None) is None
    ):
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
        return next(
            (problem for index, item in enumerate(value) if (problem := json_problem(item, f"{where}/{index}"))), None
        )
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


def _subschemas(
    resolver: Resolver[Any], resource: referencing.Resource[Any]
) -> Iterator[tuple[Resolver[Any], Mapping[str, Any]]]:
    """Every mapping subschema of ``resource`` with the resolver of its scope (``$id`` moves it)."""
    pending = [(resolver, resource)]
    while pending:
        resolver, resource = pending.pop()
        if isinstance(resource.contents, Mapping):
            yield resolver, resource.contents
        pending.extend((resolver.in_subresource(sub), sub) for sub in resource.subresources())
