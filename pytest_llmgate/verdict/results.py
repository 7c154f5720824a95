"""The results document (``--llm-report-json``, ``--llm-save-baseline``): its schema and its one reader.

The document is ``Analysis.to_dict()``, described by ``results.schema.json`` (also ``docs/results.schema.json``,
for users to validate against). Everything that reads a results file (the baseline gate, ``llmgate
export-finetune``) reads it here, validated, so a file that would mislead is one clear error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .rows import CaseRow

SCHEMA_VERSION = 2  # what changed since 1: docs/reports.md, 'JSON results'
SCHEMA_FILE = Path(__file__).with_name("results.schema.json")


@cache
def results_schema() -> dict[str, Any]:
    """The JSON Schema of the results document."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Results:
    """A results file as read back: its case rows and each backend's provider, model and fingerprint."""

    path: str
    schema_version: int
    rows: tuple[CaseRow, ...]
    backends: dict[str, dict[str, str]] = field(default_factory=dict)  # empty for files without a run section


def read_results(
    path: str | Path, what: str = "results file", fix: str = "write one with --llm-report-json"
) -> Results:
    """Read and validate a results file; SpecError naming the file, what is wrong and ``fix``.

    A file written before ``schema_version`` existed (version 1) is read for its cases and run section,
    the parts whose shape has not changed since.
    """

    def invalid(problem: str, line: int | None = None) -> SpecError:
        return SpecError(path, line, f"{problem}; a {what} is the JSON results file of a pytest-llmgate run ({fix})")

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise invalid(f"no {what} here") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid(f"cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise invalid(f"not JSON ({exc.msg}, column {exc.colno})", exc.lineno) from None
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise invalid("not a pytest-llmgate results file: no 'cases' list")
    version = document.get("schema_version", 1)
    if version not in (1, SCHEMA_VERSION):
        raise invalid(f"schema_version {version!r} is not one this version reads (1 or {SCHEMA_VERSION})")
    schema = _version_1_schema() if version == 1 else results_schema()
    if version == 1:  # only the parts that kept their shape
        document = {key: document[key] for key in ("cases", "run") if key in document}
    problem = _first_problem(document, schema)
    if problem is not None:
        raise invalid(problem)
    defaults = {"group": "", "category": "", "status": "answered"} if version == 1 else {}
    rows = tuple(CaseRow.from_dict({**defaults, **data}) for data in document["cases"])
    backends = (document.get("run") or {}).get("backends", {})
    return Results(str(path), version, rows, {name: dict(identity) for name, identity in backends.items()})


@cache
def _version_1_schema() -> dict[str, Any]:
    """What a file from before schema_version must hold: its cases (each with an id, file and backend,
    as that version's reader asked) and its run section; the rest is not read."""
    schema = results_schema()
    case = {**schema["$defs"]["case"], "required": ["id", "file", "backend"]}
    return {
        **schema,
        "required": ["cases"],
        "properties": {"cases": {"type": "array", "items": case}, "run": schema["properties"]["run"]},
    }


def _first_problem(document: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """What in ``document`` breaks ``schema`` (the most relevant problem, with where it is), or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the top"
    return f"{where}: {error.message[:200]}"
