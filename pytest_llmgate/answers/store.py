"""The SQLite database the response cache and the file-hash memo share: WAL mode, safe for threads,
xdist workers and killed writers; a GGUF file is hashed once per content, remembered by path, size and mtime."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


SCHEMA_VERSION = 1


BUSY_TIMEOUT_MS = 5000


HASH_CHUNK_BYTES = 1 << 20


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, completion TEXT NOT NULL, meta TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
"""


class Database:
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
        self._db = Database(path) if path is not None else None
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
