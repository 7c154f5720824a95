"""Per-process run state: suite configs found so far and the backends created, reused by every case."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .analysis import BackendTerms, Economics
from .backends import preflight
from .backends.base import Backend, BackendError, Completion, Message
from .config import BackendSpec, SuiteConfig, find_config, load_config
from .errors import SpecError
from .results import CaseRow
from .settings import RunSettings


class Runner:
    """Finds the config that governs a case file and calls backends, each created once."""

    def __init__(self, settings: RunSettings, make_backend: Callable[[BackendSpec], Backend | None]):
        self.settings = settings
        self._make_backend = make_backend
        self._configs: dict[Path, SuiteConfig] = {}
        self._backends: dict[tuple[Path, str], Backend | Exception] = {}

    def suite_for(self, case_file: Path) -> SuiteConfig:
        """The config of ``case_file``: ``--llm-config`` or the nearest llmgate.yaml above it."""
        path = self.settings.config_path or find_config(case_file)
        if path is None:
            raise SpecError(case_file, None, "no llmgate.yaml found in this folder or any folder above it; create one (see docs/config.md) or pass --llm-config")
        if path not in self._configs:
            self._configs[path] = load_config(path)
        return self._configs[path]

    def backend(self, spec: BackendSpec) -> Backend:
        """The backend for ``spec``, created on first use; a failure to start is raised again for every case."""
        key = (spec.config_path, spec.name)
        if key not in self._backends:
            try:
                preflight(spec)
                backend = self._make_backend(spec)
                if backend is None:
                    raise SpecError(spec.config_path, spec.line, f"backend {spec.name!r}: no plugin provides provider {spec.provider!r}; built-in providers: openai, llama_cpp, fake")
                self._backends[key] = backend
            except (SpecError, BackendError) as exc:
                self._backends[key] = exc
        found = self._backends[key]
        if isinstance(found, Exception):
            raise found
        return found

    def complete(self, spec: BackendSpec, messages: Sequence[Message]) -> Completion:
        """Ask ``spec``'s backend to answer ``messages``."""
        return self.backend(spec).complete(messages)

    def economics(self, rows: Iterable[CaseRow]) -> Economics:
        """The approach and pricing of each backend in ``rows``, from the config of its case files;
        volume, horizon and decision policy from the config of the first case file (by path),
        with ``--llm-volume`` winning over its ``volume:``."""
        terms: dict[str, BackendTerms] = {}
        first: SuiteConfig | None = None
        for row in sorted(rows, key=lambda r: r.file):
            suite = self.suite_for(self.settings.rootdir / row.file)
            first = first or suite
            if row.backend not in terms:
                spec = suite.backend(row.backend)
                terms[row.backend] = BackendTerms(spec.approach, spec.pricing)
        if first is None:
            return Economics(volume_per_day=self.settings.volume_per_day)
        volume = first.volume_per_day if self.settings.volume_per_day is None else self.settings.volume_per_day
        return Economics(terms, volume, first.horizon_months, first.decision)

    def close(self) -> None:
        """Close every backend created."""
        for backend in self._backends.values():
            if not isinstance(backend, Exception):
                backend.close()
        self._backends.clear()
