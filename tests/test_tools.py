"""Tool calls, conversations and structured output against a real OpenAI-compatible server on 127.0.0.1
(tests/faultserver.py answering with tool calls and recording every request body), whole and streamed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faultserver import FaultServer

CONFIG = """
default_backend: api
backends:
  api:
    provider: openai
    model: any
    base_url: %s
    stream: %s
    max_retries: 1
    timeout_s: 10
    params: {temperature: 0, max_tokens: 32}
"""
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": name,
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        },
    }
    for name in ("lookup_order", "issue_refund", "escalate")
]


def support(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A scripted assistant: a refund with an order number is an issue_refund call; 'broken' gets bad JSON."""
    last = messages[-1].get("content") or ""
    if "48213" in last:
        return [{"name": "issue_refund", "arguments": json.dumps({"order_id": "48213", "amount": 25})}]
    if "broken" in last:
        return [{"name": "escalate", "arguments": '{"reason": "oops"'}]
    return []


def run(pytester: pytest.Pytester, server: FaultServer, stream: bool, cases: str) -> list[dict[str, Any]]:
    pytester.makefile(".yaml", llmgate=CONFIG % (server.url, "true" if stream else "false"))
    pytester.makefile(".json", tools=json.dumps(TOOLS))
    pytester.makefile(".llm.yaml", common=cases)
    pytester.runpytest("--llm-report-json=r.json", "-p", "no:cacheprovider", "--llm-cache=off")
    return json.loads((pytester.path / "r.json").read_text())["cases"]


CASES = """
defaults:
  tools: {file: tools.json}
cases:
  - id: refund-right
    input: "Please refund order 48213, $25"
    expect:
      tool_call: {name: issue_refund, arguments: {order_id: "48213"}, match: subset}
  - id: refund-wrong-argument
    input: "Please refund order 48213, $25"
    expect:
      tool_call: {name: issue_refund, arguments: {order_id: "99999"}, match: subset}
  - id: refund-no-call-expected
    input: "Please refund order 48213, $25"
    expect:
      no_tool_call: true
  - id: arguments-broken
    input: "this is broken"
    expect:
      tool_call: {name: escalate}
"""


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_tool_calls_are_read_normalised_and_checked(pytester: pytest.Pytester, stream: bool) -> None:
    with FaultServer(reply=lambda _: "", tool_calls_for=support) as server:
        rows = {row["id"]: row for row in run(pytester, server, stream, CASES)}
        assert all(body["tools"] == TOOLS for body in server.bodies)  # the tools reached the server
    assert rows["refund-right"]["passed"] is True
    assert rows["refund-right"]["tool_calls"][0]["name"] == "issue_refund"
    assert rows["refund-right"]["tool_calls"][0]["arguments"] == {"order_id": "48213", "amount": 25}
    wrong = rows["refund-wrong-argument"]
    assert wrong["passed"] is False
    detail = next(c["detail"] for c in wrong["checks"] if c["name"] == "tool_call")
    assert "issue_refund" in detail and "order_id" in detail and "99999" in detail and "48213" in detail
    assert rows["refund-no-call-expected"]["passed"] is False
    broken = rows["arguments-broken"]
    assert broken["passed"] is False
    failed_format = [c for c in broken["checks"] if c["kind"] == "format" and not c["passed"]]
    assert failed_format and '{"reason": "oops"' in failed_format[0]["detail"]  # the raw text is shown


TURNS = """
defaults:
  tools: {file: tools.json}
cases:
  - id: refund-asks-first
    turns:
      - user: "I want a refund"
        expect: {no_tool_call: true, contains: "order"}
      - user: "It is order 48213"
        expect: {tool_call: {name: issue_refund, arguments: {order_id: "48213"}, match: subset}}
"""


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_second_turn_holds_the_models_own_first_reply(pytester: pytest.Pytester, stream: bool) -> None:
    with FaultServer(reply=lambda _: "Which order number is it?", tool_calls_for=support) as server:
        rows = run(pytester, server, stream, TURNS)
        bodies = list(server.bodies)
    assert len(bodies) == 2
    second = bodies[1]["messages"]
    assert [m["role"] for m in second[-3:]] == ["user", "assistant", "user"]
    assert second[-2]["content"] == "Which order number is it?"  # the model's real reply, not one written by hand
    assert second[-1]["content"] == "It is order 48213"
    (row,) = rows
    assert row["passed"] is True
    assert len(row["turns"]) == 2


def test_a_failing_first_turn_fails_the_case_and_is_named(pytester: pytest.Pytester) -> None:
    with FaultServer(reply=lambda _: "Sure, refunded.", tool_calls_for=support) as server:
        (row,) = run(pytester, server, False, TURNS)
    assert row["passed"] is False
    failed = [c for c in row["checks"] if not c["passed"]]
    assert failed and failed[0]["detail"].startswith("turn 1")


def test_response_format_reaches_the_backend(pytester: pytest.Pytester) -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    cases = (
        "cases:\n  - id: structured\n    input: 'route this'\n"
        f"    response_format: {json.dumps(schema)}\n    format: {{json: true}}\n"
    )
    with FaultServer(reply=lambda _: '{"label": "billing"}') as server:
        (row,) = run(pytester, server, False, cases)
        body = server.bodies[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert row["format_ok"] is True
