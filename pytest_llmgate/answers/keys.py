"""What the cache and recordings know a request by: a SHA-256 over everything that changes the answer
(provider, model identity, LoRA, messages with the model's own earlier replies and tool calls, sampling params
with tools, tool_choice and response_format, and, for a sampled request, the draw) and
nothing secret."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..backends.registry import DEFAULT_PROVIDERS, ProviderRegistry

if TYPE_CHECKING:
    from ..backends.spec import BackendSpec
from .store import FileHashes

KEY_VERSION = 1  # bump when the key material changes shape, so old entries stop matching


def identity_of(
    spec: BackendSpec, hashes: FileHashes, providers: ProviderRegistry = DEFAULT_PROVIDERS
) -> dict[str, Any]:
    """What identifies a backend's answers for ``request_key``, as its provider declares it (a GGUF's content
    hash, an API model's name and endpoint), with files hashed once through ``hashes``. Never a secret."""
    return providers.identity(spec, hashes.sha256)


def request_key(
    spec_identity: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    sample: int | None,
) -> str:
    """The hex SHA-256 naming one request; ``sample`` counts unless temperature is 0 (greedy: one answer
    serves every draw). An unset temperature counts as sampled: the APIs' defaults (1.0 for OpenAI,
    0.2 for llama-cpp-python) are."""
    canonical_params = {name: _canonical_number(value) for name, value in params.items() if value is not None}
    sampled = canonical_params.get("temperature", 1) != 0
    material = {
        "v": KEY_VERSION,
        "backend": dict(spec_identity),
        "messages": [dict(message) for message in messages],
        "params": canonical_params,
        "sample": (sample or 0) if sampled else None,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical_number(value: Any) -> Any:
    """1.0 and 1 name the same setting; a float spelled as a whole number becomes an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_canonical_number(item) for item in value]
    return value
