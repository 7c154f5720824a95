"""Recordings: sorted JSON Lines files of answers, keyed by request, for replaying a suite in CI without
an API key; scrubbed of API keys when written."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..backends.base import Completion, redact
from .cache import completion_from

PREVIEW_CHARS = 80


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


class Recording:
    """Recorded answers by request key, loaded from a JSON Lines file to replay a suite without calling a backend."""

    def __init__(self, path: Path, answers: Mapping[str, Completion]):
        self.path = path
        self._answers = dict(answers)

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read a recording; ValueError naming the file (and line) when it is missing or malformed."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ValueError(f"recording {path} does not exist; record it first (or check the path)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"recording {path} cannot be read: {exc}") from None
        answers = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                answers[entry["key"]] = completion_from(entry)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a recorded answer ({exc}); re-record the file") from None
        return cls(Path(path), answers)

    @staticmethod
    def writer(path: Path, secrets: Sequence[str] = ()) -> RecordingWriter:
        """A writer that collects answers and saves them to ``path`` at the end, every secret replaced by '***'."""
        return RecordingWriter(Path(path), secrets)

    def lookup(self, key: str) -> Completion | None:
        """The recorded answer for ``key``, or None."""
        return self._answers.get(key)

    def __len__(self) -> int:
        return len(self._answers)


class RecordingWriter:
    """Collects recorded answers (thread-safe) and writes them in one atomic replace by ``save()``."""

    def __init__(self, path: Path, secrets: Sequence[str]):
        self.path = path
        self._secrets = [secret for secret in secrets if secret]
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def add(
        self,
        key: str,
        completion: Completion,
        *,
        backend: str,
        case: str,
        prompt: str,
        sample: int | None = None,
        turn: int | None = None,
        step: int | None = None,
    ) -> None:
        """Record one answer; ``prompt`` is the text to preview (the case's last user message); ``turn`` and
        ``step`` place an answer within a conversation (``turns:``), whose every step is recorded."""
        entry: dict[str, Any] = {"backend": backend, "case": case}
        for name, value in (("sample", sample), ("turn", turn), ("step", step)):
            if value is not None:
                entry[name] = value
        entry |= {"prompt": _preview(prompt), **dataclasses.asdict(completion), "key": key}
        with self._lock:
            self._entries[key] = self._scrubbed(entry)

    def save(self) -> Path:
        """Write the file sorted by backend, case, sample, turn and step, through a temp file and os.replace."""
        with self._lock:
            entries = sorted(
                self._entries.values(),
                key=lambda e: (
                    e["backend"],
                    e["case"],
                    e.get("sample", 0),
                    e.get("turn", 0),
                    e.get("step", 0),
                    e["key"],
                ),
            )
        text = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        # JSON escaping could in principle spell a secret anew; refuse rather than leak it.
        if any(secret in text for secret in self._secrets):
            raise ValueError(f"recording {self.path}: a secret survived scrubbing; nothing was written")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as temp:
                temp.write(text)
                temp.flush()
                os.fsync(temp.fileno())
            os.chmod(temp_name, 0o644)  # mkstemp makes it private; a recording is meant to be shared
            os.replace(temp_name, self.path)
        except BaseException:
            os.unlink(temp_name)
            raise
        return self.path

    def _scrubbed(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self._secrets)
        if isinstance(value, dict):
            return {self._scrubbed(name): self._scrubbed(item) for name, item in value.items()}
        return value
