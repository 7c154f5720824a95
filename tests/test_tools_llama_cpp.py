"""Tool calls on the real embedded SmolLM2-135M: in this process through llama-cpp-python's chat formats, and
through llama_cpp.server (tests/llama_server.py), normalised to the same ToolCall; and a two-turn conversation
recorded with --llm-record and replayed with --llm-replay, every step's answer served from the recording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from llama_server import llama_server

from pytest_llmgate.backends.base import ToolCall
from pytest_llmgate.backends.llama_cpp import LlamaCppBackend
from pytest_llmgate.backends.openai import OpenAIBackend
from pytest_llmgate.backends.spec import BackendSpec

pytestmark = pytest.mark.slow

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "issue_refund",
            "description": "Refund an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
                "required": ["order_id", "amount"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
]
MESSAGES = [
    {"role": "system", "content": "You are a support assistant. Use the tools."},
    {"role": "user", "content": "Please refund order 48213, it was $25."},
]
FORCED = {"type": "function", "function": {"name": "issue_refund"}}
PARAMS = {"temperature": 0, "max_tokens": 48, "seed": 0}


def spec(**overrides: Any) -> BackendSpec:
    values: dict[str, Any] = dict(
        name="smol",
        provider="llama_cpp",
        model="embedded:smollm2-135m-instruct",
        config_path=Path("llmgate.yaml"),
        params=PARAMS,
    )
    return BackendSpec(**{**values, **overrides})


@pytest.fixture(scope="module")
def in_process() -> Any:
    backend = LlamaCppBackend(spec())
    yield backend
    backend.close()


def refund_call(calls: tuple[ToolCall, ...]) -> ToolCall:
    (call,) = calls
    assert call.name == "issue_refund" and call.valid
    assert isinstance(call.arguments["order_id"], str)  # the grammar keeps the arguments to the tool's schema
    assert isinstance(call.arguments["amount"], (int, float))
    return call


def test_a_forced_tool_call_comes_back_normalised_in_process(in_process: LlamaCppBackend) -> None:
    completion = in_process.complete(MESSAGES, tools=TOOLS, tool_choice=FORCED)
    call = refund_call(completion.tool_calls)
    assert call.id  # llama-cpp-python's own id, carried back to the model in the next request
    assert completion.text == ""
    assert completion.completion_tokens > 0 and completion.prompt_tokens > 0


def test_in_process_and_llama_cpp_server_give_the_same_tool_call(in_process: LlamaCppBackend, tmp_path: Path) -> None:
    """The same model, chat template and schema grammar: the same tool with the same arguments, in the same
    normalised form, whether read from the in-process response or from the server's JSON. (The values may differ:
    greedy decoding in a batch of another size can take another of two near-equal tokens.)"""
    mine = refund_call(in_process.complete(MESSAGES, tools=TOOLS, tool_choice=FORCED).tool_calls)
    with llama_server(tmp_path) as (url, _log):
        served = OpenAIBackend(
            spec(provider="openai", model="any", base_url=url, stream=False, max_retries=0, timeout_s=60)
        )
        try:
            theirs = refund_call(served.complete(MESSAGES, tools=TOOLS, tool_choice=FORCED).tool_calls)
        finally:
            served.close()
    assert (theirs.name, sorted(theirs.arguments)) == (mine.name, sorted(mine.arguments))
    assert theirs.id and mine.id


def test_chatml_function_calling_lets_the_model_choose_with_tools_alone() -> None:
    """With tools and no tool_choice the backend asks for OpenAI's default, auto: llama-cpp-python's
    chatml-function-calling then offers the tools and the model picks one (a 135M model, but a plain request)."""
    backend = LlamaCppBackend(spec(options={"chat_format": "chatml-function-calling"}))
    try:
        completion = backend.complete(MESSAGES, tools=TOOLS)
    finally:
        backend.close()
    assert completion.tool_calls, f"no tool called; the model said {completion.text!r}"
    assert all(call.valid and call.name in ("issue_refund", "lookup_order") for call in completion.tool_calls)


CONFIG = """
default_backend: smol
backends:
  smol:
    provider: llama_cpp
    model: embedded:smollm2-135m-instruct
    system_prompt: "You are a support assistant."
    params: {temperature: 0, max_tokens: 32, seed: 0}
"""
TURNS = """
cases:
  - id: lookup-then-thanks
    tools: {file: tools.json}
    tool_choice: lookup_order
    max_steps: 2
    turns:
      - user: "Where is order 51877?"
        tool_results: {lookup_order: {status: shipped}}
        expect: {tool_call: {name: lookup_order}}
      - user: "Thanks. And order 60001?"
        expect: {tool_call: {name: lookup_order}}
"""


def test_a_recorded_conversation_replays_every_step(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", llmgate=CONFIG)
    pytester.makefile(".json", tools=json.dumps(TOOLS))
    pytester.makefile(".llm.yaml", common=TURNS)
    common = ["-p", "no:cacheprovider", "--llm-cache=off"]
    recorded = pytester.runpytest(*common, "--llm-record=answers.jsonl", "--llm-report-json=recorded.json")
    recorded.assert_outcomes(passed=1)
    entries = [json.loads(line) for line in (pytester.path / "answers.jsonl").read_text().splitlines()]
    # turn 1: a forced call, its canned result, a forced call again (max_steps: 2); turn 2, with no canned
    # results, one answer: three answers, the later ones keyed by a chat holding the model's own earlier ones
    assert [(e["turn"], e["step"]) for e in entries] == [(1, 1), (1, 2), (2, 1)]
    assert all(e["tool_calls"][0]["name"] == "lookup_order" for e in entries)

    replayed = pytester.runpytest(*common, "--llm-replay=answers.jsonl", "--llm-report-json=replayed.json")
    replayed.assert_outcomes(passed=1)
    (before,) = json.loads((pytester.path / "recorded.json").read_text())["cases"]
    (after,) = json.loads((pytester.path / "replayed.json").read_text())["cases"]
    assert after["cached"] is True and all(turn["cached"] for turn in after["turns"])
    assert [t["tool_calls"] for t in after["turns"]] == [t["tool_calls"] for t in before["turns"]]
    assert [t["output"] for t in after["turns"]] == [t["output"] for t in before["turns"]]
