"""pytest-llmgate: LLM behaviour regression testing with YAML cases, real backends and gates.

The names a plugin or conftest.py needs to extend llmgate (see hookspec.py) are importable from here.
"""

from .backends.base import Backend, BackendError, Completion
from .backends.provider import COMMON_PARAMS, Provider, Rule
from .backends.registry import ProviderRegistry
from .backends.spec import BackendSpec
from .checks.registry import CheckRegistry
from .errors import SpecError

__version__ = "0.1.0"

__all__ = [
    "COMMON_PARAMS",
    "Backend",
    "BackendError",
    "BackendSpec",
    "CheckRegistry",
    "Completion",
    "Provider",
    "ProviderRegistry",
    "Rule",
    "SpecError",
    "__version__",
]
