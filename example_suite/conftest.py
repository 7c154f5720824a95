"""example_suite/app is a suite of its own (its own llmgate.yaml): collected when named, as in
`pytest example_suite/app`, never as part of `pytest example_suite`, whose backends it does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

APP = Path(__file__).parent / "app"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip app/ unless an argument names it (or something inside it)."""
    if collection_path != APP:
        return None
    named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
    return None if any(path == APP or APP in path.parents for path in named) else True
