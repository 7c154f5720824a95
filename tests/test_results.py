"""The results document: one schema, one reader that validates, and every row field described."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from pytest_llmgate.errors import SpecError
from pytest_llmgate.verdict.results import SCHEMA_FILE, SCHEMA_VERSION, read_results, results_schema
from pytest_llmgate.verdict.rows import CaseRow

ROOT = Path(__file__).parent.parent


def test_the_schema_describes_every_row_field_and_docs_point_at_it() -> None:
    described = set(results_schema()["$defs"]["case"]["properties"])
    assert described == {f.name for f in fields(CaseRow)}
    assert (ROOT / "docs" / "results.schema.json").resolve() == SCHEMA_FILE.resolve()


def test_a_run_writes_a_document_the_reader_and_the_schema_accept(fake_suite: pytest.Pytester) -> None:
    import jsonschema

    fake_suite.runpytest("--llm-report-json=r.json")
    path = fake_suite.path / "r.json"
    document = json.loads(path.read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    jsonschema.validate(document, results_schema())
    results = read_results(path)
    assert [(r.id, r.passed) for r in results.rows] == [
        ("app-crash", True),
        ("dark-mode", False),
        ("double-charge", True),
    ]
    assert results.backends["fake"]["provider"] == "fake"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["cases"][0].update(passed="yes"), "cases/0/passed: 'yes' is not of type 'boolean', 'null'"),
        (lambda d: d["cases"][1].update(status="done"), "cases/1/status: 'done' is not one of"),
        (lambda d: d["cases"][2].pop("backend"), "'backend' is a required property"),
        (lambda d: d.update(schema_version=99), "schema_version 99 is not one this version reads"),
    ],
)
def test_a_file_that_would_mislead_is_one_error(fake_suite: pytest.Pytester, change, problem: str) -> None:
    fake_suite.runpytest("--llm-report-json=r.json")
    path = fake_suite.path / "r.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    with pytest.raises(SpecError, match=r"r\.json: ") as error:
        read_results(path)
    assert problem in str(error.value)


def test_a_file_from_before_schema_version_is_read_for_its_cases(tmp_path: Path) -> None:
    row = {"id": "a", "file": "f.llm.yaml", "group": ".", "category": "common", "backend": "b", "status": "answered"}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"verdict": {"old": "shape"}, "cases": [row]}))
    results = read_results(path)
    assert results.schema_version == 1 and results.rows[0].id == "a"
