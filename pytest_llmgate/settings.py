"""RunSettings: the only code that reads llmgate's command-line options and ini keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_CASE_PATTERNS = ("*.llm.yaml", "*.llm.yml")


@dataclass(frozen=True)
class RunSettings:
    """What this run was asked to do."""

    backends: tuple[str, ...]
    config_path: Path | None
    report_json: Path | None
    case_patterns: tuple[str, ...]
    rootdir: Path

    @classmethod
    def from_pytest(cls, config: pytest.Config) -> RunSettings:
        """Read options and ini keys from a pytest config."""
        def path_option(name: str) -> Path | None:
            value = config.getoption(name)
            return Path(value).resolve() if value else None

        return cls(
            backends=tuple(config.getoption("llm_backend") or ()),
            config_path=path_option("llm_config"),
            report_json=path_option("llm_report_json"),
            case_patterns=tuple(config.getini("llmgate_case_patterns") or DEFAULT_CASE_PATTERNS),
            rootdir=Path(config.rootpath),
        )
