"""Per-process run state: suite configs found so far, the gate terms of each group, and the
backends created, reused by every case."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..answers.source import Answers
from ..backends import preflight
from ..backends.base import Backend, BackendError
from ..backends.spec import BackendSpec
from ..checks.registry import CheckRegistry
from ..errors import SpecError
from ..suite.cases import load_case_file
from ..suite.config import SuiteConfig, find_config, load_config
from ..verdict.analysis import BackendTerms, Terms
from ..verdict.gate import GateTerms
from ..verdict.rows import CaseRow
from .settings import RunSettings


class RunState:
    """Finds the config that governs a case file and calls backends, each created once."""

    def __init__(self, settings: RunSettings, make_backend: Callable[[BackendSpec], Backend | None]):
        self.settings = settings
        self._make_backend = make_backend
        self.checks = CheckRegistry()  # built-ins plus what plugins register (pytest_llmgate_register_checks)
        self._configs: dict[Path, SuiteConfig] = {}
        self._config_paths: dict[Path, Path | None] = {}  # by case file folder
        self._backends: dict[tuple[Path, str], Backend | Exception] = {}
        self.answers = Answers(settings.answers, self.backend)
        self._perturb_calls_left = settings.perturb_max
        self._gates: dict[
            str, GateTerms
        ] = {}  # by group; filled at collection, or from the files on an xdist controller

    def suite_for(self, case_file: Path) -> SuiteConfig:
        """The config of ``case_file``: ``--llm-config`` or the nearest llmgate.yaml above it."""
        folder = case_file.parent
        if folder not in self._config_paths:  # one walk up per folder, not per case
            self._config_paths[folder] = self.settings.config_path or find_config(case_file)
        path = self._config_paths[folder]
        if path is None:
            raise SpecError(
                case_file,
                None,
                "no llmgate.yaml found in this folder or any folder above it; "
                "create one (see docs/config.md) or pass --llm-config",
            )
        if path not in self._configs:
            self._configs[path] = load_config(path)
        return self._configs[path]

    def record_group(self, group: str, terms: GateTerms) -> None:
        """Remember the gate terms of ``group`` (seen while collecting its cases)."""
        self._gates[group] = terms

    def group_terms(self, row: CaseRow) -> GateTerms:
        """The gate terms of ``row``'s group: recorded at collection, else read from its files
        (a group named after the case file is that file's own ``thresholds:``)."""
        if row.group not in self._gates:
            path = self.settings.rootdir / row.file
            suite = self.suite_for(path)
            file_thresholds = load_case_file(path, self.checks).thresholds if row.group == row.file else None
            self._gates[row.group] = GateTerms(
                suite.thresholds if file_thresholds is None else file_thresholds, suite.max_error_rate
            )
        return self._gates[row.group]

    def perturb_budget(self, wanted: int) -> int:
        """How many calls a perturbation search may make: ``wanted``, or what is left of --llm-perturb-max."""
        return min(wanted, self._perturb_calls_left)

    def spend_perturb_budget(self, calls: int) -> None:
        """Count the calls a perturbation search made against --llm-perturb-max."""
        self._perturb_calls_left -= calls

    def check_backends(self, selected: Iterable[tuple[Path, str]]) -> None:
        """Raise SpecError for the first (case file, backend name) whose backend is unknown or cannot start."""
        for case_file, name in dict.fromkeys(selected):
            preflight(self.suite_for(case_file).backend(name), needs_key=self.settings.answers.replay is None)

    @staticmethod
    def secrets(suite: SuiteConfig) -> tuple[str, ...]:
        """The API keys of ``suite``'s backends, to be redacted from everything written."""
        return tuple(
            key for spec in suite.backends.values() if spec.api_key_env and (key := os.environ.get(spec.api_key_env))
        )

    def backend(self, spec: BackendSpec) -> Backend:
        """The backend for ``spec``, created on first use; a failure to start is raised again for every case.
        Not thread-safe on its own: Answers calls it under its lock."""
        key = (spec.config_path, spec.name)
        if key not in self._backends:
            try:
                preflight(spec, needs_key=self.settings.answers.replay is None)
                backend = self._make_backend(spec)
                if backend is None:
                    raise SpecError(
                        spec.config_path,
                        spec.line,
                        f"backend {spec.name!r}: no plugin provides provider "
                        f"{spec.provider!r}; built-in providers: openai, llama_cpp, fake",
                    )
                if not isinstance(backend, Backend):
                    raise SpecError(
                        spec.config_path,
                        spec.line,
                        f"backend {spec.name!r}: the plugin made a {type(backend).__name__}, "
                        "which does not implement the Backend protocol (name, complete(messages), close())",
                    )
                self._backends[key] = backend
            except (SpecError, BackendError) as exc:
                self._backends[key] = exc
        found = self._backends[key]
        if isinstance(found, Exception):
            raise found
        return found

    def run_terms(self, rows: Iterable[CaseRow]) -> Terms:
        """The gate terms of every group in ``rows``, the approach and pricing of each backend, and
        volume, horizon and decision policy from the config of the first case file (by path), with
        ``--llm-volume`` winning over its ``volume:``."""
        gates: dict[str, GateTerms] = {}
        backends: dict[str, BackendTerms] = {}
        first: SuiteConfig | None = None
        for row in sorted(rows, key=lambda r: r.file):
            if not row.category:
                continue  # a case known only by its node id (never run under xdist): no terms to find
            suite = self.suite_for(self.settings.rootdir / row.file)
            first = first or suite
            gates.setdefault(row.group, self.group_terms(row))
            spec = suite.backends.get(row.backend)
            if spec is not None and row.backend not in backends:
                backends[row.backend] = BackendTerms(
                    spec.approach,
                    spec.pricing,
                    suite.backend_thresholds.get(row.backend, {}),
                    spec.provider,
                    spec.model,
                    spec.fingerprint,
                )
        volume = self.settings.volume_per_day
        if first is None:
            return Terms(gates, backends, volume_per_day=volume)
        return Terms(
            gates,
            backends,
            first.regression_tolerance,
            volume_per_day=first.volume_per_day if volume is None else volume,
            horizon_months=first.horizon_months,
            policy=first.decision,
        )

    def all_secrets(self) -> tuple[str, ...]:
        """The API keys of every config loaded, to be redacted from what the run writes."""
        return tuple(dict.fromkeys(key for suite in self._configs.values() for key in self.secrets(suite)))

    def close(self) -> None:
        """Stop fetching answers, then close every backend created."""
        self.answers.close()
        for backend in self._backends.values():
            if not isinstance(backend, Exception):
                backend.close()
        self._backends.clear()
