"""Broken or hostile input files end in a SpecError naming the file and line, quickly and in little memory."""

from __future__ import annotations

import socket
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.checks.registry import DEFAULT_CHECKS
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite import yamlio
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.config import load_config

CASE_HEAD = "cases:\n  - id: a\n    category: common\n    input: hi\n"
BACKEND_HEAD = "backends:\n  x:\n    provider: fake\n    model: m\n"


def laughs(indent: int) -> str:
    """A 9x9 'billion laughs' mapping: 9 levels of 9 aliases, about 4e8 values once expanded."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "".join(" " * indent + line + "\n" for line in lines)


def load_bounded(loader: Callable[[Path], Any], path: Path, blamed: Path | None = None) -> SpecError:
    """Load ``path``, expecting a SpecError that names ``blamed`` (default: ``path``) within 1 s
    and under 10 MB of new allocations."""
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        loader(path)
    assert time.perf_counter() - started < 1.0
    tracemalloc.start()  # a second load, as tracing slows it down
    try:
        with pytest.raises(SpecError):
            loader(path)
        assert tracemalloc.get_traced_memory()[1] < 10_000_000
    finally:
        tracemalloc.stop()
    assert caught.value.path == (blamed or path)
    return caught.value


def load_config_without_env(path: Path) -> Any:
    return load_config(path, environ={})


@pytest.mark.parametrize(
    "loader, name, text",
    [
        (load_config_without_env, "llmgate.yaml", BACKEND_HEAD + "    options:\n" + laughs(6)),
        (load_case_file, "c.llm.yaml", CASE_HEAD + "    expect:\n      fields:\n" + laughs(8)),
    ],
)
def test_alias_bomb_is_refused_at_the_alias(
    tmp_path: Path, loader: Callable[[Path], Any], name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert path.stat().st_size < 700
    error = load_bounded(loader, path)
    assert "aliases in this file repeat more than 100,000 values" in error.message
    bomb_line = text.splitlines()[(error.line or 0) - 1]
    assert "*" in bomb_line  # the line of an alias that pushed it over


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "c.llm.yaml"
    path.write_text(
        "cases:\n"
        "  - &base {id: a, category: common, input: hi, expect: &labels {label: billing}}\n"
        "  - <<: *base\n    id: b\n"
        "  - {id: c, category: edge, input: yo, expect: *labels}\n"
    )
    cases = load_case_file(path).cases
    assert [(c.id, c.category, c.input_text, dict(c.expect)) for c in cases] == [
        ("a", "common", "hi", {"label": "billing"}),
        ("b", "common", "hi", {"label": "billing"}),
        ("c", "edge", "yo", {"label": "billing"}),
    ]
    config = tmp_path / "llmgate.yaml"
    config.write_text(
        "backends:\n  a: &common {provider: fake, model: m, timeout_s: 5}\n  b:\n    <<: *common\n    model: other\n"
    )
    suite = load_config(config, environ={})
    assert (suite.backend("b").model, suite.backend("b").timeout_s) == ("other", 5)


@pytest.mark.parametrize(
    "text, line",
    [
        ("cases: " + "[" * 10_000 + "\n", 1),
        ("cases:\n" + "".join("  " * depth + "- \n" for depth in range(1, 200)), 65),
    ],
)
def test_deep_nesting_is_refused(tmp_path: Path, text: str, line: int) -> None:
    """Whichever layer refuses first (libyaml's own depth limit in PyYAML >= 6.0.3, or the loader's), the
    user sees one line naming the file and line, within the time and memory bounds."""
    path = tmp_path / "c.llm.yaml"
    path.write_text(text)
    error = load_bounded(load_case_file, path)
    assert error.line == line
    assert "\n" not in str(error) and str(error).startswith(f"{path}:{line}: ")
    assert "nested more than 64 deep" in error.message or "nesting depth" in error.message, error.message


def test_a_value_that_contains_itself(tmp_path: Path) -> None:
    path = tmp_path / "c.llm.yaml"
    path.write_text("cases: &loop\n  - *loop\n")
    error = load_bounded(load_case_file, path)
    assert error.line == 2 and "refers to a list or mapping that contains it" in error.message


@pytest.mark.parametrize(
    "text, line, message",
    [
        (CASE_HEAD + "    [a, b]: 1\n", 5, "a key must be a plain value, not a list or mapping"),
        (CASE_HEAD + "    ? {a: 1}\n    : 2\n", 5, "a key must be a plain value, not a list or mapping"),
        (CASE_HEAD + "    on: 1\n", 5, "the key True must be text"),
        (CASE_HEAD + "    expect: {1: x}\n", 5, "the key 1 must be text"),
        (CASE_HEAD + "    expect: {fields: {1: x}}\n", 5, "key 1 at the top is not a string; quote it"),
        (CASE_HEAD + "    expect: {fields: {due: 2024-01-05}}\n", 5, "the date at /due is not a JSON value; quote it"),
        (CASE_HEAD + "    expect: {fields: {due: 2024-13-45}}\n", 5, "cannot read this value: month must be in 1..12"),
        (CASE_HEAD + "    format: {max_words: " + "9" * 5_000 + "}\n", 5, "cannot read this value"),
        (CASE_HEAD + '    expect: {label: "a\x01"}\n', 5, "the control character U+0001 is not allowed"),
        (CASE_HEAD + "    expect: {label: !!python/name:os.system x}\n", 5, "could not determine a constructor"),
    ],
)
def test_odd_keys_and_values_in_a_case_file(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "c.llm.yaml"
    path.write_text(text)
    error = load_bounded(load_case_file, path)
    assert error.line == line
    assert message in error.message


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("backends:\n  1: {provider: fake, model: m}\n", 2, "'backends': the key 1 must be text"),
        (BACKEND_HEAD + "    options: [a, b]\n", 5, "'options' must be a mapping, got a list"),
        (BACKEND_HEAD + "    tasks: {null: {system_prompt: x}}\n", 5, "'tasks': the key None must be text"),
        ("default_backend: [x]\n" + BACKEND_HEAD, 1, "default_backend must be a backend's name, got a list"),
        ("horizon_months: .nan\n", 1, "horizon_months must be a number of months > 0"),
        (BACKEND_HEAD + "    system_prompt: {file: " + "n" * 5_000 + "}\n", 5, "'system_prompt' file not found"),
    ],
)
def test_odd_keys_and_values_in_the_config(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(text)
    error = load_bounded(load_config_without_env, path)
    assert error.line == line
    assert message in error.message


LATIN1 = "caf\u00e9".encode("latin-1")


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "system.md").write_text("Route the ticket.\n")
    (tmp_path / "prompts" / "shots.yaml").write_text("- {user: hi, assistant: general}\n")
    (tmp_path / "llmgate.yaml").write_text(
        BACKEND_HEAD + "    system_prompt: {file: prompts/system.md}\n    few_shot: {file: prompts/shots.yaml}\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    "name, what",
    [
        ("llmgate.yaml", "config file"),
        ("prompts/system.md", "system prompt file"),
        ("prompts/shots.yaml", "few-shot file"),
    ],
)
def test_non_utf8_names_the_file_that_has_it(suite_dir: Path, name: str, what: str) -> None:
    broken = suite_dir / name
    broken.write_bytes(broken.read_bytes().replace(b"\n", b" " + LATIN1 + b"\n", 1))
    error = load_bounded(load_config_without_env, suite_dir / "llmgate.yaml", blamed=broken)
    assert error.line == 1
    assert error.message.startswith(f"the {what} is not UTF-8 (byte 0xe9 at column ")
    assert "save it with UTF-8 encoding" in error.message


def test_non_utf8_case_file(tmp_path: Path) -> None:
    path = tmp_path / "c.llm.yaml"
    path.write_bytes(CASE_HEAD.encode() + b"    expect: {label: " + LATIN1 + b"}\n")
    error = load_bounded(load_case_file, path)
    assert str(error) == f"{path}:5: the case file is not UTF-8 (byte 0xe9 at column 24); save it with UTF-8 encoding"


def test_oversized_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 100)
    path = tmp_path / "c.llm.yaml"
    path.write_text(CASE_HEAD + "    expect: {label: " + "x" * 200 + "}\n")
    error = load_bounded(load_case_file, path)
    assert error.message == "the case file is larger than 100 bytes; split it"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Record (and refuse) every attempt to open a connection or a URL."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    yield attempts


SCHEMA_CASE = CASE_HEAD + (
    "    format:\n      schema:\n        definitions: {level: {enum: [low, high]}}\n"
    "        properties:\n          urgency: {$ref: '%s'}\n"
)


def test_local_ref_resolves(tmp_path: Path, no_network: list[Any]) -> None:
    path = tmp_path / "c.llm.yaml"
    path.write_text(SCHEMA_CASE % "#/definitions/level")
    [case] = load_case_file(path).cases
    [good] = DEFAULT_CHECKS.run('{"urgency": "low"}', {}, case.format)
    [bad] = DEFAULT_CHECKS.run('{"urgency": "soon"}', {}, case.format)
    assert (good.passed, bad.passed) == (True, False)
    assert "at urgency" in bad.detail
    assert no_network == []


@pytest.mark.parametrize(
    "ref, message",
    [
        ("#/definitions/nope", "$ref '#/definitions/nope' points at nothing in the schema"),
        ("#/definitions/level/enum", "points at ['low', 'high'], which is not a schema"),
        (
            "https://example.com/level.json",
            "$ref 'https://example.com/level.json' is remote: remote $ref are not fetched; inline the schema",
        ),
        ("level.json", "$ref 'level.json' names another document, which is not loaded; inline the schema"),
    ],
)
def test_unresolvable_ref_is_a_load_error(tmp_path: Path, no_network: list[Any], ref: str, message: str) -> None:
    path = tmp_path / "c.llm.yaml"
    path.write_text(SCHEMA_CASE % ref)
    error = load_bounded(load_case_file, path)
    assert error.line == 6  # the 'schema:' key
    assert error.message.startswith("case 'a': 'schema' must be a self-contained JSON Schema: ")
    assert message in error.message
    assert no_network == []


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"a": {"$ref": "https://example.com/a.json"}}},
        {"$ref": "#"},  # refers to itself forever
        {"properties": {"a": {"$ref": "#/nowhere"}}},
        ["not", "a", "schema"],
    ],
)
def test_check_schema_never_fetches_and_never_raises(no_network: list[Any], schema: Any) -> None:
    [result] = DEFAULT_CHECKS.run('{"a": 1}', {}, {"schema": schema})
    assert not result.passed
    assert result.detail.startswith("the schema could not be applied (")
    assert len(result.detail) < 300
    assert no_network == []


@pytest.mark.parametrize("output", ["[" * 100_000, '{"a": ' * 50_000])
def test_deeply_nested_answers_fail_json_checks(output: str) -> None:
    results = DEFAULT_CHECKS.run(output, {"fields": {"a": 1}}, {"json": True, "schema": {"type": "object"}})
    assert [r.passed for r in results] == [False, False, False]
    assert all("nested too deeply" in r.detail for r in results)
