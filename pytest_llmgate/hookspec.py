"""Hooks that other plugins (or a conftest.py) implement to extend llmgate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .backends.base import Backend
    from .backends.registry import ProviderRegistry
    from .backends.spec import BackendSpec
    from .checks.registry import CheckRegistry


@pytest.hookspec(firstresult=True)
def pytest_llmgate_make_backend(spec: BackendSpec) -> Backend | None:
    """Make the backend for ``spec``, or return None to leave it to another implementation.

    Asked before the registered providers, so a plugin can replace a built-in one (``openai``,
    ``llama_cpp``, ``fake``) or make a provider of its own, for example in a conftest.py::

        def pytest_llmgate_make_backend(spec):
            if spec.provider == "my_gateway":
                return MyGatewayBackend(spec.model, **spec.options)

    A provider made only here is asked for at preflight, before any call; when no implementation
    makes it, the run stops with a usage error naming the known providers. To give your provider
    its params, settings, bound, cache identity and preflight, register it instead
    (``pytest_llmgate_register_providers``).
    """


@pytest.hookspec
def pytest_llmgate_register_providers(registry: ProviderRegistry) -> None:
    """Add providers that backends may name under ``provider:``; each declares its own facts.

    Called once per process, at configure time, so implement it in a plugin or the rootdir's
    conftest.py. A provider subclasses ``pytest_llmgate.Provider``: its ``params`` (each with its
    type and range, checked when the config loads), its ``check_options(options)``, how many calls
    it takes at once (``max_calls``), what identifies its answers for the cache (``identity``),
    what it checks before a run (``preflight``) and how it is made (``make``)::

        from pytest_llmgate import COMMON_PARAMS, Provider

        class GatewayProvider(Provider):
            name = "my_gateway"
            params = COMMON_PARAMS

            def check_options(self, options):
                return [] if isinstance(options.get("region"), str) else [("region", "'region' must be a string")]

            def max_calls(self, spec):
                return 4  # the gateway's own limit, whatever --llm-concurrency says

            def make(self, spec):
                return MyGatewayBackend(spec.model, region=spec.options["region"])

        def pytest_llmgate_register_providers(registry):
            registry.register(GatewayProvider())
    """


@pytest.hookspec
def pytest_llmgate_register_checks(registry: CheckRegistry) -> None:
    """Add check types that cases may use under ``expect:`` (correctness) or ``format:``.

    Called once per process, at configure time, so implement it in a plugin or the rootdir's
    conftest.py. ``run(output, argument)`` returns ``(passed, detail, score or None)``; a ``run`` with a
    third parameter also gets the CheckContext (the backend that answered, the case's messages, that
    backend's prompt). ``validate(argument)`` returns what the argument should be, or None when it is fine::

        def pytest_llmgate_register_checks(registry):
            registry.register(
                "correctness", "starts_with",
                run=lambda output, prefix: (output.startswith(prefix), f"should start with {prefix!r}", None),
                validate=lambda prefix: None if isinstance(prefix, str) else "a string",
            )
    """
