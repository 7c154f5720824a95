"""check-data: the pre-training checklist of a training set: duplicates, leakage of eval cases,
label balance, the share of edge-like examples and the consistency of the answers' format."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .examples import Example, Reference, normalize_text

_SHORT_WORDS, _LONG_WORDS = 3, 80


NEAR_THRESHOLD = 0.8


SHINGLE_SIZE = 5


DUPLICATE_TARGET = 0.05


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


_FOREIGN_MIN_WORDS = 6  # terse English ('API down since 9, urgent') has no function words either


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
