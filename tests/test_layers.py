"""The package's layers import only downwards, and pytest only in the pytest glue (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest_llmgate

PACKAGE = Path(pytest_llmgate.__file__).parent
# Lower layers know nothing of higher ones; layers of one rank do not import each other.
RANK = {
    "errors": 0,
    "backends": 1,
    "robustness": 1,
    "checks": 2,
    "suite": 3,
    "answers": 4,
    "verdict": 5,
    "report": 6,
    "data": 6,
    "session": 7,
    "plugin": 9,
    "hookspec": 8,
    "cli": 9,
}
PYTEST_LAYERS = {"session", "plugin", "hookspec"}


def _layer(module: str) -> str:
    """'pytest_llmgate.verdict.rows' -> 'verdict'; the package itself -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, lazy ones inside functions included."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            if node.module is None:  # from . import x: x may be a module
                folder = PACKAGE.parent.joinpath(*target.split("."))
                found += [
                    (node.lineno, f"{target}.{alias.name}")
                    for alias in node.names
                    if (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir()
                ]
    return found


def test_layers_import_only_downwards() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _layer(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, target in _imports(path):
            theirs = _layer(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if target.split(".")[0] == "pytest" and mine not in PYTEST_LAYERS:
                wrong.append(f"{where}: pytest belongs to the session layer and the plugin")
            if not target.startswith("pytest_llmgate") or theirs in ("", mine) or mine == "":
                continue
            assert theirs in RANK, f"{where}: layer {theirs!r} has no rank in this test"
            if RANK[theirs] >= RANK.get(mine, 99):
                wrong.append(f"{where}: {mine} (rank {RANK[mine]}) may import only lower layers")
    assert not wrong, "\n".join(wrong)


def test_every_layer_is_ranked() -> None:
    layers = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert layers - {"__init__"} == set(RANK)


def test_a_provider_loads_no_verdict_or_report_code() -> None:
    code = (
        "import sys, pytest_llmgate.backends.openai\n"
        "bad = [m for m in sys.modules if m.startswith('pytest_llmgate.') and m.split('.')[1] in "
        "('verdict', 'report', 'robustness', 'session', 'answers', 'suite', 'data')]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_no_two_classes_or_public_functions_share_a_name() -> None:
    """One name, one meaning: a class or public function is defined in one module only (hooks aside)."""
    defined: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            public_function = isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
            if (isinstance(node, ast.ClassDef) or public_function) and not node.name.startswith("pytest_"):
                defined.setdefault(node.name, []).append(str(path.relative_to(PACKAGE.parent)))
    shared = {name: where for name, where in defined.items() if len(where) > 1}
    assert not shared
