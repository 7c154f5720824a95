"""The response cache: answers by request key (keys.py) in the SQLite database (store.py), so a rerun
costs no model time. Recordings, the committable kind of stored answers, are in recording.py."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.base import Completion, ToolCall
from .store import Database

if TYPE_CHECKING:
    pass

CACHE_MODES = ("off", "read", "write", "readwrite")
_COMPLETION_FIELDS = tuple(f.name for f in dataclasses.fields(Completion))


class ResponseCache:
    """Answers stored by request key in a SQLite file; ``mode`` is one of CACHE_MODES.

    "read" serves hits and writes nothing, "write" stores answers and serves none, "readwrite" both,
    "off" touches no file. ``refresh`` ignores hits but still writes. A hit keeps the latency, TTFT
    and token counts measured when the answer was produced.
    """

    def __init__(self, path: Path, mode: str, *, refresh: bool = False):
        if mode not in CACHE_MODES:
            raise ValueError(f"unknown cache mode {mode!r}; use one of: {', '.join(CACHE_MODES)}")
        self.path = path
        self.mode = mode
        self.reads = mode in ("read", "readwrite") and not refresh
        self.writes = mode in ("write", "readwrite")
        self._db = Database(path) if mode != "off" else None

    def get(self, key: str) -> Completion | None:
        """The stored answer for ``key``; None on a miss or when this mode serves no hits."""
        if not self.reads or self._db is None:
            return None
        rows = self._db.query("SELECT completion FROM responses WHERE key = ?", (key,))
        return completion_from(json.loads(rows[0][0])) if rows else None

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        """The stored answers of ``keys`` that have one, in one query (at most 500 keys: SQLite's bound on
        parameters is 999 in older builds)."""
        if not self.reads or self._db is None or not keys:
            return {}
        marks = ", ".join("?" * len(keys))
        rows = self._db.query(f"SELECT key, completion FROM responses WHERE key IN ({marks})", keys)
        return {key: completion_from(json.loads(completion)) for key, completion in rows}

    def put(self, key: str, completion: Completion, meta: Mapping[str, str]) -> None:
        """Store ``completion`` under ``key`` (replacing an older answer); ``meta`` is for people reading the file."""
        if not self.writes or self._db is None:
            return
        self._db.query(
            "INSERT OR REPLACE INTO responses (key, completion, meta, created) VALUES (?, ?, ?, ?)",
            (key, json.dumps(dataclasses.asdict(completion)), json.dumps(dict(meta)), time.time()),
        )

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()


def completion_from(fields: Mapping[str, Any]) -> Completion:
    """A Completion from its stored fields; ValueError naming what is missing or wrong."""
    try:
        stored = {name: fields[name] for name in _COMPLETION_FIELDS if name in fields}
        if "tool_calls" in stored:  # stored as mappings by dataclasses.asdict
            stored["tool_calls"] = tuple(ToolCall(**call) for call in stored["tool_calls"])
        return Completion(**stored)
    except TypeError as exc:
        raise ValueError(f"stored answer is incomplete: {exc}") from None
