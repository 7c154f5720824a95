"""RunSettings: the only code that reads llmgate's command-line options and ini keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..answers.cache import CACHE_MODES
from ..answers.source import AnswerOptions
from ..suite.cases import CASE_FILE_PATTERNS
from ..suite.terms import Tolerance, parse_tolerance, parse_volume
from .junit import JUNIT_MISSES


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
    cost_from_cache: bool = False  # --llm-cost-from-cache: cached answers' old timings count in per-hour costs too
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


def add_options(parser: pytest.Parser) -> None:
    """Declare llmgate's command-line options and ini keys (RunSettings.from_pytest reads them)."""
    group = parser.getgroup("llmgate", "LLM behaviour gates (pytest-llmgate)")
    group.addoption(
        "--llm-backend",
        action="append",
        metavar="NAME",
        dest="llm_backend",
        help="backend from llmgate.yaml to run the cases on; repeat to compare several (default: default_backend)",
    )
    group.addoption(
        "--llm-config",
        metavar="PATH",
        dest="llm_config",
        help="use this config instead of the nearest llmgate.yaml above each case file",
    )
    group.addoption(
        "--llm-report-json",
        metavar="PATH",
        dest="llm_report_json",
        help="write every case's result, the summaries, comparison, cost projection and recommendation to this JSON file",
    )
    group.addoption(
        "--llm-report-md",
        metavar="PATH",
        dest="llm_report_md",
        help="write the report as GitHub-flavoured Markdown (a PR comment, $GITHUB_STEP_SUMMARY)",
    )
    group.addoption(
        "--llm-report-html",
        metavar="PATH",
        dest="llm_report_html",
        help="write a self-contained HTML report with charts (works offline)",
    )
    group.addoption(
        "--llm-volume",
        metavar="N/UNIT",
        dest="llm_volume",
        help="requests per day, month or hour for the cost projection, e.g. 90000/day (overrides 'volume:')",
    )
    group.addoption(
        "--llm-verbose-report",
        action="store_true",
        dest="llm_verbose_report",
        help="print the full comparison (per category, per case, confusion matrices); -v does too",
    )
    group.addoption(
        "--llm-concurrency",
        type=int,
        metavar="N",
        dest="llm_concurrency",
        help="backend calls at once per backend (default 8 for API backends; 'concurrency:' in llmgate.yaml; the smaller wins)",
    )
    group.addoption(
        "--llm-cache",
        default="readwrite",
        metavar="MODE",
        dest="llm_cache",
        help="response cache: off, read, write or readwrite (default)",
    )
    group.addoption(
        "--llm-cache-dir",
        metavar="PATH",
        dest="llm_cache_dir",
        help="folder of the response cache (default: llmgate/ under pytest's cache folder)",
    )
    group.addoption(
        "--llm-refresh",
        action="store_true",
        dest="llm_refresh",
        help="call every backend again instead of reusing cached answers (new answers are still cached)",
    )
    group.addoption(
        "--llm-record",
        metavar="PATH",
        dest="llm_record",
        help="write every answer of this run to a recording (a reviewable file to commit)",
    )
    group.addoption(
        "--llm-replay",
        metavar="PATH",
        dest="llm_replay",
        help="answer only from a recording (CI without an API key); a case it lacks is an error",
    )
    group.addoption(
        "--llm-repeat",
        type=int,
        metavar="K",
        dest="llm_repeat",
        help="sample every case K times (over each case's 'repeat:'); reports pass rate, pass^K and flaky cases",
    )
    group.addoption(
        "--llm-save-baseline",
        metavar="PATH",
        dest="llm_save_baseline",
        help="save this run's results as a baseline for --llm-baseline (the JSON results document)",
    )
    group.addoption(
        "--llm-baseline",
        metavar="PATH",
        dest="llm_baseline",
        help="compare with a saved baseline: per-category changes, flipped cases, McNemar's test on the flips",
    )
    group.addoption(
        "--llm-baseline-backend",
        metavar="NAME",
        dest="llm_baseline_backend",
        help="compare every backend of this run with this backend of the baseline (default: the same names)",
    )
    group.addoption(
        "--llm-fail-on-regression",
        nargs="?",
        const="",
        metavar="TOLERANCE",
        dest="llm_fail_on_regression",
        help="fail when a category drops significantly against the baseline by more than TOLERANCE "
        "(e.g. accuracy:2%%,format:5%%; default none; per category under 'regression:' in llmgate.yaml)",
    )
    group.addoption(
        "--llm-perturb-max",
        type=int,
        default=1000,
        metavar="N",
        dest="llm_perturb_max",
        help="at most N backend calls for perturbed variants in this run (per xdist worker; default 1000)",
    )
    group.addoption(
        "--llm-cost-from-cache",
        action="store_true",
        dest="llm_cost_from_cache",
        help="let cached answers' timings, measured when they were first answered, into the service time of a "
        "backend priced by the hour (default: only this run's fresh answers are timed; every answer is priced)",
    )
    group.addoption(
        "--llm-junit-misses",
        default=JUNIT_MISSES[0],
        choices=JUNIT_MISSES,
        dest="llm_junit_misses",
        help="how JUnit XML reports a missed case: failure (default), or skipped so that only the "
        "llmgate::gate testcase is red when the gate fails",
    )
    parser.addini(
        "llmgate_case_patterns",
        type="args",
        default=list(CASE_FILE_PATTERNS),
        help="glob patterns of case file names (default: *.llm.yaml *.llm.yml)",
    )
