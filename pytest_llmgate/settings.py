"""RunSettings: the only code that reads llmgate's command-line options and ini keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from .cost import parse_volume

DEFAULT_CASE_PATTERNS = ("*.llm.yaml", "*.llm.yml")


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

    @classmethod
    def from_pytest(cls, config: pytest.Config) -> RunSettings:
        """Read options and ini keys from a pytest config."""
        def path_option(name: str) -> Path | None:
            value = config.getoption(name)
            return Path(value).resolve() if value else None

        volume = config.getoption("llm_volume")
        try:
            volume_per_day = None if volume is None else parse_volume(volume)
        except ValueError as exc:
            raise pytest.UsageError(f"--llm-volume: {exc}") from None
        return cls(
            backends=tuple(config.getoption("llm_backend") or ()),
            config_path=path_option("llm_config"),
            report_json=path_option("llm_report_json"),
            case_patterns=tuple(config.getini("llmgate_case_patterns") or DEFAULT_CASE_PATTERNS),
            rootdir=Path(config.rootpath),
            report_md=path_option("llm_report_md"),
            report_html=path_option("llm_report_html"),
            volume_per_day=volume_per_day,
            verbose_report=bool(config.getoption("llm_verbose_report")) or config.getoption("verbose") > 0,
        )
