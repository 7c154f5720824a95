"""Where a case's answer comes from: a recording (replay), the response cache, or the backend itself
behind its circuit breaker, fetched ahead of time and concurrently by the scheduler."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from ..backends.base import Backend, BackendError, Completion, Message
from ..backends.breaker import CircuitBreaker
from ..backends.registry import DEFAULT_PROVIDERS, ProviderRegistry
from ..backends.spec import BackendSpec
from .cache import ResponseCache
from .keys import identity_of as cache_identity
from .keys import request_key
from .recording import Recording
from .scheduler import Bound, CallScheduler, ConcurrencyLimit
from .store import FileHashes

CACHE_FILE = "responses.sqlite"
PREFETCH_BATCH = 500  # requests whose stored answers one query looks up
DEFAULT_CONCURRENCY = 8  # the ceiling of calls at once per API backend when neither the option nor the config says


@dataclass(frozen=True)
class AnswerOptions:
    """Where answers may come from in this run: the bound on calls, the response cache, a recording."""

    concurrency: int | None = None  # --llm-concurrency: the ceiling of calls at once per backend
    cache_mode: str = "readwrite"
    cache_dir: Path | None = None  # None: no response cache (mode off)
    refresh: bool = False  # --llm-refresh: ignore cached answers (still write new ones)
    record: Path | None = None  # --llm-record: write every answer of the run to this recording
    replay: Path | None = None  # --llm-replay: answer only from this recording


@dataclass(frozen=True)
class Request:
    """One backend call a case needs: the backend, the whole chat and which draw of the case it is."""

    spec: BackendSpec
    messages: tuple[Message, ...]
    sample: int
    label: str  # 'file::case-id [backend]', for messages
    # tools, tool_choice, response_format the case sends (base.REQUEST_OPTIONS): part of the key, passed as keywords
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A completion and the key the cache and recordings know its request by (None when nothing is keyed)."""

    completion: Completion
    key: str | None


class Answers:
    """Answers requests: replayed, cached or called, one backend's calls at most ``concurrency_for`` at once."""

    def __init__(
        self,
        settings: AnswerOptions,
        backend_for: Callable[[BackendSpec], Backend],
        providers: ProviderRegistry = DEFAULT_PROVIDERS,
    ):
        self.settings = settings
        self._backend_for = backend_for
        self._providers = providers  # each provider's facts: its own bound, its pool, its cache identity
        self._scheduler = CallScheduler()
        self._breakers: dict[tuple[Any, str], CircuitBreaker] = {}
        self._identities: dict[tuple[Any, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._opened = False
        self._failure: str | None = None  # why the cache or recording could not be opened
        self._cache: ResponseCache | None = None
        self._replay: Recording | None = None
        self._hashes: FileHashes | None = None

    def concurrency_for(self, spec: BackendSpec) -> int:
        """Calls at once for ``spec``: the smallest of the option, the config and its provider's own bound
        (one for an in-process model)."""
        own = self._providers.max_calls(spec)
        bounds = [bound for bound in (self.settings.concurrency, spec.concurrency, own) if bound]
        return min(bounds) if bounds else DEFAULT_CONCURRENCY

    def prefetch(self, requests: Iterable[tuple[str, Request]]) -> None:
        """Start fetching the answers of ``requests`` (node id, request) in the background, in order. What the
        recording or the cache holds is looked up here, a batch in one query: a fully cached rerun hands no call
        to a thread."""
        batch: list[tuple[str, Request]] = []
        for item in requests:
            batch.append(item)
            if len(batch) == PREFETCH_BATCH:
                self._prefetch_batch(batch)
                batch = []
        self._prefetch_batch(batch)

    def _prefetch_batch(self, batch: list[tuple[str, Request]]) -> None:
        stored: dict[str, Completion] = {}
        keys: list[str | None] = [None] * len(batch)
        if batch and (self.settings.cache_dir is not None or self.settings.replay is not None):
            try:
                self._open()
            except BackendError:
                pass  # every call raises it again, each as its case's error
            else:
                keys = [self._key(request) for _, request in batch]
                if self._replay is None and self._cache is not None:
                    stored = self._cache.get_many([key for key in keys if key is not None])
        for (nodeid, request), key in zip(batch, keys):
            if key is None:
                hit = None
            elif self._replay is not None:
                hit = self._replay.lookup(key)  # a request the recording lacks errors when its case asks for it
            else:
                hit = stored.get(key)
            if hit is not None:
                self._scheduler.resolve(nodeid, Answer(replace(hit, cached=True), key))
            else:  # the key made here is not made again
                self._scheduler.submit(nodeid, *self._pool_of(request.spec), partial(self._fetch, request, key))

    def answer(self, nodeid: str, request: Request) -> Answer:
        """The answer for ``nodeid``: the one prefetched, else fetched now, within the backend's bound."""
        return self._scheduler.result(nodeid, *self._pool_of(request.spec), partial(self._fetch, request))

    def concurrency_notes(self) -> list[str]:
        """One line per backend whose concurrency was lowered by signs of overload, for the report's notes."""
        return self._scheduler.notes()

    def _pool_of(self, spec: BackendSpec) -> tuple[Hashable, int]:
        """The scheduler pool of ``spec``'s calls and its ceiling; in-process models all share one pool of one,
        as two answering at once on the same cores each take twice as long."""
        ceiling = self.concurrency_for(spec)
        return self._providers.connection_key(spec), ceiling

    def _limit_of(self, spec: BackendSpec) -> ConcurrencyLimit:
        """The limit every call of ``spec`` goes through, prefetched or not."""
        pool, ceiling = self._pool_of(spec)
        return self._scheduler.limit(pool, spec.name, Bound(ceiling, fixed=spec.concurrency_fixed))

    def stop(self) -> None:
        """Start no more calls (after -x, --maxfail or an interrupt)."""
        self._scheduler.stop()

    def close(self) -> None:
        """Stop, wait for calls in flight, and close the cache."""
        self._scheduler.close()
        for store in (self._cache, self._hashes):
            if store is not None:
                store.close()

    def _fetch(self, request: Request, key: str | None = None) -> Answer:
        """The answer to ``request`` (whose cache key is ``key`` when known: None makes it here)."""
        self._open()
        key = key or self._key(request)
        if self._replay is not None:
            assert key is not None
            found = self._replay.lookup(key)
            if found is None:
                raise BackendError(
                    f"{request.label}: no answer in the recording {self.settings.replay}; "
                    f"record the suite again with --llm-record={self.settings.replay}"
                )
            return Answer(replace(found, cached=True), key)
        if self._cache is not None and key is not None and (hit := self._cache.get(key)) is not None:
            return Answer(replace(hit, cached=True), key)
        backend, breaker = self._backend(request.spec)
        completion = self._limit_of(request.spec).run(
            lambda: breaker.call(lambda: backend.complete(list(request.messages), **request.options))
        )
        if self._cache is not None and key is not None:
            self._cache.put(key, completion, {"backend": request.spec.name, "case": request.label})
        return Answer(completion, key)

    def _open(self) -> None:
        """Open the cache or the recording on the first request, not at start-up: a run without cases touches neither."""
        with self._lock:
            if not self._opened:
                self._opened = True
                settings = self.settings
                try:
                    if settings.replay is not None:
                        self._replay = Recording.load(settings.replay)
                    if settings.cache_dir is not None:
                        self._cache = ResponseCache(
                            settings.cache_dir / CACHE_FILE, settings.cache_mode, refresh=settings.refresh
                        )
                        self._hashes = FileHashes(settings.cache_dir / CACHE_FILE)
                except ValueError as exc:
                    self._failure = str(exc)
        if self._failure is not None:  # every case errors with it: none is answered around a broken store
            raise BackendError(self._failure)

    def _keyed(self) -> bool:
        return self._cache is not None or self._replay is not None or self.settings.record is not None

    def _key(self, request: Request) -> str | None:
        """The request's cache key, or None when neither a cache nor a recording is in use."""
        if not self._keyed():
            return None
        spec = request.spec
        with self._lock:  # a GGUF file is hashed once, not by every thread at once
            identity = self._identities.get((spec.config_path, spec.name))
            if identity is None:
                identity = self._identities[(spec.config_path, spec.name)] = cache_identity(
                    spec, self._hashes or FileHashes(None), self._providers
                )
        return request_key(identity, request.messages, {**spec.params, **request.options}, request.sample)

    def _backend(self, spec: BackendSpec) -> tuple[Backend, CircuitBreaker]:
        """The backend of ``spec`` (created once, whichever thread asks first) and its circuit breaker."""
        key = (spec.config_path, spec.name)
        with self._lock:
            backend = self._backend_for(spec)
            if key not in self._breakers:  # not setdefault: that would build a breaker on every call
                self._breakers[key] = CircuitBreaker(spec.name)
        return backend, self._breakers[key]
