"""The providers a run knows, by name: the built-in ones, then those plugins register
(``pytest_llmgate_register_providers``). The core asks this registry every fact about a provider."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .base import Backend
from .fake import FakeProvider
from .http_provider import HttpProvider
from .llama_cpp import LlamaCppProvider
from .openai_provider import OpenAIProvider
from .provider import Provider, missing_env_check, rules
from .python_provider import PythonProvider
from .spec import BackendSpec

# BackendSpec fields a provider may claim as its own settings (the rest are common to every provider).
PROVIDER_FIELDS = (
    *("base_url", "api_key_env", "stream", "timeout_s", "attempt_timeout_s", "max_retries"),
    *("n_ctx", "n_threads", "lora", "lora_scale", "prefix_cache"),
    *("function", "path", "url", "method", "body", "response", "headers"),
)


class UnknownProvider(SpecError):
    """A backend names a provider that no registered provider and no plugin's make_backend knows."""


class ProviderRegistry:
    """Providers by name; starts with the built-ins. Each run makes its own, so a plugin's provider
    never leaks into another run."""

    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}
        self._unregistered: Provider | None = None
        for provider in (OpenAIProvider(), LlamaCppProvider(), FakeProvider(), PythonProvider(), HttpProvider()):
            self.register(provider)

    def register(self, provider: Provider) -> None:
        """Add ``provider``; ValueError for a name already taken or a setting that is no backend key."""
        if not isinstance(provider, Provider):
            raise ValueError(f"a provider must be a Provider (pytest_llmgate.Provider), got {type(provider).__name__}")
        if not isinstance(provider.name, str) or not provider.name:
            raise ValueError(f"a provider needs a name (a non-empty string), got {provider.name!r}")
        if provider.name in self._providers:
            raise ValueError(f"a provider named {provider.name!r} is already registered")
        stray = sorted(set(provider.settings) - set(PROVIDER_FIELDS))
        if stray:
            raise ValueError(
                f"provider {provider.name!r}: settings {', '.join(stray)} are no backend keys "
                f"(those are {', '.join(PROVIDER_FIELDS)}); read the provider's own under 'options:'"
            )
        self._providers[provider.name] = provider
        self._unregistered = None

    def names(self) -> tuple[str, ...]:
        """The registered providers' names, sorted."""
        return tuple(sorted(self._providers))

    def get(self, name: str) -> Provider | None:
        """The provider called ``name``, or None when none is registered under it."""
        return self._providers.get(name)

    def declared(self, name: str) -> Provider:
        """What a config's backend of provider ``name`` is checked against: the provider, or, for a name
        only a plugin's make_backend may know, every param and setting some registered provider takes."""
        if name in self._providers:
            return self._providers[name]
        if self._unregistered is None:
            self._unregistered = _Unregistered(self._providers.values())
        return self._unregistered

    def owners(self, setting: str) -> tuple[str, ...]:
        """The providers that take ``setting``, for a message saying where it belongs."""
        # A stand-in that takes every setting (the fake) is no owner worth naming.
        return tuple(
            name
            for name, provider in sorted(self._providers.items())
            if setting in provider.settings and not isinstance(provider, FakeProvider)
        )

    def unknown(self, spec: BackendSpec) -> UnknownProvider:
        """The error for a backend whose provider nothing makes, naming the known ones."""
        close = difflib.get_close_matches(spec.provider, self.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return UnknownProvider(
            spec.config_path,
            spec.line,
            f"backend {spec.name!r}: unknown provider {spec.provider!r}{hint}; known providers: "
            f"{', '.join(self.names())}, or one a plugin adds (pytest_llmgate_register_providers)",
        )

    def preflight(self, spec: BackendSpec, needs_key: bool = True) -> None:
        """Raise SpecError if ``spec`` cannot start: an unset variable, or what its provider checks (a package,
        a key unless ``needs_key`` is false, a model file). A provider only a plugin makes is checked by making it."""
        missing_env_check(spec)
        provider = self._providers.get(spec.provider)
        if provider is not None:
            provider.preflight(spec, needs_key)

    def make(self, spec: BackendSpec) -> Backend:
        """The registered provider's backend for ``spec``; UnknownProvider when none is registered."""
        provider = self._providers.get(spec.provider)
        if provider is None:
            raise self.unknown(spec)
        return provider.make(spec)

    def max_calls(self, spec: BackendSpec) -> int | None:
        """How many calls ``spec``'s provider takes at once (None: no bound of its own)."""
        return self.declared(spec.provider).max_calls(spec)

    def connection_key(self, spec: BackendSpec) -> Hashable:
        """The pool ``spec``'s calls share with others under one bound (see Provider.connection_key)."""
        return self.declared(spec.provider).connection_key(spec)

    def identity(self, spec: BackendSpec, file_hash: Callable[[Path], str]) -> dict[str, Any]:
        """What identifies ``spec``'s answers for the response cache (see Provider.identity)."""
        return self.declared(spec.provider).identity(spec, file_hash)

    def request_options(self, spec: BackendSpec) -> frozenset[str]:
        """The request options (tools, tool_choice, response_format) ``spec``'s provider sends on."""
        return self.declared(spec.provider).request_options

    def secrets(self, spec: BackendSpec) -> tuple[str, ...]:
        """The credential values ``spec``'s backend sends, to be redacted (see Provider.secrets)."""
        return self.declared(spec.provider).secrets(spec)


class _Unregistered(Provider):
    """A provider known only to a plugin's pytest_llmgate_make_backend: its config takes what any registered
    provider takes, as it always could; its answers are identified by model and options."""

    def __init__(self, known: Iterable[Provider]) -> None:
        providers = list(known)
        self.params = rules(**{k: v for p in providers for k, v in p.params.items()})
        self.settings = rules(**{k: v for p in providers for k, v in p.settings.items()})


# The built-ins, for callers that take no registry (the CLI, tests); never register into it.
DEFAULT_PROVIDERS = ProviderRegistry()
