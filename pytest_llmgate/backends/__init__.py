"""Built-in backends: ``openai``, ``llama_cpp`` and ``fake``, and the checks run before a run starts."""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

from ..errors import SpecError
from .base import Backend, BackendError, Completion

if TYPE_CHECKING:  # the config imports the decision maths, which import the rows, which import this
    from .spec import BackendSpec

BUILTIN_PROVIDERS = ("openai", "llama_cpp", "fake")
# Providers whose package is an extra of pytest-llmgate: provider -> (module it imports, extra).
OPTIONAL_PROVIDERS = {"llama_cpp": ("llama_cpp", "local")}

__all__ = ["BUILTIN_PROVIDERS", "Backend", "BackendError", "Completion", "make_builtin_backend", "preflight"]


def preflight(spec: BackendSpec, needs_key: bool = True) -> None:
    """Raise SpecError if ``spec`` cannot start: package not installed, unset variables, missing key
    (unless ``needs_key`` is false: a replay calls no API) or model file."""
    _require_provider_package(spec)
    if spec.missing_env:
        names = ", ".join(spec.missing_env)
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r} needs the environment variable(s) {names}; set them or choose another backend",
        )
    if needs_key and spec.api_key_env and not os.environ.get(spec.api_key_env):
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r} reads its API key from ${spec.api_key_env}, which is not set",
        )
    if spec.provider == "llama_cpp":
        from .llama_cpp import resolve_model_path

        resolve_model_path(spec)
        if spec.lora:
            resolve_model_path(spec, spec.lora)


def _require_provider_package(spec: BackendSpec) -> None:
    """Raise SpecError naming the extra to install when ``spec``'s provider needs a package that is absent."""
    if spec.provider not in OPTIONAL_PROVIDERS:
        return
    module, extra = OPTIONAL_PROVIDERS[spec.provider]
    if not _is_installed(module):
        raise SpecError(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r} uses provider {spec.provider}, "
            f"which needs the {extra!r} extra: pip install 'pytest-llmgate[{extra}]'",
        )


def _is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (llama_cpp loads a native library)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # already imported without a __spec__ (a stand-in module): present
        return True


def make_builtin_backend(spec: BackendSpec) -> Backend | None:
    """An instance for a built-in provider, or None for a provider another plugin must make."""
    if spec.provider == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(spec)
    if spec.provider == "llama_cpp":
        from .llama_cpp import LlamaCppBackend

        return LlamaCppBackend(spec)
    if spec.provider == "fake":
        from .fake import FakeBackend

        return FakeBackend(spec)
    return None
