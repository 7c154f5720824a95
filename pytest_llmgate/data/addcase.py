"""``llmgate add-case``: a logged request (or a typed input) becomes a case in a case file.

The file is edited with ruamel.yaml's round trip, so its comments, key order and quoting stay;
the result is validated with the plugin's own loader before it replaces the file atomically.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from ..backends.spec import Prompt
from ..errors import SpecError
from ..suite.cases import load_case_file
from .examples import case_where, display_path, load_cases, normalize_text

NEW_FILE_HEADER = "# Cases added with `llmgate add-case` (see docs/workflow.md).\n"
_SLUG_WORDS = 5
_HASH_CHARS = 6
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class LoggedRequest:
    """A chat request from a log (or typed in), with the answer production gave when logged."""

    messages: tuple[Mapping[str, str], ...]
    source: str
    answer: str | None = None


@dataclass
class Outcome:
    """What add-case did: the cases added, the inputs skipped as duplicates, the file diff."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (source, case id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, existing file::id)
    notes: list[str] = field(default_factory=list)
    diff: str = ""


def read_logged_requests(path: Path) -> list[LoggedRequest]:
    """Logged chat requests from a JSON file or a JSONL file; SpecError names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path, None, f"cannot read file: {exc.strerror}") from None
    try:
        # a single pretty-printed request spans several lines
        return [_parse_request(json.loads(text), path, 1)]
    except json.JSONDecodeError:
        pass
    requests = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(path, number, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        requests.append(_parse_request(row, path, number))
    if not requests:
        raise SpecError(path, None, "no logged request in the file")
    return requests


def _parse_request(row: Any, path: Path, line: int) -> LoggedRequest:
    answer = None
    if isinstance(row, dict) and isinstance(row.get("request"), dict):
        answer = _response_text(row.get("response"))
        row = row["request"]
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list) or not row["messages"]:
        raise SpecError(
            path,
            line,
            'expected a chat request {"model": ..., "messages": [...]} or {"request": {...}, "response": {...}}',
        )
    messages = tuple(_parse_message(m, path, line) for m in row["messages"])
    if messages[-1]["role"] != "user":
        raise SpecError(path, line, "the logged request must end with a user message")
    return LoggedRequest(messages, f"{path.name}:{line}", answer)


def _parse_message(message: Any, path: Path, line: int) -> dict[str, str]:
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        raise SpecError(path, line, f"each message needs a role among {', '.join(_ROLES)}")
    content = message.get("content")
    if isinstance(content, list):
        # the content-parts form: [{"type": "text", "text": "..."}]
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            raise SpecError(path, line, "only text content can become a case (found a non-text content part)")
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise SpecError(path, line, f"message content must be text, got {type(content).__name__}")
    return {"role": _ROLES[message["role"]], "content": content}


def _response_text(response: Any) -> str | None:
    """The assistant text of a logged chat completion response, when there is one."""
    try:
        content = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def strip_prompt(
    messages: Sequence[Mapping[str, str]], prompts: Mapping[str | None, Prompt]
) -> tuple[tuple[Mapping[str, str], ...], str | None, bool]:
    """Remove the backend's system prompt and few-shot turns when the messages start with them exactly.

    ``prompts`` maps a task (None: the default prompt) to its Prompt; the longest match wins.
    Returns (remaining messages, matched task, whether a prompt was removed).
    """

    def same(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
        return a["role"] == b["role"] and a["content"].strip() == b["content"].strip()

    candidates = sorted(((len(p.messages(())), task, p) for task, p in prompts.items()), key=lambda c: -c[0])
    for length, task, prompt in candidates:
        prefix = prompt.messages(())
        if length and len(messages) > length and all(same(m, p) for m, p in zip(messages, prefix)):
            return tuple(messages[length:]), task, True
    return tuple(messages), None, False


def conversation_key(messages: Iterable[Mapping[str, str]]) -> str:
    """What makes two cases the same input: their messages, each normalised."""
    return "\n".join(normalize_text(m["content"]) for m in messages)


def make_case_id(text: str, taken: Iterable[str]) -> str:
    """A stable id from the input: a slug of its first words and a short hash, unique among ``taken``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)[:_SLUG_WORDS]
    slug = "-".join(words)[:40].strip("-") or "case"
    digest = hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()
    used = set(taken)
    for length in range(_HASH_CHARS, len(digest) + 1):
        candidate = f"{slug}-{digest[:length]}"
        if candidate not in used:
            return candidate
    raise ValueError(f"no free id for {text!r}")  # 40 hex digits all taken: cannot happen in practice


def expectation(label: str | None, fields: Mapping[str, Any] | None, not_contains: Sequence[str]) -> dict[str, Any]:
    """The ``expect:`` mapping of the corrected answer."""
    expect: dict[str, Any] = {}
    if label is not None:
        expect["label"] = label
    if fields is not None:
        expect["fields"] = dict(fields)
    if not_contains:
        expect["not_contains"] = list(not_contains)
    return expect


def _flow(value: Any) -> Any:
    """Mappings and lists in flow style, like the hand-written files: ``{label: billing}``."""
    if isinstance(value, Mapping):
        node = CommentedMap((k, _flow(v)) for k, v in value.items())
        node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_flow(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    return value


def _text(value: str) -> Any:
    """Multi-line text as a literal block, one line in double quotes (like the example files)."""
    return LiteralScalarString(value) if "\n" in value else DoubleQuotedScalarString(value)


def case_node(
    case_id: str,
    messages: Sequence[Mapping[str, str]],
    expect: Mapping[str, Any],
    *,
    category: str | None,
    task: str | None,
    tags: Sequence[str],
    description: str,
) -> CommentedMap:
    """The YAML node of one new case; a lone user turn is written as ``input:``."""
    node = CommentedMap(id=case_id)
    if category:
        node["category"] = category
    if task:
        node["task"] = task
    if len(messages) == 1 and messages[0]["role"] == "user":
        node["input"] = _text(messages[0]["content"])
    else:
        node["messages"] = CommentedSeq(_flow({"role": m["role"], "content": _text(m["content"])}) for m in messages)
    node["expect"] = _flow(dict(expect))
    if tags:
        node["tags"] = _flow(list(tags))
    if description:
        node["description"] = _text(description)
    return node


class CaseFileEditor:
    """One case file opened for appending cases, its formatting kept by ruamel's round trip."""

    def __init__(self, path: Path):
        self.path = path
        self.original = path.read_text(encoding="utf-8") if path.exists() else ""
        self.yaml = YAML()
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096  # never re-wrap a long line the author wrote on one line
        try:
            _, indent, offset = load_yaml_guess_indent(self.original or "cases: []\n")
            data = self.yaml.load(self.original) if self.original else CommentedMap(cases=CommentedSeq())
        except YAMLError as exc:
            raise SpecError(path, None, f"invalid YAML, fix it first: {exc}") from None
        # the guess gives the indent of a sequence item's keys and the dash offset: '  - id:' is 4 and 2
        indent, offset = (indent or 4, offset or 0) if self.original else (4, 2)
        self.yaml.indent(mapping=indent - offset if offset else indent, sequence=indent, offset=offset)
        if not isinstance(data, CommentedMap) or not isinstance(data.get("cases", CommentedSeq()), CommentedSeq):
            raise SpecError(path, None, "cannot append: the file needs a top-level 'cases:' list")
        self.data = data
        self.ids = {str(item.get("id")) for item in data.get("cases", []) if isinstance(item, Mapping)}

    def implied_category(self) -> str:
        """The category a case gets without its own key: the defaults', else the file name's."""
        defaults = self.data.get("defaults")
        if isinstance(defaults, Mapping) and isinstance(defaults.get("category"), str):
            return defaults["category"]
        return self.path.name.split(".", 1)[0]

    def append(self, node: CommentedMap) -> None:
        """Append one case, separated from the previous one by a blank line."""
        cases = self.data.setdefault("cases", CommentedSeq())
        if cases.fa.flow_style():
            cases.fa.set_block_style()
        # a comment after the last case is the list's end comment: keep it above the new case
        trailing = list(cases.ca.end or [])
        cases.ca.end = None
        cases.append(node)
        if len(cases) > 1:
            cases.yaml_set_comment_before_after_key(len(cases) - 1, before="\n")
            cases.ca.items[len(cases) - 1][1][:0] = trailing
        self.ids.add(str(node["id"]))

    def render(self) -> str:
        """The file's new text."""
        stream = io.StringIO()
        self.yaml.dump(self.data, stream)
        text = stream.getvalue()
        return text if self.original else NEW_FILE_HEADER + text

    def diff(self, new_text: str) -> str:
        """A unified diff from the file on disk to ``new_text``."""
        name = str(self.path)
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True), new_text.splitlines(keepends=True), fromfile=name, tofile=name
            )
        )


def validate(path: Path, text: str) -> None:
    """Load ``text`` as if it were ``path`` (same file name, so the same implied category)."""
    with tempfile.TemporaryDirectory(prefix="llmgate-") as folder:
        probe = Path(folder) / path.name
        probe.write_text(text, encoding="utf-8")
        try:
            load_case_file(probe)
        except SpecError as exc:
            where = f"line {exc.line}: " if exc.line else ""
            raise SpecError(
                path, None, f"not written: with the new case the file would be invalid: {where}{exc.message}"
            ) from None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (temporary file + rename), keeping its permissions."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    # a hidden name without the .llm.yaml ending, so pytest never collects a leftover
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def suite_index(suite: Path, extra: Path | None = None) -> dict[str, str]:
    """conversation key -> 'file::id' for every case under ``suite`` (and in ``extra``, when it exists)."""
    paths = [suite] + ([extra] if extra is not None and extra.exists() else [])
    index: dict[str, str] = {}
    for path, case in load_cases(paths):
        index.setdefault(conversation_key(case.messages), case_where(path, case))
    return index


@dataclass(frozen=True)
class AddRequest:
    """Everything add-case needs besides the logged requests."""

    target: Path
    suite: Path
    expect: Mapping[str, Any]
    category: str
    prompts: Mapping[str | None, Prompt] = field(default_factory=dict)
    tags: Sequence[str] = ()
    case_id: str | None = None
    dry_run: bool = False


def add_cases(requests: Sequence[LoggedRequest], spec: AddRequest) -> Outcome:
    """Append one case per new request to ``spec.target``; requests already in the suite are skipped."""
    editor = CaseFileEditor(spec.target)
    known = suite_index(spec.suite, spec.target)
    outcome = Outcome()
    category = None if editor.implied_category() == spec.category else spec.category
    for request in requests:
        messages, task, stripped = strip_prompt(request.messages, spec.prompts)
        if spec.prompts and not stripped and len(messages) > 1:
            outcome.notes.append(
                f"{request.source}: the messages do not start with the backend's prompt; kept them all as 'messages:'"
            )
        key = conversation_key(messages)
        if key in known:
            outcome.skipped.append((request.source, known[key]))
            continue
        case_id = spec.case_id or make_case_id(messages[-1]["content"], editor.ids)
        description = f"production answer: {request.answer.strip()[:80]}" if request.answer else ""
        editor.append(
            case_node(
                case_id, messages, spec.expect, category=category, task=task, tags=spec.tags, description=description
            )
        )
        known[key] = f"{display_path(spec.target)}::{case_id}"
        outcome.added.append((request.source, case_id))
    if not outcome.added:
        return outcome
    new_text = editor.render()
    validate(spec.target, new_text)
    outcome.diff = editor.diff(new_text)
    if not spec.dry_run:
        write_atomically(spec.target, new_text)
    return outcome


def typed_request(text: str) -> LoggedRequest:
    """A request from ``--input TEXT``."""
    return LoggedRequest(({"role": "user", "content": text},), "--input")
