"""Property tests: any YAML text, odd or hostile, either loads or is a SpecError naming a file we wrote."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pytest_llmgate.backends.registry import DEFAULT_PROVIDERS, PROVIDER_FIELDS
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.cases import CASE_KEYS, load_case_file
from pytest_llmgate.suite.config import BACKEND_KEYS, load_config
from pytest_llmgate.suite.yamlio import LineDict, LineList, load_yaml

# Modest and reproducible: no example database is written, and each run draws the same examples.
FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=2),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_STRUCTURES = settings(FUZZ, max_examples=100)  # each example builds and parses a whole file

ODD_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from("\x00\x01\x85\u2028\ufeff{}[]&*!|>'\"%@`#:-?,\t\n"),
    max_size=12,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    ODD_TEXT,
    st.integers(1, 20_000).map(lambda n: "huge " * n),
    st.dates(),
    st.sampled_from(["${UNSET}", "${HOME:-x}", "#/definitions/x", "http://127.0.0.1:9/s.json", "2024-13-45"]),
)
KNOWN_KEYS = sorted(
    {
        *CASE_KEYS,
        *BACKEND_KEYS,
        *PROVIDER_FIELDS,
        *DEFAULT_PROVIDERS.declared("").params,
        "cases",
        "defaults",
        "thresholds",
        "backends",
        "fields",
        "schema",
        "file",
        "$ref",
        "definitions",
        "properties",
        "label",
        "one_of",
        "user",
        "assistant",
    }
)
KEYS = st.one_of(
    st.sampled_from(KNOWN_KEYS), ODD_TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)
)


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists and mappings of ``leaves``, a few levels deep."""
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
        max_leaves=12,
    )


@st.composite
def values(draw: st.DrawFn) -> Any:
    """A nested value in which one container may appear several times: YAML dumps it as an anchor and aliases."""
    shared = draw(nested(SCALARS).filter(lambda v: isinstance(v, (list, dict))))
    return draw(nested(SCALARS | st.just(shared)))


def usually(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a right value, so that examples get past the first check; sometimes anything."""
    return st.one_of(good, good, good, values())


def entries(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    """A mapping with the ``required`` keys, some ``optional`` ones (right or wrong values) and, sometimes,
    odd keys; or anything at all."""
    known = st.fixed_dictionaries(required, optional={k: usually(v) for k, v in optional.items()})
    extra = st.dictionaries(KEYS, values(), max_size=2)
    return st.one_of(known, known, known, st.builds(lambda a, b: {**b, **a}, known, extra), values())


TEXT = ODD_TEXT | st.sampled_from(["hi ${WHO}", "billing"])
STRINGS = st.lists(TEXT, min_size=1, max_size=3)
SCHEMAS = st.one_of(
    values(),
    st.sampled_from(
        [
            {"definitions": {"x": {"type": "string"}}, "properties": {"a": {"$ref": "#/definitions/x"}}},
            {"properties": {"a": {"$ref": "#/definitions/missing"}}},
            {"$ref": "http://127.0.0.1:9/schema.json"},
            {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"$ref": "#/items/zz"}]},
            {"type": "object", "pattern": "("},
        ]
    ),
)
EXPECT = entries(
    {}, {"label": TEXT, "fields": values(), "regex": TEXT, "contains_any": STRINGS, "not_contains": STRINGS}
)
FORMAT = entries({}, {"schema": SCHEMAS, "one_of": STRINGS, "max_words": st.integers(-2, 5), "json": st.booleans()})
MESSAGES = st.lists(
    entries({"role": usually(st.sampled_from(["user", "assistant", "system"])), "content": usually(TEXT)}, {}),
    max_size=3,
).map(lambda turns: [*turns, {"role": "user", "content": "last"}])
CASE_KEYS_OPTIONAL = {
    "category": st.sampled_from(["common", "edge", "adversarial"]),
    "format": FORMAT,
    "must_pass": st.booleans(),
    "tags": STRINGS,
    "task": TEXT,
    "description": TEXT,
}
CASE = st.one_of(
    entries({"id": st.sampled_from(["a", "b", "c-1"]), "input": TEXT, "expect": EXPECT}, CASE_KEYS_OPTIONAL),
    entries(
        {"id": st.sampled_from(["a", "b", "c-1"]), "messages": usually(MESSAGES), "expect": EXPECT}, CASE_KEYS_OPTIONAL
    ),
)
THRESHOLDS = st.dictionaries(
    st.sampled_from(["common", "edge"]) | KEYS,
    entries(
        {}, {"accuracy": st.floats(-1, 2), "format": st.floats(), "gate": st.sampled_from(["point", "lower_bound"])}
    ),
    max_size=2,
)
CASE_FILES = entries(
    {"cases": st.lists(CASE, min_size=1, max_size=3)},
    {"defaults": entries({}, CASE_KEYS_OPTIONAL), "thresholds": THRESHOLDS},
)

PROMPT_FILE = st.sampled_from(
    [{"file": "prompt.md"}, {"file": "shots.yaml"}, {"file": "missing.md"}, {"file": "x" * 300}]
)
FEW_SHOT = st.lists(entries({"user": usually(TEXT), "assistant": usually(TEXT)}, {}), max_size=2) | PROMPT_FILE
NUMBER = st.one_of(st.integers(-5, 5000), st.floats(), st.just(10**30))
BACKEND = entries(
    {"provider": usually(st.sampled_from(["fake", "openai", "llama_cpp"])), "model": usually(TEXT)},
    {
        "system_prompt": TEXT | PROMPT_FILE,
        "few_shot": FEW_SHOT,
        "tasks": st.dictionaries(
            TEXT, entries({}, {"system_prompt": TEXT | PROMPT_FILE, "few_shot": FEW_SHOT}), max_size=2
        ),
        "params": entries({}, {"temperature": NUMBER, "stop": STRINGS, "seed": NUMBER}),
        "pricing": entries({}, {"per_hour_usd": NUMBER, "input_per_mtok_usd": NUMBER, "concurrency": NUMBER}),
        "options": values(),
        "timeout_s": NUMBER,
        "max_retries": NUMBER,
        "n_ctx": NUMBER,
        "n_threads": NUMBER,
        "lora_scale": NUMBER,
        "stream": st.booleans(),
        "base_url": TEXT,
        "api_key_env": TEXT,
        "approach": st.sampled_from(["prompted", "fine_tuned"]),
    },
)
CONFIGS = entries(
    {"backends": st.dictionaries(st.sampled_from(["a", "b"]) | KEYS, BACKEND, max_size=2)},
    {
        "default_backend": st.sampled_from(["a", "b"]),
        "thresholds": THRESHOLDS,
        "volume": st.sampled_from(["90000/day", "x/y"]) | NUMBER,
        "horizon_months": NUMBER,
        "decision": entries({}, {"alpha": NUMBER, "min_gain_points": NUMBER}),
    },
)
FILE_BYTES = st.one_of(st.binary(max_size=64), ODD_TEXT.map(str.encode), st.just(b"- {user: a, assistant: b}\n"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def dump(data: Any) -> str:
    return yaml.dump(data, allow_unicode=True, sort_keys=False)


def loads_or_spec_error(load: Callable[[Path], Any], path: Path, allowed: set[Path]) -> None:
    """``load(path)`` returns, or raises a SpecError that names one of ``allowed`` and says something."""
    try:
        load(path)
    except SpecError as error:
        assert error.path in allowed
        assert error.message.strip()
        event(f"SpecError: {error.message[:25]}")
    else:
        event("loaded")


def load_without_env(path: Path) -> Any:
    return load_config(path, environ={"WHO": "Acme"})


@FUZZ_STRUCTURES
@given(data=CASE_FILES)
def test_case_files_from_random_structures(folder: Path, data: Any) -> None:
    path = folder / "common.llm.yaml"
    path.write_text(dump(data), encoding="utf-8")
    loads_or_spec_error(load_case_file, path, {path})


@FUZZ_STRUCTURES
@given(data=CONFIGS, prompt=FILE_BYTES, shots=FILE_BYTES)
def test_configs_from_random_structures(folder: Path, data: Any, prompt: bytes, shots: bytes) -> None:
    (folder / "prompt.md").write_bytes(prompt)
    (folder / "shots.yaml").write_bytes(shots)
    path = folder / "llmgate.yaml"
    path.write_text(dump(data), encoding="utf-8")
    loads_or_spec_error(load_without_env, path, {path, folder / "prompt.md", folder / "shots.yaml"})


def lines_of(value: Any) -> Any:
    """``value`` with the line of every mapping, key and list item beside it, to compare two loads whole."""
    if isinstance(value, LineDict):
        return ("map", value.line, [(k, value.line_of(k), lines_of(v)) for k, v in value.items()])
    if isinstance(value, LineList):
        return ("list", value.line, value.item_lines, [lines_of(v) for v in value])
    return value


@FUZZ_STRUCTURES
@given(data=CASE_FILES | CONFIGS)
def test_libyaml_composer_loads_as_the_careful_loader_does(folder: Path, data: Any) -> None:
    """A file with no '*' is composed by libyaml; a '*' anywhere (here in a comment) sends it through the Python
    composer that bounds aliases. Both give the same values at the same lines, or the same error."""
    text = dump(data).replace("*", "")
    fast, careful = folder / "fast.yaml", folder / "careful.yaml"
    fast.write_text(text, encoding="utf-8")
    careful.write_text(text + "# *\n", encoding="utf-8")
    outcomes = []
    for path in (fast, careful):
        try:
            outcomes.append(lines_of(load_yaml(path)))
        except SpecError as error:
            outcomes.append((error.line, error.message))
    assert outcomes[0] == outcomes[1]


VALID_CASE_FILE = """\
defaults: &defaults
  format: {one_of: [billing, general]}
cases:
  - &first {id: a, category: common, input: "hi", expect: {label: billing, fields: {x: 1}}}
  - <<: *first
    id: b
    format: {schema: {definitions: {x: {type: object}}, $ref: "#/definitions/x"}}
"""
VALID_CONFIG = """\
default_backend: a
backends:
  a: &a {provider: fake, model: m, system_prompt: "For ${WHO}", few_shot: [{user: u, assistant: a}], timeout_s: 5}
  b:
    <<: *a
    params: {temperature: 0, stop: ["\\n"]}
"""


@FUZZ
@given(
    text=st.sampled_from([VALID_CASE_FILE, VALID_CONFIG]),
    at=st.integers(0, 400),
    cut=st.integers(0, 8),
    insert=st.text(st.sampled_from("[]{}&*<:-!|>'\"\\\n\t #?,%@0123456789abc\x00\x85\u2028"), max_size=6),
)
def test_mutated_valid_files(folder: Path, text: str, at: int, cut: int, insert: str) -> None:
    at = min(at, len(text))
    name = "common.llm.yaml" if text is VALID_CASE_FILE else "llmgate.yaml"
    path = folder / name
    path.write_text(text[:at] + insert + text[at + cut :], encoding="utf-8")
    loads_or_spec_error(load_case_file if name.endswith(".llm.yaml") else load_without_env, path, {path})


@FUZZ
@given(raw=st.binary(max_size=300) | ODD_TEXT.map(str.encode))
def test_raw_bytes(folder: Path, raw: bytes) -> None:
    for name, load in (("common.llm.yaml", load_case_file), ("llmgate.yaml", load_without_env)):
        path = folder / name
        path.write_bytes(raw)
        loads_or_spec_error(load, path, {path})


def test_the_valid_files_load(folder: Path) -> None:
    (folder / "common.llm.yaml").write_text(VALID_CASE_FILE)
    (folder / "llmgate.yaml").write_text(VALID_CONFIG)
    assert [c.id for c in load_case_file(folder / "common.llm.yaml").cases] == ["a", "b"]
    suite = load_without_env(folder / "llmgate.yaml")
    assert suite.backend("b").prompt.system == "For Acme"
