"""The ``openai`` provider's facts: any OpenAI-compatible chat endpoint, its params, settings and cache identity.

Apart from ``openai.py`` (the backend itself), so that knowing the provider loads neither the SDK nor the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .base import REQUEST_OPTIONS, Backend
from .provider import (
    BOOLEAN,
    COMMON_PARAMS,
    MAPPING,
    NAME,
    TOOL_CHOICE,
    TOOLS,
    Provider,
    Rule,
    number,
    one_of,
    require_key,
    rules,
    whole,
)
from .spec import BackendSpec

DEFAULT_ENDPOINT = "api.openai.com/v1"
MAX_RETRIES = 10
LOGIT_BIAS = 100

_URLS = Rule(
    lambda value: (
        (isinstance(value, str) and bool(value))
        or (isinstance(value, list) and bool(value) and all(isinstance(url, str) and url for url in value))
    ),
    "a URL or a non-empty list of URLs",
)
_LOGIT_BIAS = Rule(
    lambda value: (
        isinstance(value, dict)
        and all(str(token).isdigit() and number(-LOGIT_BIAS, LOGIT_BIAS).test(bias) for token, bias in value.items())
    ),
    f"a mapping of token ids to numbers from {-LOGIT_BIAS} to {LOGIT_BIAS}",
)


class OpenAIProvider(Provider):
    """Chat completions over HTTP, streamed by default; many calls at once (``concurrency:``)."""

    name = "openai"
    params = rules(
        **COMMON_PARAMS,
        max_completion_tokens=whole(1),
        logit_bias=_LOGIT_BIAS,
        response_format=MAPPING,
        reasoning_effort=one_of("minimal", "low", "medium", "high"),
        tools=TOOLS,
        tool_choice=TOOL_CHOICE,
    )
    request_options = frozenset(REQUEST_OPTIONS)
    settings = rules(
        base_url=_URLS,
        api_key_env=NAME,
        stream=BOOLEAN,
        timeout_s=number(0, low_open=True, unit="of seconds"),
        attempt_timeout_s=number(0, low_open=True, unit="of seconds"),
        max_retries=whole(0, MAX_RETRIES),
    )

    def identity(self, spec: BackendSpec, file_hash: Callable[[Path], str]) -> dict[str, Any]:
        """The model and the endpoint: a pool of identical servers is one endpoint, the same answers
        whichever serves them. Never the key, a credential in the URL, or its query."""
        endpoints = sorted(identity_endpoint(url) for url in spec.base_urls)
        return {"provider": spec.provider, "model": spec.model, "endpoint": ", ".join(endpoints) or DEFAULT_ENDPOINT}

    def preflight(self, spec: BackendSpec, needs_key: bool) -> None:
        """The API key must be set, unless a replay answers every call."""
        if needs_key:
            require_key(spec)

    def make(self, spec: BackendSpec) -> Backend:
        """An OpenAIBackend (the SDK is imported only now)."""
        from .openai import OpenAIBackend

        return OpenAIBackend(spec)


def identity_endpoint(base_url: str) -> str:
    """'host[:port]/path' of an API endpoint, without credentials, query or trailing slash."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return host + parts.path.rstrip("/")
