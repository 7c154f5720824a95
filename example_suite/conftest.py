"""example_suite/app, example_suite/support_tools and example_suite/replies are suites of their own (their own llmgate.yaml):
collected when named, as in `pytest example_suite/app`, never as part of `pytest example_suite`, whose
backends they do not have."""

from __future__ import annotations

from pathlib import Path

import pytest

OWN_SUITES = (Path(__file__).parent / "app", Path(__file__).parent / "support_tools", Path(__file__).parent / "replies")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip app/, support_tools/ and replies/ unless an argument names it (or something inside it)."""
    if collection_path not in OWN_SUITES:
        return None
    named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
    return None if any(path == collection_path or collection_path in path.parents for path in named) else True
