"""Cases from data a team already has: ``cases: {from: tickets.csv, input: text, label: queue}``.

Each row of a CSV or JSON Lines file becomes the mapping a YAML case would be, marked with the row's
line, so cases.py checks it exactly as it checks a written case and names ``tickets.csv:7`` in errors.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError, SpecErrors
from .yamlio import LineDict, expect_mapping, line_of, read_text, reject_unknown, type_name

SOURCE_KEYS = ("from", "input", "id", "category", "label", "expect", "vars")
SUFFIXES = (".csv", ".jsonl")
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Source:
    """A case source read: its file and, per row, the raw case (as if written in YAML) or what is wrong with it."""

    path: Path
    rows: tuple[LineDict | SpecError, ...]


@dataclass(frozen=True)
class _Columns:
    """Which column fills which case key."""

    input: str
    id: str | None
    category: str | None
    expect: Mapping[str, str]  # check name -> column
    vars: Mapping[str, str]  # variable name -> column

    def named(self) -> list[str]:
        """Every column the mapping names, for checking them against a CSV header."""
        optional = [column for column in (self.id, self.category) if column is not None]
        return list(dict.fromkeys([self.input, *optional, *self.expect.values(), *self.vars.values()]))


def read_source(mapping: Mapping[Any, Any], case_path: Path) -> Source:
    """Read the file ``mapping`` (the ``cases:`` of ``case_path``) names; a problem with the mapping or the
    file as a whole is one SpecError, a problem with a row is that row's entry in ``rows``."""
    spec = expect_mapping(mapping, case_path, line_of(mapping), "'cases:'")
    columns = _columns(spec, case_path)
    path = _source_path(spec, case_path)
    text = read_text(path, "case source").removeprefix("\ufeff")
    records = _csv_records(text, path, spec, columns, case_path) if path.suffix == ".csv" else _jsonl_records(text)
    rows: list[LineDict | SpecError] = []
    inputs: dict[str, int] = {}  # generated ids: the first line of each input
    for line, record in records:
        try:
            row = _row(record, line, path, columns)
            if columns.id is None:
                text_in = row["input"]
                if text_in in inputs:
                    raise SpecError(
                        path,
                        line,
                        f"the same input as line {inputs[text_in]}, so the same generated id {row['id']!r}; "
                        "remove the duplicate or name an id column ('id: COLUMN')",
                    )
                inputs[text_in] = line
            rows.append(row)
        except SpecError as exc:
            rows.append(exc)
    if not rows:
        raise SpecError(path, None, "the case source has no rows; add rows under the header")
    return Source(path, tuple(rows))


def _columns(spec: LineDict, case_path: Path) -> _Columns:
    errors = SpecErrors()
    with errors.part():
        reject_unknown(spec, SOURCE_KEYS, case_path, "key in 'cases:'")
    names: dict[str, str | None] = {}
    for key in ("from", "input", "id", "category", "label"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            errors.add(SpecError(case_path, spec.line_of(key), f"'cases: {key}' must be a column name (a string)"))
            value = None
        names[key] = value
    for key, what in (("from", "the CSV or JSONL file to read"), ("input", "the column holding the user message")):
        if key not in spec:
            errors.add(SpecError(case_path, spec.line, f"'cases:' from a file needs '{key}:', {what}"))
    expect: dict[str, str] = {}
    with errors.part():
        raw_expect = expect_mapping(spec.get("expect", {}), case_path, spec.line_of("expect"), "'cases: expect'")
        for check, column in raw_expect.items():
            if not isinstance(column, str) or not column.strip():
                raise SpecError(
                    case_path, raw_expect.line_of(check), f"'cases: expect: {check}' must be a column name (a string)"
                )
            expect[check] = column
        if names["label"] is not None:
            if "label" in expect:
                raise SpecError(
                    case_path, spec.line_of("label"), "'label' is given twice: as 'cases: label' and in 'cases: expect'"
                )
            expect = {"label": names["label"], **expect}
    variables: dict[str, str] = {}
    with errors.part():
        variables = _var_columns(spec.get("vars", []), case_path, spec.line_of("vars"))
    errors.raise_any()
    return _Columns(str(names["input"]), names["id"], names["category"], expect, variables)


def _var_columns(raw: Any, case_path: Path, line: int) -> dict[str, str]:
    """``vars: [customer, plan]`` (columns named as the variables) or ``vars: {customer: customer_name}``."""
    pairs = {column: column for column in raw} if isinstance(raw, list) else raw
    if not isinstance(pairs, dict) or not all(
        isinstance(name, str) and name.isidentifier() and isinstance(column, str) for name, column in pairs.items()
    ):
        raise SpecError(
            case_path,
            line,
            "'cases: vars' must list the columns that become vars ([customer, plan]) "
            "or map variable names to columns ({customer: customer_name}); variable names are identifiers",
        )
    return dict(pairs)


def _source_path(spec: LineDict, case_path: Path) -> Path:
    """The file to read: relative to the case file and inside its folder, or an explicit absolute path."""
    written = Path(spec["from"])
    folder = case_path.parent.resolve()
    path = written if written.is_absolute() else (folder / written).resolve()
    line = spec.line_of("from")
    if not written.is_absolute() and not path.is_relative_to(folder):
        raise SpecError(
            case_path,
            line,
            f"'cases: from: {written}' leaves the case file's folder; "
            "put the file beside the case file (or below it), or write its absolute path",
        )
    if path.suffix.lower() not in SUFFIXES:
        raise SpecError(
            case_path, line, f"'cases: from: {written}': read {' or '.join(SUFFIXES)} files; convert the file"
        )
    if not path.is_file():
        raise SpecError(case_path, line, f"'cases: from: {written}': no such file ({path})")
    return path


def _csv_records(
    text: str, path: Path, spec: LineDict, columns: _Columns, case_path: Path
) -> Iterator[tuple[int, dict[Any, Any]]]:
    """(line, {column: value}) per CSV row; the header must name every mapped column."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields or fields == [""]:
                continue
            if header is None:
                header = [name.strip() for name in fields]
                _check_header(header, path, spec, columns, case_path)
                continue
            if len(fields) > len(header):
                yield line, {None: f"the row has {len(fields)} values but the header {len(header)} columns"}
                continue
            yield line, dict(zip(header, fields, strict=False))
    except csv.Error as exc:
        raise SpecError(path, reader.line_num, f"invalid CSV: {exc}; fix the quoting of this row") from None


def _check_header(header: list[str], path: Path, spec: LineDict, columns: _Columns, case_path: Path) -> None:
    doubled = sorted({name for name in header if header.count(name) > 1})
    if doubled:
        raise SpecError(path, 1, f"the header names column {doubled[0]!r} twice; rename one")
    missing = [column for column in columns.named() if column not in header]
    if missing:
        raise SpecError(
            case_path,
            spec.line,
            f"{path.name} has no column {missing[0]!r} (its columns: {', '.join(header)}); "
            "fix the name in 'cases:' or in the file's header",
        )


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[Any, Any]]]:
    """(line, object) per non-blank line of JSON Lines; a line that is no JSON object carries its problem."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {None: f"invalid JSON: {exc.msg} (column {exc.colno})"}
            continue
        yield (
            number,
            value if isinstance(value, dict) else {None: f"a row must be a JSON object, got {type(value).__name__}"},
        )


def _row(record: Mapping[Any, Any], line: int, path: Path, columns: _Columns) -> LineDict:
    """The raw case one record makes, every key on the record's line."""
    if None in record:
        raise SpecError(path, line, str(record[None]))

    def cell(column: str, what: str, text_only: bool = True) -> Any:
        if column not in record or record[column] is None:
            raise SpecError(path, line, f"no value in column {column!r} ({what}); fill it or remove the row")
        value = record[column]
        if isinstance(value, str):
            if not value.strip():
                raise SpecError(path, line, f"empty {what} in column {column!r}; fill it or remove the row")
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and text_only:
            return str(value)
        if text_only:
            raise SpecError(path, line, f"{what} in column {column!r} must be text, got {type_name(value)}")
        return value

    def at_line(mapping: Mapping[str, Any]) -> LineDict:
        return LineDict(mapping, line=line, key_lines=dict.fromkeys(mapping, line))

    text = cell(columns.input, "input")
    raw: dict[str, Any] = {
        "id": cell(columns.id, "case id") if columns.id is not None else _generated_id(path, text),
        "input": text,
    }
    if columns.category is not None and str(record.get(columns.category) or "").strip():
        raw["category"] = cell(columns.category, "category")
    if columns.expect:
        raw["expect"] = at_line(
            {check: cell(column, check, text_only=False) for check, column in columns.expect.items()}
        )
    if columns.vars:
        # cases.py checks the values as it checks written vars: text, or a number written as text.
        raw["vars"] = at_line({name: record.get(column, "") for name, column in columns.vars.items()})
    return at_line(raw)


def _generated_id(path: Path, text: str) -> str:
    """A stable id from the input's content: the same row keeps its id when rows are added, moved or removed."""
    stem = _SAFE.sub("-", path.name.split(".", 1)[0]).strip("-.") or "row"
    return f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
