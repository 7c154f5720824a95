"""Training examples and the eval cases they are compared with: reading, writing and walking a suite."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..suite.cases import CASE_FILE_PATTERNS, Case, load_case_file

_PUNCTUATION = re.compile(r"[^\w\s]")


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed; punctuation-only text keeps its marks."""
    words = _PUNCTUATION.sub(" ", text.lower()).split()
    # '???' and '!!!' would both become '' and count as the same message
    return " ".join(words) or " ".join(text.lower().split())


def display_path(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Example:
    """One fine-tuning example: a chat ending with the assistant's answer, and where it came from."""

    messages: tuple[Mapping[str, str], ...]
    source: str

    @property
    def user_text(self) -> str:
        """The last user message: what the model must answer."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")

    @property
    def answer(self) -> str:
        """The last assistant message: what the model must learn to say."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "assistant"), "")

    def to_json(self) -> dict[str, Any]:
        """The OpenAI chat fine-tuning line: ``{"messages": [...]}``."""
        return {"messages": [dict(m) for m in self.messages]}


@dataclass(frozen=True)
class Reference:
    """A text the training data must not contain: an eval case's input or a held-out example."""

    where: str
    text: str


def read_examples(path: Path) -> list[Example]:
    """Read a JSONL training file: ``{"messages": [...]}`` lines or ``{"text", "label"}`` lines."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SpecError(path, None, f"cannot read file: {exc.strerror}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            examples.append(_parse_example(line, path, number))
    return examples


def _parse_example(line: str, path: Path, number: int) -> Example:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpecError(path, number, f"invalid JSON: {exc.msg}") from None
    source = f"{display_path(path)}:{number}"
    if isinstance(row, dict) and isinstance(row.get("text"), str) and isinstance(row.get("label"), str):
        return Example(
            ({"role": "user", "content": row["text"]}, {"role": "assistant", "content": row["label"]}), source
        )
    messages = row.get("messages") if isinstance(row, dict) else None
    if (
        isinstance(messages, list)
        and messages
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        )
    ):
        return Example(tuple({"role": m["role"], "content": m["content"]} for m in messages), source)
    raise SpecError(
        path, number, 'expected {"messages": [{"role": ..., "content": ...}, ...]} or {"text": ..., "label": ...}'
    )


def write_examples(path: Path, examples: Iterable[Example]) -> None:
    """Write ``examples`` as OpenAI chat fine-tuning JSONL."""
    text = "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in examples)
    path.write_text(text, encoding="utf-8")


def case_files(folder: Path) -> list[Path]:
    """Every case file below ``folder``, skipping hidden folders such as .venv and .git."""
    found = {p for pattern in CASE_FILE_PATTERNS for p in folder.rglob(pattern)}
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(folder).parts[:-1]))


def load_cases(paths: Sequence[Path]) -> list[tuple[Path, Case]]:
    """The cases of the given case files and of the case files in the given folders, in order."""
    files = [f for p in paths for f in (case_files(p) if p.is_dir() else [p])]
    return [(f, case) for f in files for case in load_case_file(f).cases]


def case_where(path: Path, case: Case) -> str:
    """'path/to/edge.llm.yaml::case-id', the way pytest names the case."""
    return f"{display_path(path)}::{case.id}"


def eval_references(suite: Path) -> list[Reference]:
    """The input of every case under the suite folder: what the training data must not contain."""
    return [Reference(case_where(path, case), case.input_text) for path, case in load_cases([suite])]


def example_references(path: Path) -> list[Reference]:
    """The user messages of a JSONL file (e.g. a held-out set), to be kept out of training too."""
    return [Reference(e.source, e.user_text) for e in read_examples(path)]


def eval_matches(examples: Sequence[Example], references: Sequence[Reference]) -> list[tuple[Example, Reference]]:
    """Examples whose user message is, once normalised, an eval input."""
    by_text: dict[str, list[Reference]] = defaultdict(list)
    for reference in references:
        by_text[normalize_text(reference.text)].append(reference)
    return [(e, r) for e in examples for r in by_text.get(normalize_text(e.user_text), [])]
