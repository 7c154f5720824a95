"""YAML loading that remembers line numbers, so errors can point at the offending line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError


class LineDict(dict):
    """A mapping from YAML that knows its own line and the line of each key (1-based)."""

    def __init__(self, *args: Any, line: int = 0, key_lines: dict[str, int] | None = None):
        super().__init__(*args)
        self.line = line
        self.key_lines = key_lines or {}

    def line_of(self, key: str) -> int:
        """The line where ``key`` is written, or this mapping's own line."""
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A sequence from YAML that knows its own line and the line of each item."""

    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry line numbers; duplicate keys are errors."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        self.flatten_mapping(node)
        result = LineDict(line=node.start_mark.line + 1)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _LineLoader.construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse ``path``; a syntax error becomes a SpecError with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path, None, f"cannot read file: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(path, line, f"invalid YAML: {problem}") from None


def line_of(node: Any, key: str | None = None, default: int = 0) -> int:
    """Best line number for ``node`` (and ``key`` inside it) or ``default``."""
    if isinstance(node, LineDict):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, LineList):
        return node.line
    return default


def expect_mapping(node: Any, path: Path, line: int, what: str) -> LineDict:
    """Return ``node`` if it is a mapping, else raise a SpecError naming ``what``."""
    if not isinstance(node, dict):
        raise SpecError(path, line, f"{what} must be a mapping, got {type_name(node)}")
    return node if isinstance(node, LineDict) else LineDict(node, line=line)


def type_name(value: Any) -> str:
    """A YAML-flavoured name for the type of ``value``, for error messages."""
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"),
                       (str, "a string"), ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def reject_unknown(node: LineDict, known: tuple[str, ...], path: Path, what: str) -> None:
    """Raise a SpecError at the first key of ``node`` that is not in ``known``."""
    for key in node:
        if key not in known:
            raise SpecError(path, node.line_of(key), f"unknown {what} {key!r}; known: {', '.join(known)}")
