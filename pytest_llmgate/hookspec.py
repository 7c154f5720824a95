"""Hooks that other plugins (or a conftest.py) implement to extend llmgate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .backends.base import Backend
    from .config import BackendSpec


@pytest.hookspec(firstresult=True)
def pytest_llmgate_make_backend(spec: BackendSpec) -> Backend | None:
    """Make the backend for ``spec``, or return None to leave it to another implementation.

    Built-in providers (``openai``, ``llama_cpp``, ``fake``) are made last, so a plugin can
    replace one or add a provider of its own, for example in a conftest.py::

        def pytest_llmgate_make_backend(spec):
            if spec.provider == "my_gateway":
                return MyGatewayBackend(spec.model, **spec.options)
    """
