"""YAML loading that remembers line numbers, so errors can point at the offending line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

MAX_FILE_BYTES = 10_000_000
MAX_DEPTH = 64  # lists and mappings inside each other; real files use under 10
MAX_ALIAS_VALUES = 100_000  # values that aliases (*name, <<: *name) may repeat in one file
_CHUNK_BYTES = 1 << 16
_STR_TAG = "tag:yaml.org,2002:str"


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


class _LimitExceeded(yaml.composer.ComposerError):
    """Valid YAML that would cost too much (or loop) to load: reported without 'invalid YAML'."""


class _PythonParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own reader, scanner and parser, for a PyYAML built without libyaml."""

    def __init__(self, stream: str):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


# libyaml scans and parses (most of the time a load takes) where PyYAML was built with it, and composes
# a file that holds no alias; the careful loader's Python composer sees every node of one that may.
_PARSER: Any
try:
    from yaml import cyaml

    _PARSER = cyaml.CParser  # type: ignore[attr-defined]  # libyaml's parser, not in cyaml's __all__
except ImportError:  # PyYAML without libyaml
    _PARSER = _PythonParser


class _LineConstructor(yaml.constructor.SafeConstructor):
    """A safe constructor whose mappings and sequences carry line numbers; duplicate keys are errors."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
            return node.value  # most values are text: skip the constructor's bookkeeping
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. a 5,000-digit integer or the date 2024-13-45: name the value's line.
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        written_here = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        # flatten_mapping puts the pairs of '<<: *name' first; keys written here override them.
        self.flatten_mapping(node)
        first_written = len(node.value) - written_here
        result = LineDict(line=node.start_mark.line + 1)
        written: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    "a key must be a plain value, not a list or mapping; quote it if it is text",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=True)
            if index >= first_written:
                if key in written:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                written.add(key)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


class _LineLoader(yaml.composer.Composer, _PARSER, _LineConstructor, yaml.resolver.Resolver):
    """The careful loader, for a file that may hold aliases (a ``*`` anywhere in it). Its Python composer
    sees every node and bounds what a small hostile file can cost: nesting deeper than MAX_DEPTH, and
    aliases that would repeat more than MAX_ALIAS_VALUES values (a "billion laughs" bomb
    expands 9 aliases 9 levels deep into 9**9 values) are errors at the offending line.
    """

    def __init__(self, stream: str):
        _PARSER.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        _LineConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._alias_values = 0
        # Values under each node with aliases expanded; a node under construction has none yet.
        self._sizes: dict[yaml.Node, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            target = super().compose_node(parent, index)
            self._count_alias(self._sizes.get(target) if target is not None else None, mark)
            return target
        if self._depth >= MAX_DEPTH:
            raise _LimitExceeded(
                None, None, f"lists and mappings are nested more than {MAX_DEPTH} deep; flatten the structure", mark
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[node] = 1 + sum(self._sizes[child] for child in _children(node))
        return node

    def _count_alias(self, target_size: int | None, mark: yaml.Mark) -> None:
        if target_size is None:
            raise _LimitExceeded(
                None,
                None,
                "this alias refers to a list or mapping that contains it; a value cannot contain itself",
                mark,
            )
        self._alias_values += target_size
        if self._alias_values > MAX_ALIAS_VALUES:
            raise _LimitExceeded(
                None,
                None,
                f"aliases in this file repeat more than {MAX_ALIAS_VALUES:,} values "
                "(an alias bomb?); write the values out or use fewer aliases",
                mark,
            )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


class _FastLoader(_PARSER, _LineConstructor, yaml.resolver.Resolver):
    """libyaml's own composer (used only with libyaml), for a file with no ``*``: without an alias it can neither
    repeat values nor contain itself, so only its depth needs bounding, on the composed nodes, before anything
    is built."""

    def __init__(self, stream: str):
        _PARSER.__init__(self, stream)
        _LineConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _bound_depth(node)
        return self.construct_document(node)


def _bound_depth(root: yaml.Node) -> None:
    """Refuse, at its line, the first node (in document order) with MAX_DEPTH lists and mappings above it."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth >= MAX_DEPTH:
            raise _LimitExceeded(
                None,
                None,
                f"lists and mappings are nested more than {MAX_DEPTH} deep; flatten the structure",
                node.start_mark,
            )
        stack.extend((child, depth + 1) for child in reversed(_children(node)))


# Once, on the constructor both loaders share. The stub binds add_constructor to the loader classes it knows.
_LineConstructor.add_constructor(  # type: ignore[type-var]
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineConstructor.construct_mapping
)
_LineConstructor.add_constructor(  # type: ignore[type-var]
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _LineConstructor.construct_sequence
)


def read_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; unreadable, oversized or non-UTF-8 files are SpecErrors naming it."""
    chunks: list[bytes] = []
    size = 0
    try:
        with path.open("rb") as stream:
            # In chunks: read(MAX_FILE_BYTES) would allocate the whole limit for a small file.
            while chunk := stream.read(_CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise SpecError(path, None, f"the {what} is larger than {MAX_FILE_BYTES:,} bytes; split it")
                chunks.append(chunk)
    except OSError as exc:
        raise SpecError(path, None, f"cannot read {what}: {exc.strerror or exc}") from None
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            path,
            line,
            f"the {what} is not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); save it with UTF-8 encoding",
        ) from None


def load_yaml(path: Path, what: str = "file") -> Any:
    """Parse ``path``; unreadable text or YAML becomes a SpecError with the file and line."""
    text = read_text(path, what)
    try:
        fast = _PARSER is not _PythonParser and "*" not in text
        return yaml.load(text, Loader=_FastLoader if fast else _LineLoader)
    except _LimitExceeded as exc:
        raise SpecError(path, exc.problem_mark.line + 1 if exc.problem_mark else None, str(exc.problem)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(path, line, f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(
            path, line, f"invalid YAML: the control character U+{exc.character:04X} is not allowed; remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, f"invalid YAML: {exc}") from None


def line_of(node: Any, key: str | None = None, default: int = 0) -> int:
    """Best line number for ``node`` (and ``key`` inside it) or ``default``."""
    if isinstance(node, LineDict):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, LineList):
        return node.line
    return default


def expect_mapping(node: Any, path: Path, line: int, what: str) -> LineDict:
    """Return ``node`` if it is a mapping with text keys, else raise a SpecError naming ``what``."""
    if not isinstance(node, dict):
        raise SpecError(path, line, f"{what} must be a mapping, got {type_name(node)}")
    mapping = node if isinstance(node, LineDict) else LineDict(node, line=line)
    for key in mapping:
        if not isinstance(key, str):
            raise SpecError(
                path,
                mapping.line_of(key),
                f"{what}: the key {key!r} must be text; YAML reads unquoted "
                "numbers, null, yes/no and on/off as other values, so quote it",
            )
    return mapping


def type_name(value: Any) -> str:
    """A YAML-flavoured name for the type of ``value``, for error messages."""
    if value is None:
        return "null"
    for kind, name in (
        (bool, "a boolean"),
        (dict, "a mapping"),
        (list, "a list"),
        (str, "a string"),
        ((int, float), "a number"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def reject_unknown(node: LineDict, known: tuple[str, ...], path: Path, what: str) -> None:
    """Raise one SpecError naming every key of ``node`` that is not in ``known``, each at its line."""
    errors = [
        SpecError(path, node.line_of(key), f"unknown {what} {key!r}; known: {', '.join(known)}")
        for key in node
        if key not in known
    ]
    if errors:
        raise SpecError.of(errors)
