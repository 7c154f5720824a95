from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate.checks.registry import CORRECTNESS, CheckRegistry
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.terms import Threshold


def write(tmp_path: Path, text: str, name: str = "cases.llm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_merge_and_file_category(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
defaults:
  format: {one_of: [a, b]}
  expect: {not_contains: [secret]}
cases:
  - id: one
    input: hello
    expect: {label: a}
  - id: two
    category: adversarial
    messages:
      - {role: user, content: hi}
      - {role: assistant, content: b}
      - {role: user, content: again}
    expect: {label: b}
    must_pass: true
""",
        name="edge.llm.yaml",
    )
    spec = load_case_file(path)
    one, two = spec.cases
    assert one.category == "edge" and two.category == "adversarial"
    assert one.expect == {"not_contains": ["secret"], "label": "a"}
    assert one.format == {"one_of": ["a", "b"]}
    assert one.input_text == "hello" and two.input_text == "again"
    assert two.must_pass and len(two.messages) == 3
    assert (one.line, two.line) == (6, 9)
    assert spec.thresholds is None


def test_file_thresholds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
thresholds:
  common: {accuracy: 0.9, format: 0.95, gate: lower_bound}
cases:
  - {id: a, category: common, input: x, expect: {equals: x}}
""",
    )
    assert load_case_file(path).thresholds == {"common": Threshold(0.9, 0.95, "lower_bound")}


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("cases: [\n", 2, "invalid YAML"),
        ("cases:\n  - input: x\n    category: common\n    expect: {label: a}\n", 2, "case has no 'id'"),
        (
            "cases:\n  - {id: a, category: common, input: x, expect: {label: a}}\n  - {id: a, category: common, input: y, expect: {label: a}}\n",
            3,
            "duplicate case id 'a' (first at line 2)",
        ),
        (
            "cases:\n  - id: a\n    category: urgent\n    input: x\n    expect: {label: a}\n",
            3,
            "unknown category 'urgent'",
        ),
        (
            "cases:\n  - id: a\n    category: common\n    input: x\n    expect:\n      labels: a\n",
            6,
            "unknown correctness check 'labels'",
        ),
        (
            "cases:\n  - id: a\n    category: common\n    input: [x]\n    expect: {label: a}\n",
            4,
            "'input' must be a string, got a list",
        ),
        ("cases:\n  - id: a\n    category: common\n    input: x\n", 2, "has no checks"),
        ("cases:\n  - id: a\n    input: x\n    expect: {label: a}\n", 2, "has no 'category'"),
        ("thresholds:\n  common: {accuracy: 1.5}\ncases: []\n", 2, "must be a number between 0 and 1"),
        (
            "cases:\n  - id: a\n    category: common\n    input: x\n    expect: {label: a}\n    priority: high\n",
            6,
            "unknown case key 'priority'",
        ),
        ("cases: {}\n", 1, "'cases' must be a non-empty list"),
        ("cases:\n  - id: a\n    id: b\n", 3, "duplicate key 'id'"),
        ("", None, "the file is empty"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_case_file(path)
    assert caught.value.path == path
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_check_in_defaults_points_at_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  format:\n    max_words: -1\ncases:\n  - {id: a, category: common, input: x}\n")
    with pytest.raises(SpecError, match="'max_words' must be a positive integer") as caught:
        load_case_file(path)
    assert caught.value.line == 3


def test_a_case_file_is_checked_against_the_given_registry(tmp_path: Path) -> None:
    path = write(tmp_path, "cases:\n  - id: a\n    category: common\n    input: x\n    expect: {polite: true}\n")
    with pytest.raises(SpecError, match="unknown correctness check 'polite'") as caught:
        load_case_file(path)
    assert caught.value.line == 5
    registry = CheckRegistry()
    registry.register(
        CORRECTNESS,
        "polite",
        lambda output, _: ("please" in output, "says please", None),
        lambda argument: None if argument is True else "true",
    )
    [case] = load_case_file(path, checks=registry).cases
    assert [r.passed for r in registry.run("yes please", case.expect, case.format)] == [True]
