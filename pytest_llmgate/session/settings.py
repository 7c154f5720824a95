"""RunSettings: the only code that reads llmgate's command-line options and ini keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..answers.cache import CACHE_MODES
from ..answers.source import AnswerOptions
from ..suite.cases import CASE_FILE_PATTERNS
from ..suite.terms import Tolerance, parse_tolerance, parse_volume


@dataclass(frozen=True)
class RunSettings:
    """What this run was asked to do."""

    backends: tuple[str, ...]
    config_path: Path | None
    report_json: Path | None
    case_patterns: tuple[str, ...]
    rootdir: Path
    report_md: Path | None = None
    report_html: Path | None = None
    volume_per_day: float | None = None  # --llm-volume; None: the config's 'volume:'
    verbose_report: bool = False  # full comparison tables in the terminal (-v or --llm-verbose-report)
    answers: AnswerOptions = field(default_factory=AnswerOptions)
    repeat: int | None = None  # --llm-repeat: samples per case, over each case's own 'repeat:'
    perturb_max: int = 1000  # --llm-perturb-max: backend calls for perturbed variants in the run
    save_baseline: Path | None = None
    baseline: Path | None = None
    baseline_backend: str | None = None
    fail_on_regression: Tolerance | None = None  # None: compare with the baseline, never fail on it
    cost_from_cache: bool = False  # --llm-cost-from-cache: price cached answers by their old latencies too
    junit_misses: str = "failure"  # --llm-junit-misses: a missed case in JUnit XML is a failure or skipped

    @classmethod
    def from_pytest(cls, config: pytest.Config) -> RunSettings:
        """Read options and ini keys from a pytest config."""

        def path_option(name: str) -> Path | None:
            value = config.getoption(name)
            return Path(value).resolve() if value else None

        cache_mode, replay = config.getoption("llm_cache"), path_option("llm_replay")
        if cache_mode not in CACHE_MODES:
            raise pytest.UsageError(f"--llm-cache must be one of {', '.join(CACHE_MODES)}, got {cache_mode!r}")
        if replay is not None and not replay.is_file():
            raise pytest.UsageError(f"--llm-replay: no recording at {replay}; make one with --llm-record={replay}")
        if replay is not None and path_option("llm_record") is not None:
            raise pytest.UsageError(
                "--llm-record and --llm-replay cannot be combined: a replay makes no new answers to record"
            )
        for name in ("llm_concurrency", "llm_repeat"):
            value = config.getoption(name)
            if value is not None and value < 1:
                raise pytest.UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        cache_dir = path_option("llm_cache_dir") or _default_cache_dir(config)
        tolerance = config.getoption("llm_fail_on_regression")
        try:
            fail_on_regression = None if tolerance is None else parse_tolerance(tolerance)
        except ValueError as exc:
            raise pytest.UsageError(f"--llm-fail-on-regression: {exc}") from None
        if fail_on_regression is not None and config.getoption("llm_baseline") is None:
            raise pytest.UsageError("--llm-fail-on-regression needs a baseline to compare with: --llm-baseline=PATH")
        volume = config.getoption("llm_volume")
        try:
            volume_per_day = None if volume is None else parse_volume(volume)
        except ValueError as exc:
            raise pytest.UsageError(f"--llm-volume: {exc}") from None
        return cls(
            backends=tuple(config.getoption("llm_backend") or ()),
            config_path=path_option("llm_config"),
            report_json=path_option("llm_report_json"),
            case_patterns=tuple(config.getini("llmgate_case_patterns") or CASE_FILE_PATTERNS),
            rootdir=Path(config.rootpath),
            report_md=path_option("llm_report_md"),
            report_html=path_option("llm_report_html"),
            volume_per_day=volume_per_day,
            verbose_report=bool(config.getoption("llm_verbose_report")) or config.getoption("verbose") > 0,
            answers=AnswerOptions(
                concurrency=config.getoption("llm_concurrency"),
                cache_mode="off" if replay is not None else cache_mode,
                cache_dir=None if cache_mode == "off" or replay is not None else cache_dir,
                refresh=bool(config.getoption("llm_refresh")),
                record=path_option("llm_record"),
                replay=replay,
            ),
            repeat=config.getoption("llm_repeat"),
            perturb_max=config.getoption("llm_perturb_max"),
            save_baseline=path_option("llm_save_baseline"),
            baseline=path_option("llm_baseline"),
            baseline_backend=config.getoption("llm_baseline_backend"),
            fail_on_regression=fail_on_regression,
            cost_from_cache=bool(config.getoption("llm_cost_from_cache")),
            junit_misses=config.getoption("llm_junit_misses"),
        )


def _default_cache_dir(config: pytest.Config) -> Path:
    """llmgate/ under pytest's cache folder (the ``cache_dir`` ini), even when the cache plugin is off;
    created on the first answer, not here."""
    try:
        folder = config.getini("cache_dir")
    except ValueError:  # the cache plugin is off, and its ini key with it
        folder = ".pytest_cache"
    return Path(config.rootpath, folder, "d", "llmgate")
