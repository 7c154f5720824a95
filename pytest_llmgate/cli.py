"""The ``llmgate`` console command."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import __version__
from .config import find_config, load_config
from .errors import SpecError


def main(argv: list[str] | None = None) -> int:
    """Print the version and the backends of the nearest llmgate.yaml."""
    parser = argparse.ArgumentParser(prog="llmgate", description="pytest-llmgate: LLM behaviour gates for pytest")
    parser.add_argument("--version", action="version", version=f"pytest-llmgate {__version__}")
    parser.add_argument("path", nargs="?", default=".", help="a folder or config file (default: .)")
    args = parser.parse_args(argv)
    target = Path(args.path)
    config_path = target if target.is_file() else find_config(target.resolve())
    print(f"pytest-llmgate {__version__}")
    if config_path is None:
        print(f"no llmgate.yaml in {target.resolve()} or above")
        return 1
    try:
        suite = load_config(config_path)
    except SpecError as exc:
        print(f"error: {exc}")
        return 2
    print(f"config: {config_path}")
    for name, spec in suite.backends.items():
        default = " (default)" if name == suite.default_backend else ""
        print(f"  {name}{default}: {spec.provider} {spec.model}")
    return 0
