"""Backends: the Backend protocol, the providers that make them (``openai``, ``llama_cpp``, ``fake`` and those
plugins register) and the registry the core asks about a provider's facts."""

from __future__ import annotations

from .base import Backend, BackendError, Completion
from .provider import COMMON_PARAMS, Provider, Rule
from .registry import DEFAULT_PROVIDERS, ProviderRegistry, UnknownProvider

__all__ = [
    "COMMON_PARAMS",
    "DEFAULT_PROVIDERS",
    "Backend",
    "BackendError",
    "Completion",
    "Provider",
    "ProviderRegistry",
    "Rule",
    "UnknownProvider",
]
