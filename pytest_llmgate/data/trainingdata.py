"""Fine-tuning data: export it from cases or passed results, and check it before training.

The checks are the pre-training checklist: duplicates, leakage of eval cases into the training
set, label balance, the share of edge-like examples and the consistency of the answers' format.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..backends.spec import BackendSpec
from ..errors import SpecError
from ..suite.cases import Case, load_case_file

CASE_FILE_PATTERNS = ("*.llm.yaml", "*.llm.yml")
NEAR_THRESHOLD = 0.8
SHINGLE_SIZE = 5
DUPLICATE_TARGET = 0.05
EVAL_SET_WARNING = (
    "training on the eval set makes the gate meaningless: it would measure what the model "
    "memorised, not how it behaves on inputs it has not seen"
)

_PUNCTUATION = re.compile(r"[^\w\s]")
_MULTI_INTENT = re.compile(
    r"\b(also|another (thing|question|issue)|btw|by the way|on top of that|as well|"
    r"second(ly)?|and then)\b"
)
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,30}\b(instructions|rules|prompt|above|guidelines)\b|"
    r"\b(new|hidden|previous|your|my) instructions\b|<instructions>|system prompt|"
    r"^\W*system\b|\"role\"\s*:|\boverride\b|\bpretend\b|you are now|developer mode|jailbreak",
    re.MULTILINE,
)
_ENGLISH_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "be",
        "but",
        "can",
        "do",
        "for",
        "from",
        "have",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "our",
        "please",
        "the",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "why",
        "with",
        "you",
        "your",
    ]
)
_LABEL_SHAPE = re.compile(r"[\w\-]+( [\w\-]+){0,2}")
_SHORT_WORDS, _LONG_WORDS = 3, 80
_FOREIGN_MIN_WORDS = 6  # terse English ('API down since 9, urgent') has no function words either


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


def gold_answer(case: Case) -> str | None:
    """The answer a case's expectation spells out (label, fields as compact JSON, equals), or None."""
    if isinstance(case.expect.get("label"), str):
        return case.expect["label"]
    if isinstance(case.expect.get("fields"), Mapping):
        return json.dumps(dict(case.expect["fields"]), ensure_ascii=False, separators=(",", ":"))
    if isinstance(case.expect.get("equals"), str):
        return case.expect["equals"]
    return None


@dataclass
class Export:
    """Examples gathered for fine-tuning, and why the others were left out."""

    examples: list[Example] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    _user_texts: set[str] = field(default_factory=set, repr=False)

    def add(self, system: str | None, turns: Iterable[Mapping[str, str]], answer: str, source: str) -> None:
        """Add one example, unless one with the same user message is already in (first wins)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [dict(t) for t in turns]
        example = Example(tuple(messages + [{"role": "assistant", "content": answer}]), source)
        key = normalize_text(example.user_text)
        if key in self._user_texts:
            self.skipped.append(f"{source}: same user message as an earlier example")
            return
        self._user_texts.add(key)
        self.examples.append(example)


def export_cases(
    export: Export, cases: Iterable[tuple[Path, Case]], backend: BackendSpec | None, with_system: bool
) -> None:
    """Add each case with a derivable answer, sent as ``backend`` would (its system prompt, no few-shot)."""
    for path, case in cases:
        where = case_where(path, case)
        answer = gold_answer(case)
        prompt = backend.prompt_for(case.task) if backend else None
        if answer is None:
            export.skipped.append(f"{where}: no label, fields or equals to use as the answer")
        elif backend and prompt is None:
            export.skipped.append(f"{where}: backend {backend.name!r} has no prompt for task {case.task!r}")
        else:
            export.add(prompt.system if prompt and with_system else None, case.messages, answer, where)


def export_results(export: Export, path: Path, backend: BackendSpec | None, with_system: bool) -> None:
    """Add the output of every passed row of a JSON results file (``--llm-report-json``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(path, None, f"cannot read file: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    rows = document.get("cases") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise SpecError(path, None, "not a results file: it needs a 'cases' list (write one with --llm-report-json)")
    system = backend.prompt.system if backend and with_system else None
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("input"), str):
            raise SpecError(path, None, f"results row {number} has no 'input' string")
        where = f"{row.get('file', '?')}::{row.get('id', '?')}[{row.get('backend', '?')}]"
        if row.get("passed") is not True or not isinstance(row.get("output"), str):
            export.skipped.append(f"{where}: not passed")
        else:
            export.add(system, [{"role": "user", "content": row["input"]}], row["output"].strip(), where)


def eval_matches(examples: Sequence[Example], references: Sequence[Reference]) -> list[tuple[Example, Reference]]:
    """Examples whose user message is, once normalised, an eval input."""
    by_text: dict[str, list[Reference]] = defaultdict(list)
    for reference in references:
        by_text[normalize_text(reference.text)].append(reference)
    return [(e, r) for e in examples for r in by_text.get(normalize_text(e.user_text), [])]


# --------------------------------------------------------------------------- similarity


def shingles(text: str, size: int = SHINGLE_SIZE) -> frozenset[str]:
    """The character ``size``-grams of the normalised text (the whole text when it is shorter)."""
    norm = normalize_text(text)
    if len(norm) <= size:
        return frozenset([norm])
    return frozenset(norm[i : i + size] for i in range(len(norm) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|."""
    return len(a & b) / len(a | b) if a or b else 1.0


def similar_pairs(
    left: Sequence[frozenset[str]], right: Sequence[frozenset[str]] | None, threshold: float
) -> list[tuple[int, int, float]]:
    """(i, j, Jaccard) for every pair at or above ``threshold``: left x right, or within left (i < j).

    Exact and fast for thousands of texts by prefix filtering: with shingles ordered rarest first,
    two sets that reach the threshold share a shingle within their first len - ceil(t*len) + 1.
    """
    frequency = Counter(s for group in (left, right or ()) for shingle_set in group for s in shingle_set)

    def prefix(shingle_set: frozenset[str]) -> list[str]:
        keep = len(shingle_set) - math.ceil(threshold * len(shingle_set) - 1e-9) + 1
        return sorted(shingle_set, key=lambda s: (frequency[s], s))[:keep]

    index: dict[str, list[int]] = defaultdict(list)
    targets = left if right is None else right
    if right is not None:
        for j, shingle_set in enumerate(right):
            for s in prefix(shingle_set):
                index[s].append(j)
    pairs = []
    for i, shingle_set in enumerate(left):
        candidates = {j for s in prefix(shingle_set) for j in index[s]}
        for j in sorted(candidates):
            similarity = jaccard(shingle_set, targets[j])
            if similarity >= threshold:
                pairs.append((j, i, similarity) if right is None else (i, j, similarity))
        if right is None:
            for s in prefix(shingle_set):
                index[s].append(i)
    return pairs


# --------------------------------------------------------------------------- the checklist


@dataclass(frozen=True)
class Leak:
    """A training example equal or nearly equal to an eval input."""

    example: str
    reference: str
    similarity: float
    text: str


@dataclass(frozen=True)
class DataReport:
    """The pre-training checklist for one training file."""

    examples: int
    references: int
    threshold: float
    exact_duplicates: int
    near_duplicates: int
    conflicting_answers: int
    duplicate_pairs: tuple[tuple[str, str, float], ...]
    leaks: tuple[Leak, ...]
    labels: Mapping[str, int]
    edge_like: int
    edge_cues: Mapping[str, int]
    reference_edge_share: float | None
    format_shape: str
    format_share: float

    @property
    def exact_duplicate_rate(self) -> float:
        """Share of examples whose user message repeats an earlier one."""
        return self.exact_duplicates / self.examples if self.examples else 0.0

    @property
    def near_duplicate_rate(self) -> float:
        """Share of examples nearly equal (but not equal) to an earlier one."""
        return self.near_duplicates / self.examples if self.examples else 0.0

    @property
    def largest_label_share(self) -> float | None:
        """Share of the most frequent label among label answers; None without label answers."""
        total = sum(self.labels.values())
        return max(self.labels.values()) / total if total else None

    @property
    def edge_share(self) -> float:
        """Share of examples with at least one edge cue."""
        return self.edge_like / self.examples if self.examples else 0.0

    @property
    def passed(self) -> bool:
        """No leakage: the one finding that makes the gate's numbers meaningless."""
        return not self.leaks

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, rates included."""
        data = asdict(self)
        data.update(
            exact_duplicate_rate=self.exact_duplicate_rate,
            near_duplicate_rate=self.near_duplicate_rate,
            largest_label_share=self.largest_label_share,
            edge_share=self.edge_share,
            passed=self.passed,
            duplicate_target=DUPLICATE_TARGET,
        )
        return data


def edge_cues(text: str) -> list[str]:
    """Why a message looks like an edge case: short, long, multi-intent, injection, non-English."""
    lowered = text.lower()
    words = lowered.split()
    cues = []
    if len(words) <= _SHORT_WORDS:
        cues.append("short")
    if len(words) >= _LONG_WORDS:
        cues.append("long")
    if _MULTI_INTENT.search(lowered):
        cues.append("multi-intent")
    if _INJECTION.search(lowered):
        cues.append("injection")
    letters = [c for c in text if c.isalpha()]
    non_ascii = sum(not c.isascii() for c in letters)
    plain_words = set(normalize_text(text).split())
    no_english = len(words) >= _FOREIGN_MIN_WORDS and not plain_words & _ENGLISH_WORDS
    if letters and (non_ascii > 0.3 * len(letters) or no_english):
        cues.append("non-english")
    return cues


def answer_shape(answer: str) -> str:
    """'label' (one to three words), 'json{key,...}' (a JSON object) or 'text'."""
    stripped = answer.strip()
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return "json{" + ",".join(sorted(value)) + "}"
    return "label" if _LABEL_SHAPE.fullmatch(stripped) else "text"


def check_data(
    examples: Sequence[Example], references: Sequence[Reference], threshold: float = NEAR_THRESHOLD
) -> DataReport:
    """Run the pre-training checklist on ``examples`` against the eval ``references``."""
    # Similarity runs once per distinct message; exact repeats are counted apart.
    indexes_of: dict[str, list[int]] = defaultdict(list)
    answers_of: dict[str, set[str]] = defaultdict(set)
    for index, example in enumerate(examples):
        norm = normalize_text(example.user_text)
        indexes_of[norm].append(index)
        answers_of[norm].add(example.answer.strip())
    unique = list(indexes_of)
    unique_sets = [shingles(text) for text in unique]
    near_pairs = similar_pairs(unique_sets, None, threshold)
    near_examples = {j for _, j, _ in near_pairs}
    duplicate_pairs = tuple(
        (examples[indexes_of[unique[i]][0]].source, examples[indexes_of[unique[j]][0]].source, round(similarity, 3))
        for i, j, similarity in near_pairs
    )
    reference_sets = [shingles(r.text) for r in references]
    leaks = tuple(
        Leak(examples[index].source, references[j].where, round(similarity, 3), examples[index].user_text)
        for i, j, similarity in similar_pairs(unique_sets, reference_sets, threshold)
        for index in indexes_of[unique[i]]
    )
    shapes = Counter(answer_shape(e.answer) for e in examples)
    shape, shape_count = shapes.most_common(1)[0] if shapes else ("none", 0)
    cue_lists = [edge_cues(e.user_text) for e in examples]
    eval_edge = [bool(edge_cues(r.text)) for r in references]
    return DataReport(
        examples=len(examples),
        references=len(references),
        threshold=threshold,
        exact_duplicates=len(examples) - len(unique),
        near_duplicates=len(near_examples),
        conflicting_answers=sum(len(a) > 1 for a in answers_of.values()),
        duplicate_pairs=duplicate_pairs,
        leaks=tuple(sorted(leaks, key=lambda leak: (leak.example, leak.reference))),
        labels=dict(
            Counter(e.answer.strip().lower() for e in examples if answer_shape(e.answer) == "label").most_common()
        ),
        edge_like=sum(bool(c) for c in cue_lists),
        edge_cues=dict(Counter(c for cues in cue_lists for c in cues).most_common()),
        reference_edge_share=sum(eval_edge) / len(eval_edge) if eval_edge else None,
        format_shape=shape,
        format_share=shape_count / len(examples) if examples else 0.0,
    )


def render_report(report: DataReport, limit: int = 10) -> str:
    """The checklist as a short text report; at most ``limit`` duplicate pairs are listed."""

    def pct(value: float) -> str:
        return f"{100 * value:.1f}%"

    def verdict(ok: bool) -> str:
        return "ok" if ok else "ATTENTION"

    dup_rate = report.exact_duplicate_rate + report.near_duplicate_rate
    lines = [
        f"examples: {report.examples}; eval inputs: {report.references}; "
        f"near = character {SHINGLE_SIZE}-gram Jaccard >= {report.threshold}"
    ]
    lines.append(
        f"duplicates:    exact {pct(report.exact_duplicate_rate)} ({report.exact_duplicates}), "
        f"near {pct(report.near_duplicate_rate)} ({report.near_duplicates}); target < {pct(DUPLICATE_TARGET)}"
        f"  {verdict(dup_rate < DUPLICATE_TARGET)}"
    )
    lines += [f"  {a} ~ {b} ({s:.2f})" for a, b, s in report.duplicate_pairs[:limit]]
    if len(report.duplicate_pairs) > limit:
        lines.append(f"  ... {len(report.duplicate_pairs) - limit} more pair(s)")
    if report.conflicting_answers:
        lines.append(f"  {report.conflicting_answers} repeated message(s) with different answers")
    lines.append(
        f"leakage:       {len(report.leaks)} example(s) equal or nearly equal to an eval input"
        f"  {verdict(report.passed)}"
    )
    lines += [
        f"  {leak.example} ~ {leak.reference} ({leak.similarity:.2f}): {leak.text[:70]!r}" for leak in report.leaks
    ]
    share = report.largest_label_share
    if share is None:
        lines.append("label balance: n/a (the answers are not labels)")
    else:
        top = next(iter(report.labels))
        lines.append(
            f"label balance: {len(report.labels)} label(s); largest {top!r} {pct(share)} "
            f"({report.labels[top]}); even would be {pct(1 / len(report.labels))}"
        )
    cues = ", ".join(f"{name} {count}" for name, count in report.edge_cues.items()) or "none"
    eval_share = "" if report.reference_edge_share is None else f"; eval inputs {pct(report.reference_edge_share)}"
    lines.append(f"edge-like:     {pct(report.edge_share)} ({report.edge_like}: {cues}){eval_share}")
    lines.append(f"format:        {pct(report.format_share)} of answers are {report.format_shape}")
    lines.append(
        "result: "
        + ("no leakage" if report.passed else f"LEAKAGE: {len(report.leaks)} example(s) must leave the training data")
    )
    return "\n".join(lines)
