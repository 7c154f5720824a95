"""The ``similar:`` check: the answer means what a reference says, by the cosine similarity of their embeddings.

The embedder comes in the CheckContext (``context.embed``), injected by the session from the run's embedder, so
this module computes nothing but the similarity; with no embedder the check cannot judge, which is an error of
the case (CheckError), never a pass or a miss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .text import clip

if TYPE_CHECKING:
    from .registry import CheckContext

SIMILAR_KEYS = ("to", "min")
EXPECTED = "a mapping {to: a reference text or a list of them, min: the least similarity to pass, from -1 to 1}"


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of the angle between ``a`` and ``b``: 1 for the same direction, 0 when either is all zeros."""
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b)) / norms if norms else 0.0


def references(argument: dict[str, Any]) -> list[str]:
    """The reference texts of a ``similar:`` argument, a single ``to:`` read as a list of one."""
    to = argument["to"]
    return [to] if isinstance(to, str) else list(to)


def check_similar(output: str, argument: dict[str, Any], context: CheckContext) -> tuple[bool, str, None]:
    """Pass when the answer's similarity to the closest reference reaches ``min``; the detail names the score
    and that reference."""
    if context.embed is None:
        from .registry import CheckError

        raise CheckError("'similar' needs an embedder, and this run has none (set 'embedder:' in llmgate.yaml)")
    texts = references(argument)
    vectors = context.embed([output, *texts])
    scores = [cosine(vectors[0], vector) for vector in vectors[1:]]
    best = max(range(len(scores)), key=scores.__getitem__)
    least = argument["min"]
    closest = f"the closest of {len(texts)} references, " if len(texts) > 1 else ""
    detail = f"similarity {scores[best]:.3f} (min {least:g}) to {closest}{clip(repr(texts[best]))}"
    return scores[best] >= least, detail, None


def similar_argument(value: Any) -> str | None:
    """What a ``similar:`` argument must be, or None when it is right."""
    if not isinstance(value, dict) or set(value) != set(SIMILAR_KEYS):
        return EXPECTED
    to, least = value["to"], value["min"]
    texts = [to] if isinstance(to, str) else to
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        return f"{EXPECTED}; 'to' must be a non-empty text or a non-empty list of them"
    if isinstance(least, bool) or not isinstance(least, (int, float)) or not -1 <= least <= 1:
        return f"{EXPECTED}; 'min' must be a number from -1 to 1, got {clip(repr(least))}"
    return None
