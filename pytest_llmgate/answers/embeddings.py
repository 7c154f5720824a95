"""Embeddings for ``similar:`` checks: the embedder each suite config names, behind a cache.

A check gets ``Embeddings.embedder_for(suite)`` as its CheckContext's ``embed``, so checks stay pure. Each text is
embedded once per embedder identity (provider, model, package version): remembered for the run, and in the
response cache's SQLite file (its own table), so a second run computes no embedding.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ..backends.base import BackendError
from ..backends.embedders import DEFAULT_EMBEDDER, Embedder, backend_embedder, local_embedder, missing_package
from ..backends.registry import DEFAULT_PROVIDERS, ProviderRegistry
from ..checks.registry import CheckError
from ..errors import SpecError
from ..suite.config import SuiteConfig
from .source import CACHE_FILE, AnswerOptions
from .store import Database

EMBEDDING_KEY_VERSION = 1  # bump when the key material changes shape, so old vectors stop matching
_TABLE = "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL, created REAL NOT NULL)"
Embed = Callable[[Sequence[str]], list[list[float]]]


def embedding_key(identity: Mapping[str, Any], text: str) -> str:
    """The hex SHA-256 naming the vector of ``text`` by the embedder of ``identity``."""
    material = {"v": EMBEDDING_KEY_VERSION, "embedder": dict(identity), "text": text}
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def make_embedder(suite: SuiteConfig, providers: ProviderRegistry = DEFAULT_PROVIDERS) -> Embedder:
    """The embedder ``suite`` names (``embedder:``, the in-process default when unset), not loaded yet;
    SpecError naming the config line when it cannot be had (a package or a key missing)."""
    name = suite.embedder or DEFAULT_EMBEDDER
    if name in suite.backends:
        spec = suite.backends[name]
        providers.preflight(spec)
        return backend_embedder(spec)
    problem = missing_package(name)
    if problem is not None:
        fix = "" if suite.embedder else ", or set 'embedder:' to a backend serving /embeddings (docs/config.md)"
        raise SpecError(suite.path, suite.embedder_line, f"'similar' checks: {problem}{fix}")
    return local_embedder(name)


class Embeddings:
    """The run's embedders, one per suite config, made on a ``similar:`` check's first call; their vectors cached.
    ``computed`` counts the texts an embedder was asked to embed (not served by a cache)."""

    def __init__(
        self,
        settings: AnswerOptions,
        providers: ProviderRegistry = DEFAULT_PROVIDERS,
        make: Callable[[SuiteConfig], Embedder] | None = None,
    ):
        self.settings = settings
        self._make = make or partial(make_embedder, providers=providers)
        self._embedders: dict[Path, tuple[Embedder, dict[str, Any]] | SpecError] = {}
        self._known: dict[str, list[float]] = {}  # by key, for this run
        self._lock = threading.Lock()
        self._db: Database | None = None
        self._opened = False
        self.computed = 0

    def embedder_for(self, suite: SuiteConfig) -> Embed:
        """What a CheckContext's ``embed`` is for the cases ``suite`` governs."""
        return partial(self.embed, suite)

    def embed(self, suite: SuiteConfig, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text by ``suite``'s embedder, cached ones reused; CheckError when it cannot embed."""
        with self._lock:
            embedder, identity = self._embedder(suite)
            keys = [embedding_key(identity, text) for text in texts]
            wanted = [key for key in dict.fromkeys(keys) if key not in self._known]
            self._known.update(self._stored(wanted))
            missing = {key: text for key, text in zip(keys, texts) if key not in self._known}
            if missing:
                try:
                    vectors = embedder.embed(list(missing.values()))
                except BackendError as exc:
                    raise CheckError(str(exc)) from None
                self.computed += len(missing)
                fresh = dict(zip(missing, vectors))
                self._known.update(fresh)
                self._store(fresh)
            return [self._known[key] for key in keys]

    def close(self) -> None:
        """Close every embedder made and the cache."""
        for made in self._embedders.values():
            if not isinstance(made, SpecError):
                made[0].close()
        self._embedders.clear()
        if self._db is not None:
            self._db.close()

    def _embedder(self, suite: SuiteConfig) -> tuple[Embedder, dict[str, Any]]:
        """``suite``'s embedder and its identity, made once; a failure to make it is kept and raised for every case."""
        if suite.path not in self._embedders:
            try:
                embedder = self._make(suite)
                self._embedders[suite.path] = (embedder, embedder.identity())
            except SpecError as exc:
                self._embedders[suite.path] = exc
        made = self._embedders[suite.path]
        if isinstance(made, SpecError):
            raise CheckError(str(made))
        return made

    @property
    def _reads(self) -> bool:
        return self.settings.cache_mode in ("read", "readwrite") and not self.settings.refresh

    @property
    def _writes(self) -> bool:
        return self.settings.cache_mode in ("write", "readwrite")

    def _database(self) -> Database | None:
        """The response cache's database with the embeddings table, opened on first use; None when off."""
        if not self._opened:
            self._opened = True
            if self.settings.cache_dir is not None and self.settings.cache_mode != "off":
                try:
                    self._db = Database(self.settings.cache_dir / CACHE_FILE)
                    self._db.query(_TABLE)
                except ValueError as exc:
                    raise CheckError(str(exc)) from None
        return self._db

    def _stored(self, keys: Sequence[str]) -> dict[str, list[float]]:
        db = self._database() if keys and self._reads else None
        if db is None:
            return {}
        marks = ", ".join("?" * len(keys))
        try:
            rows = db.query(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", list(keys))
        except ValueError as exc:  # locked past the busy timeout, or corrupt: the case errors, never misses
            raise CheckError(str(exc)) from None
        return {key: array("d", blob).tolist() for key, blob in rows}

    def _store(self, vectors: Mapping[str, list[float]]) -> None:
        db = self._database() if self._writes else None
        if db is None:
            return
        now = time.time()
        try:
            for key, vector in vectors.items():
                db.query(
                    "INSERT OR REPLACE INTO embeddings (key, vector, created) VALUES (?, ?, ?)",
                    (key, array("d", vector).tobytes(), now),
                )
        except ValueError as exc:
            raise CheckError(str(exc)) from None
