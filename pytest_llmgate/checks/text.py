"""Reading a model's answer: label normalisation, JSON parsing that tolerates prose, and one clip()
for every text shown shortened."""

from __future__ import annotations

import json
import re
import string
from typing import Any

DETAIL_VALUE_CHARS = 200  # a value quoted in a detail is cut here, so a huge answer cannot flood a report

_PUNCTUATION = string.punctuation.replace("_", "") + "“”‘’«»"


def normalize_label(text: str) -> str:
    """Lowercase, trim quotes and punctuation, join words with underscores: ' Feature request.' -> 'feature_request'."""
    words = text.strip().lower().strip(_PUNCTUATION + string.whitespace).replace("-", " ").split()
    return "_".join(words)


def clip(text: str, limit: int = DETAIL_VALUE_CHARS) -> str:
    """``text``, or its first ``limit`` characters with a marker giving the full length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [truncated: {len(text):,} characters in all]"


def parse_json_loosely(text: str) -> Any:
    """Parse JSON from a model answer, tolerating code fences and prose around one object or array."""
    stripped = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return _decode_json(stripped)
    except ValueError:
        pass
    start = min((i for i in (stripped.find("{"), stripped.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON object in the output")
    return _decode_json(stripped[start:], prefix_only=True)


def _decode_json(text: str, prefix_only: bool = False) -> Any:
    """json.loads (or the JSON value at the start of ``text``); nesting too deep is a ValueError."""
    try:
        return json.JSONDecoder().raw_decode(text)[0] if prefix_only else json.loads(text)
    except RecursionError:
        # The json module recurses once per level: a hostile answer like '[' * 100000 must
        # fail the check, not the run.
        raise ValueError("JSON nested too deeply") from None


def parse_strict_json(output: str) -> tuple[Any, str | None]:
    try:
        return _decode_json(output), None
    except ValueError as exc:
        return None, clip(f"not valid JSON: {exc}")
