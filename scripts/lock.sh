#!/usr/bin/env bash
# Refresh constraints.txt, the versions that ./setup.sh and CI install: resolve pyproject.toml's ranges
# afresh in a throw-away venv (every extra setup.sh can install), then freeze it.
# Usage: scripts/lock.sh      (then commit constraints.txt; run it when pyproject.toml's dependencies change)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
wheelhouse=${LLMGATE_WHEELHOUSE:-$HOME/.cache/llmgate/wheels}
llama_version=$(sed -n 's/^llama_version=//p' setup.sh)
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT

"$python" -m venv "$fresh/venv"
"$fresh/venv/bin/python" -m pip install --quiet --upgrade pip
# The llama-cpp-python wheel setup.sh built (./setup.sh first, once per machine): never rebuilt here.
"$fresh/venv/bin/python" -m pip install --quiet --find-links "$wheelhouse" \
  "llama-cpp-python[server]==$llama_version" --editable ".[dev,local,finetune]"
{
  echo "# The versions ./setup.sh and .ci/run install (pip install -c constraints.txt); pyproject.toml keeps ranges."
  echo "# Made by scripts/lock.sh from a fresh venv on $("$python" -c 'import platform; print(platform.python_version())'); do not edit by hand."
  # The project itself is installed editable, never pinned; setuptools is pinned (a dependency pulls it in),
  # pip is not (setup.sh upgrades it first); a local build label (torch's +cpu) is dropped, so the pin
  # holds for the wheel of either origin.
  "$fresh/venv/bin/python" -m pip freeze --all --exclude-editable | grep -v -e '^-e ' -e '^pip==' |
    sed -E 's/^([^=]+==[^+]+)\+.*/\1/'
} >constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pinned packages"
