"""Per-process run state: suite configs found so far, the gate terms of each group, and the
backends created, reused by every case."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..answers.embeddings import Embeddings
from ..answers.fewshot import FewShotSelector
from ..answers.source import Answers
from ..backends.base import Backend, BackendError
from ..backends.registry import ProviderRegistry, UnknownProvider
from ..backends.spec import BackendSpec
from ..checks.registry import CheckRegistry
from ..errors import SpecError, SpecErrors
from ..suite.config import SuiteConfig, find_config, load_config
from ..verdict.analysis import BackendTerms, Terms
from ..verdict.gate import GateTerms
from ..verdict.rows import CaseRow
from .judging import Judging
from .settings import RunSettings


class RunState:
    """Finds the config that governs a case file and calls backends, each created once."""

    def __init__(self, settings: RunSettings, make_backend: Callable[[BackendSpec], Backend | None]):
        self.settings = settings
        self._make_backend = make_backend  # plugins' pytest_llmgate_make_backend, asked before the registry
        self.checks = CheckRegistry()  # built-ins plus what plugins register (pytest_llmgate_register_checks)
        self.providers = ProviderRegistry()  # built-ins plus pytest_llmgate_register_providers
        self._configs: dict[Path, SuiteConfig | SpecError] = {}  # a broken config is read (and reported) once
        self._config_paths: dict[Path, Path | None] = {}  # by case file folder
        self._backends: dict[tuple[Path, str], Backend | Exception] = {}
        self.answers = Answers(settings.answers, self.backend, providers=self.providers)
        self.embeddings = Embeddings(settings.answers, self.providers)  # for similar: checks, made on first use
        self.few_shot = FewShotSelector(self.embeddings)  # few_shot: {pool: ...}: each case's examples, chosen once
        self._perturb_calls_left = settings.perturb_max
        self.judging = Judging(self.answers, self.providers)  # judge: checks, calibration sets, pairwise comparisons
        self.calibrated: set[tuple[Path, str]] = set()  # (config, rubric) whose calibration item is collected

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
            try:
                suite = self._configs[path] = load_config(path, providers=self.providers)
            except SpecError as exc:
                self._configs[path] = exc
            else:
                for provider in {self.providers.declared(spec.provider) for spec in suite.backends.values()}:
                    provider.warm_up()  # e.g. the openai SDK loads while the rest is collected
        found = self._configs[path]
        if isinstance(found, SpecError):
            raise found
        return found

    def setup_problem(self, case_file: Path) -> SpecError | None:
        """What is wrong with the run's setup for ``case_file``, not with the file itself: its llmgate.yaml
        does not load, or it selects no backend. None when the setup is fine or no config governs the file."""
        try:
            suite = self.suite_for(case_file)
        except SpecError as exc:
            return exc if self._config_paths.get(case_file.parent) is not None else None
        try:
            suite.selected(list(self.settings.backends))
        except SpecError as exc:
            return exc
        return None

    def perturb_budget(self, wanted: int) -> int:
        """How many calls a perturbation search may make: ``wanted``, or what is left of --llm-perturb-max."""
        return min(wanted, self._perturb_calls_left)

    def spend_perturb_budget(self, calls: int) -> None:
        """Count the calls a perturbation search made against --llm-perturb-max."""
        self._perturb_calls_left -= calls

    def check_backends(self, selected: Iterable[tuple[Path, str]]) -> None:
        """Raise SpecError for the first (case file, backend name) whose backend is unknown or cannot start.
        A provider no registered provider knows is offered to the plugins' make_backend now; none making it
        is an error here, before any call. What a plugin made wrongly fails each of its cases instead."""
        for case_file, name in dict.fromkeys(selected):
            spec = self.suite_for(case_file).backend(name)
            self.providers.preflight(spec, needs_key=self.settings.answers.replay is None)
            if self.providers.get(spec.provider) is None:
                try:
                    self.backend(spec)
                except (SpecError, BackendError) as exc:
                    if isinstance(exc, UnknownProvider):
                        raise
                    # Made wrongly, or it failed to start: each of its cases errors with it, as a built-in's would.

    def check_request_options(self, uses: Iterable[tuple[Path, str, str, Iterable[str]]]) -> None:
        """Raise one SpecError, a problem per backend (not per case), when selected cases ask a backend for
        request options (tools, tool_choice, response_format) its provider cannot send: ``uses`` holds
        (case file, backend name, the case's 'file::id', the options it uses). Said at start-up, not as a
        silent difference and not as one error per case."""
        unsent: dict[tuple[Path, str], tuple[BackendSpec, set[str], list[str]]] = {}
        for case_file, name, where, options in uses:
            spec = self.suite_for(case_file).backend(name)
            missing = set(options) - self.providers.request_options(spec)
            if missing:
                _, wanted, cases = unsent.setdefault((spec.config_path, name), (spec, set(), []))
                wanted |= missing
                cases.append(where)
        errors = SpecErrors()
        for spec, wanted, cases in unsent.values():
            able = [p for p in self.providers.names() if wanted <= self.providers.declared(p).request_options]
            count = f"{len(cases)} selected case{'s' if len(cases) > 1 else ''} use"
            errors.add(
                SpecError(
                    spec.config_path,
                    spec.line,
                    f"backend {spec.name!r} (provider {spec.provider}) cannot send {', '.join(sorted(wanted))}, "
                    f"which {count} ({cases[0]}{', ...' if len(cases) > 1 else ''}); run them on a backend whose "
                    f"provider can ({', '.join(able) or 'none registered'}), or deselect them",
                )
            )
        errors.raise_any()

    def check_judges(self, uses: Iterable[tuple[Path, str, str, Iterable[Mapping[str, Any]]]]) -> None:
        """Raise one SpecError when a selected case would be graded by a backend under test (it favours its own
        answers: refused unless the rubric sets ``allow_judging_itself``), or a judge cannot start; ``uses``
        holds (case file, backend name, the case's 'file::id', its judge: checks' arguments)."""
        errors = SpecErrors()
        seen: set[tuple[Path, str, str]] = set()
        judges: set[tuple[Path, str]] = set()
        for case_file, name, where, arguments in uses:
            suite = self.suite_for(case_file)
            for argument in arguments:
                spec = suite.rubrics.get(argument["rubric"])
                if spec is None:
                    continue  # an unknown rubric is the case file's collection error
                for judged in (name, *argument.get("compare", ())):
                    if (suite.path, spec.name, judged) in seen:
                        continue
                    seen.add((suite.path, spec.name, judged))
                    if spec.judge == judged and not spec.allow_judging_itself:
                        errors.add(
                            SpecError(
                                spec.config_path,
                                spec.line,
                                f"{spec.where}: its judge {spec.judge!r} is the backend under test ({where} runs on "
                                "it); a model grading its own answers favours them: name another judge, deselect the "
                                "backend, or set 'allow_judging_itself: true'",
                            )
                        )
                if (suite.path, spec.judge) not in judges:  # each judge checked once, not once per case
                    judges.add((suite.path, spec.judge))
                    with errors.part():
                        self.providers.preflight(
                            suite.backend(spec.judge), needs_key=self.settings.answers.replay is None
                        )
        errors.raise_any()

    def secrets(self, suite: SuiteConfig) -> tuple[str, ...]:
        """The credentials of ``suite``'s backends (API keys, secret headers), to be redacted from everything written."""
        return tuple(dict.fromkeys(key for spec in suite.backends.values() for key in self.providers.secrets(spec)))

    def backend(self, spec: BackendSpec) -> Backend:
        """The backend for ``spec``, created on first use: by a plugin's make_backend (which may replace a
        built-in provider), else by its registered provider. A failure to start is raised again for every case.
        Not thread-safe on its own: Answers calls it under its lock."""
        key = (spec.config_path, spec.name)
        if key not in self._backends:
            try:
                self.providers.preflight(spec, needs_key=self.settings.answers.replay is None)
                backend = self._make_backend(spec)
                if backend is None:
                    backend = self.providers.make(spec)
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

    def run_terms(self, rows: Iterable[CaseRow], gates: Mapping[str, GateTerms]) -> Terms:
        """``gates`` (the terms of each group, as its cases reported them) with the approach and pricing of
        each backend, and volume, horizon and decision policy from the config of the first case file (by
        path), with ``--llm-volume`` winning over its ``volume:``."""
        backends: dict[str, BackendTerms] = {}
        first: SuiteConfig | None = None
        for row in sorted(rows, key=lambda r: r.file):
            if not row.category:
                continue  # a case known only by its node id (never run under xdist): no terms to find
            suite = self.suite_for(self.settings.rootdir / row.file)
            first = first or suite
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
        suites = (suite for suite in self._configs.values() if isinstance(suite, SuiteConfig))
        return tuple(dict.fromkeys(key for suite in suites for key in self.secrets(suite)))

    def close(self) -> None:
        """Stop fetching answers, then close every backend created."""
        self.answers.close()
        self.embeddings.close()
        for backend in self._backends.values():
            if not isinstance(backend, Exception):
                backend.close()
        self._backends.clear()
