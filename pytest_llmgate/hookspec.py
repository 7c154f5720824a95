"""Hooks that other plugins (or a conftest.py) implement to extend llmgate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .backends.base import Backend
    from .backends.spec import BackendSpec
    from .checks.registry import CheckRegistry


@pytest.hookspec(firstresult=True)
def pytest_llmgate_make_backend(spec: BackendSpec) -> Backend | None:
    """Make the backend for ``spec``, or return None to leave it to another implementation.

    Built-in providers (``openai``, ``llama_cpp``, ``fake``) are made last, so a plugin can
    replace one or add a provider of its own, for example in a conftest.py::

        def pytest_llmgate_make_backend(spec):
            if spec.provider == "my_gateway":
                return MyGatewayBackend(spec.model, **spec.options)
    """


@pytest.hookspec
def pytest_llmgate_register_checks(registry: CheckRegistry) -> None:
    """Add check types that cases may use under ``expect:`` (correctness) or ``format:``.

    Called once per process, at configure time, so implement it in a plugin or the rootdir's
    conftest.py. ``run(output, argument)`` returns ``(passed, detail, score or None)``;
    ``validate(argument)`` returns what the argument should be, or None when it is fine::

        def pytest_llmgate_register_checks(registry):
            registry.register(
                "correctness", "starts_with",
                run=lambda output, prefix: (output.startswith(prefix), f"should start with {prefix!r}", None),
                validate=lambda prefix: None if isinstance(prefix, str) else "a string",
            )
    """
