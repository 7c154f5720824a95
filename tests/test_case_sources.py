"""Cases read from a CSV or JSONL file beside the case file: ids, defaults, checks and file:row errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite import yamlio
from pytest_llmgate.suite.cases import load_case_file

TICKETS_CSV = """ticket_id,text,queue,kind
T-1,I was charged twice,billing,common
T-2,"The app crashes on start, every time",technical,edge
T-3,Please add dark mode,feature_request,
"""

SOURCE_CASES = """
defaults: {format: {one_of: [billing, technical, general, feature_request]}}
cases: {from: tickets.csv, input: text, label: queue, category: kind, id: ticket_id}
"""


def test_csv_rows_become_cases_with_the_files_defaults(fake_suite: pytest.Pytester) -> None:
    fake_suite.path.joinpath("tickets.csv").write_text(TICKETS_CSV)
    fake_suite.makefile(".llm.yaml", common=SOURCE_CASES)
    result = fake_suite.runpytest("-v", "-p", "no:randomly")
    result.stdout.fnmatch_lines(
        [
            "*common.llm.yaml::T-1[[]fake[]] PASSED*",
            "*common.llm.yaml::T-2[[]fake[]] PASSED*",
            "*common.llm.yaml::T-3[[]fake[]] MISSED*",
        ]
    )
    # The empty 'kind' of T-3 falls back to the file's category; T-2's column says edge.
    result = fake_suite.runpytest("-q", "-m", "edge")
    result.assert_outcomes(passed=1, deselected=2)


def test_every_bad_row_is_reported_with_its_line(fake_suite: pytest.Pytester) -> None:
    fake_suite.path.joinpath("tickets.csv").write_text(
        "ticket_id,text,queue,kind\n"
        "T-1,I was charged twice,billing,common\n"
        "T-2,   ,technical,common\n"  # empty input
        "T-3,hello,general,weird\n"  # unknown category
        "T-1,charged again,billing,common\n"  # duplicate id
        "T-5,no label here\n"  # missing column value
        "T 6,bad id,general,common\n"  # an id pytest cannot name
    )
    fake_suite.makefile(".llm.yaml", common=SOURCE_CASES)
    result = fake_suite.runpytest("-q")
    result.stdout.fnmatch_lines(
        [
            "*tickets.csv:3: empty input in column 'text'; fill it or remove the row",
            "*tickets.csv:4: case 'T-3': unknown category 'weird'; use one of common, edge, adversarial",
            "*tickets.csv:5: duplicate case id 'T-1' (first at line 2)",
            "*tickets.csv:6: no value in column 'queue' (label); fill it or remove the row",
            "*tickets.csv:7: case id must be a string of letters, digits*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_column_the_file_lacks_is_named_at_the_mapping(tmp_path: Path) -> None:
    (tmp_path / "tickets.csv").write_text(TICKETS_CSV)
    case_file = tmp_path / "common.llm.yaml"
    case_file.write_text("cases: {from: tickets.csv, input: text, label: team}\n")
    with pytest.raises(SpecError) as error:
        load_case_file(case_file)
    assert str(error.value) == (
        f"{case_file}:1: tickets.csv has no column 'team' (its columns: ticket_id, text, queue, kind); "
        "fix the name in 'cases:' or in the file's header"
    )


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


ROWS = [
    {"text": "I was charged twice", "queue": "billing", "must": "bill", "plan": "pro"},
    {"text": "The app crashes", "queue": "technical", "must": "crash", "plan": "free"},
]


def test_jsonl_ids_are_content_hashes_that_survive_reordering(tmp_path: Path) -> None:
    case_file = tmp_path / "common.llm.yaml"
    case_file.write_text(
        "cases: {from: data/tickets.jsonl, input: text, label: queue, expect: {contains: must}, vars: [plan]}\n"
    )
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "tickets.jsonl", ROWS)
    first = {case.id: case for case in load_case_file(case_file).cases}
    write_jsonl(
        tmp_path / "data" / "tickets.jsonl", [{"text": "new row", "queue": "general", "must": "x"}, *ROWS[::-1]]
    )
    again = {case.id: case for case in load_case_file(case_file).cases}
    assert set(first) < set(again)
    assert all(case_id.startswith("tickets-") for case_id in first)
    charged = next(case for case in first.values() if case.input_text == "I was charged twice")
    assert dict(charged.expect) == {"label": "billing", "contains": "bill"}
    assert dict(charged.vars) == {"plan": "pro"}
    assert charged.line == 1 and again[charged.id].line == 3


def test_jsonl_duplicate_inputs_and_broken_lines(tmp_path: Path) -> None:
    case_file = tmp_path / "common.llm.yaml"
    case_file.write_text("cases: {from: tickets.jsonl, input: text, label: queue}\n")
    source = tmp_path / "tickets.jsonl"
    source.write_text(
        json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[0]) + "\n{not json\n[1, 2]\n" + json.dumps({"queue": "x"}) + "\n"
    )
    with pytest.raises(SpecError) as error:
        load_case_file(case_file)
    lines = str(error.value).splitlines()
    assert lines[0].startswith(f"{source}:3: the same input as line 1, so the same generated id 'tickets-")
    assert lines[1:] == [
        f"{source}:4: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{source}:5: a row must be a JSON object, got list",
        f"{source}:6: no value in column 'text' (input); fill it or remove the row",
    ]


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("../outside.csv", "'cases: from: ../outside.csv' leaves the case file's folder"),
        ("tickets.xlsx", "'cases: from: tickets.xlsx': read .csv or .jsonl files; convert the file"),
        ("missing.csv", "'cases: from: missing.csv': no such file"),
    ],
)
def test_where_a_source_may_be(tmp_path: Path, written: str, problem: str) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (tmp_path / "outside.csv").write_text(TICKETS_CSV)
    case_file = suite / "common.llm.yaml"
    case_file.write_text(f"cases: {{from: {written}, input: text, label: queue}}\n")
    with pytest.raises(SpecError, match=problem.replace(".", r"\.").replace("(", r"\(")):
        load_case_file(case_file)


def test_the_yaml_size_limit_bounds_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tickets.csv").write_text(TICKETS_CSV)
    case_file = tmp_path / "common.llm.yaml"
    case_file.write_text("cases: {from: tickets.csv, input: text, label: queue}\n")
    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 100)  # the case file fits, the CSV does not
    with pytest.raises(SpecError, match="the case source is larger than 100 bytes; split it"):
        load_case_file(case_file)


def test_the_mapping_itself_is_checked(tmp_path: Path) -> None:
    case_file = tmp_path / "common.llm.yaml"
    case_file.write_text("cases:\n  from: tickets.csv\n  label: queue\n  colour: blue\n")
    with pytest.raises(SpecError) as error:
        load_case_file(case_file)
    assert str(error.value).splitlines() == [
        f"{case_file}:2: 'cases:' from a file needs 'input:', the column holding the user message",
        f"{case_file}:4: unknown key in 'cases:' 'colour'; known: from, input, id, category, label, expect, vars",
    ]


def test_row_vars_fill_the_rows_input(tmp_path: Path) -> None:
    (tmp_path / "tickets.csv").write_text("text,queue,plan\nMy {{plan}} invoice is wrong,billing,pro\n")
    case_file = tmp_path / "common.llm.yaml"
    case_file.write_text("cases: {from: tickets.csv, input: text, label: queue, vars: {tier: plan}}\n")
    with pytest.raises(SpecError, match=r"tickets.csv:2: case 'tickets-[0-9a-f]{10}': 'input' uses \{\{plan\}\}"):
        load_case_file(case_file)
    case_file.write_text("cases: {from: tickets.csv, input: text, label: queue, vars: [plan]}\n")
    (case,) = load_case_file(case_file).cases
    assert case.input_text == "My pro invoice is wrong" and dict(case.vars) == {"plan": "pro"}
