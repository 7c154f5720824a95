"""Storage for reusing answers: a request key, a local response cache (SQLite) and committable recordings.

A request's key is a SHA-256 over everything that changes the answer (provider, model identity, LoRA,
messages, sampling params and, for a sampled request, the repeat index) and nothing secret. The cache
and the file-hash memo share one SQLite database in WAL mode, safe for threads and xdist workers. A
recording is a sorted JSON Lines file for replaying a suite in CI without an API key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..backends.base import Completion, redact

if TYPE_CHECKING:
    from ..backends.spec import BackendSpec

CACHE_MODES = ("off", "read", "write", "readwrite")
KEY_VERSION = 1  # bump when the key material changes shape, so old entries stop matching
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
HASH_CHUNK_BYTES = 1 << 20
PREVIEW_CHARS = 80
DEFAULT_OPENAI_ENDPOINT = "api.openai.com/v1"
# Option names whose values may be credentials; a custom backend's identity leaves them out.
SECRET_WORDS = ("key", "token", "secret", "password", "auth")
_COMPLETION_FIELDS = tuple(f.name for f in dataclasses.fields(Completion))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, completion TEXT NOT NULL, meta TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
"""


class _Database:
    """One SQLite connection shared by this process's threads under a lock; errors become ValueError."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        with self._errors_named():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: every statement is its own transaction, so a killed writer loses one row at most.
            self._conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        try:
            with self._errors_named():
                self._prepare_when_free()
        except ValueError:
            self._conn.close()
            raise

    def _prepare_when_free(self) -> None:
        # Switching a new file to WAL can report "locked" without waiting on the busy timeout while
        # another process (an xdist worker) does the same, so the first open retries on its own.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                return self._prepare()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _prepare(self) -> None:
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ValueError(
                f"response cache {self.path} was written by another llmgate version (schema {version}); "
                "delete the file and run again (it only holds cached answers)"
            )
        self._conn.executescript(_SCHEMA)
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement and return its rows."""
        with self._lock, self._errors_named():
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _errors_named(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, disk full, unwritable
            raise ValueError(f"response cache {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:  # not a database, or its pages are corrupt
            raise ValueError(
                f"response cache {self.path} is not a readable SQLite database ({exc}); "
                "delete the file and run again (it only holds cached answers)"
            ) from None
        except OSError as exc:
            raise ValueError(f"response cache {self.path}: cannot create its folder: {exc}") from None


class FileHashes:
    """SHA-256 of files, remembered by (absolute path, size, mtime_ns) so a large GGUF is read once per machine.

    ``path`` is the SQLite database to remember hashes in (the response cache's); None keeps them in memory.
    """

    def __init__(self, path: Path | None):
        self._db = _Database(path) if path is not None else None
        self._known: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()  # two threads asking for one big file hash it once

    def sha256(self, file: Path) -> str:
        """The hex SHA-256 of ``file``'s content; read only when its size or mtime changed since last time."""
        absolute = str(Path(file).resolve())
        stat = os.stat(absolute)
        identity = (absolute, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if identity not in self._known:
                self._known[identity] = self._remembered(identity) or self._hash_and_remember(identity)
            return self._known[identity]

    def close(self) -> None:
        """Close the database, if any."""
        if self._db is not None:
            self._db.close()

    def _remembered(self, identity: tuple[str, int, int]) -> str | None:
        if self._db is None:
            return None
        rows = self._db.query("SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?", identity)
        return rows[0][0] if rows else None

    def _hash_and_remember(self, identity: tuple[str, int, int]) -> str:
        digest = hashlib.sha256()
        with open(identity[0], "rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        if self._db is not None:
            self._db.query(
                "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                (*identity, digest.hexdigest()),
            )
        return digest.hexdigest()


def identity_of(spec: BackendSpec, hashes: FileHashes) -> dict[str, Any]:
    """What identifies a backend's model for ``request_key``: a GGUF's content hash, an API model's name and endpoint.

    Never an API key, header or environment value. Raises SpecError when a GGUF file is missing.
    """
    identity: dict[str, Any] = {"provider": spec.provider}
    if spec.provider == "llama_cpp":
        # Imported here: only GGUF backends need it, and it must not load for API-only suites.
        from ..backends.llama_cpp import resolve_model_path

        identity["model_sha256"] = hashes.sha256(resolve_model_path(spec))
        if spec.lora:
            identity["lora_sha256"] = hashes.sha256(resolve_model_path(spec, spec.lora))
            identity["lora_scale"] = spec.lora_scale
    elif spec.provider == "openai":
        identity["model"] = spec.model
        # A pool of identical servers is one endpoint: the same answers whichever serves them.
        identity["endpoint"] = ", ".join(sorted(identity_endpoint(url) for url in spec.base_urls)) or identity_endpoint(
            None
        )
    else:  # the fake and plugin-made backends: their options shape the answer
        identity["model"] = spec.model
        identity["options"] = {
            name: value
            for name, value in spec.options.items()
            if not any(word in name.lower() for word in SECRET_WORDS)
        }
    return identity


def identity_endpoint(base_url: str | None) -> str:
    """'host[:port]/path' of an API endpoint, without credentials, query or trailing slash."""
    if not base_url:
        return DEFAULT_OPENAI_ENDPOINT
    parts = urlsplit(base_url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return host + parts.path.rstrip("/")


def request_key(
    spec_identity: Mapping[str, Any],
    messages: Sequence[Mapping[str, str]],
    params: Mapping[str, Any],
    sample: int | None,
) -> str:
    """The hex SHA-256 naming one request; ``sample`` counts unless temperature is 0 (greedy: one answer
    serves every draw). An unset temperature counts as sampled: the APIs' defaults (1.0 for OpenAI,
    0.2 for llama-cpp-python) are."""
    canonical_params = {name: _canonical_number(value) for name, value in params.items() if value is not None}
    sampled = canonical_params.get("temperature", 1) != 0
    material = {
        "v": KEY_VERSION,
        "backend": dict(spec_identity),
        "messages": [dict(message) for message in messages],
        "params": canonical_params,
        "sample": (sample or 0) if sampled else None,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical_number(value: Any) -> Any:
    """1.0 and 1 name the same setting; a float spelled as a whole number becomes an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_canonical_number(item) for item in value]
    return value


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
        self._db = _Database(path) if mode != "off" else None

    def get(self, key: str) -> Completion | None:
        """The stored answer for ``key``; None on a miss or when this mode serves no hits."""
        if not self.reads or self._db is None:
            return None
        rows = self._db.query("SELECT completion FROM responses WHERE key = ?", (key,))
        return completion_from(json.loads(rows[0][0])) if rows else None

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
        return Completion(**{name: fields[name] for name in _COMPLETION_FIELDS if name in fields})
    except TypeError as exc:
        raise ValueError(f"stored answer is incomplete: {exc}") from None


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
        self, key: str, completion: Completion, *, backend: str, case: str, prompt: str, sample: int | None = None
    ) -> None:
        """Record one answer; ``prompt`` is the text to preview (the case's last user message)."""
        entry: dict[str, Any] = {"backend": backend, "case": case}
        if sample is not None:
            entry["sample"] = sample
        entry |= {"prompt": _preview(prompt), **dataclasses.asdict(completion), "key": key}
        with self._lock:
            self._entries[key] = self._scrubbed(entry)

    def save(self) -> Path:
        """Write the file sorted by backend, case and sample, through a temp file and os.replace."""
        with self._lock:
            entries = sorted(
                self._entries.values(), key=lambda e: (e["backend"], e["case"], e.get("sample", 0), e["key"])
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
