"""Tools declared on a backend, the start-up error for options a provider cannot send, and the tool-call accuracy
per backend and category in the reports; against a real OpenAI-compatible server on 127.0.0.1 (tests/faultserver.py,
which records every request body) or, for the pure arithmetic, on rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faultserver import FaultServer

from pytest_llmgate.verdict.analysis import ToolAccuracy, tool_accuracy
from pytest_llmgate.verdict.compare import ALL
from pytest_llmgate.verdict.rows import CaseRow


def tool(name: str, description: str = "") -> dict[str, Any]:
    parameters = {"type": "object", "properties": {"order_id": {"type": "string"}}}
    return {
        "type": "function",
        "function": {"name": name, "description": description or name, "parameters": parameters},
    }


BACKEND_TOOLS = [tool("lookup_order"), tool("issue_refund", "the backend's refund")]
CONFIG = """
default_backend: api
backends:
  api:
    provider: openai
    model: any
    base_url: %s
    stream: false
    max_retries: 1
    timeout_s: 10
    tools: {file: tools.json}
    params: {temperature: 0, max_tokens: 32}
"""


def support(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A scripted assistant: an order number is an issue_refund call, 'where' a lookup_order call, else a text."""
    last = messages[-1].get("content") or ""
    if "48213" in last:
        return [{"name": "issue_refund", "arguments": json.dumps({"order_id": "48213"})}]
    if "where" in last:
        return [{"name": "lookup_order", "arguments": json.dumps({"order_id": "1"})}]
    return []


def test_backend_tools_are_sent_with_every_case_and_the_case_wins_per_name(pytester: pytest.Pytester) -> None:
    case_refund = tool("issue_refund", "the case's refund")
    cases = f"""
cases:
  - id: backend-tools-only
    input: "where is it"
    expect: {{tool_call: {{name: lookup_order}}}}
  - id: case-adds-and-overrides
    input: "refund 48213"
    tools: {json.dumps([case_refund, tool("escalate")])}
    expect: {{tool_call: {{name: issue_refund, arguments: {{order_id: "48213"}}}}}}
"""
    with FaultServer(reply=lambda _: "", tool_calls_for=support) as server:
        pytester.makefile(".yaml", llmgate=CONFIG % server.url)
        pytester.makefile(".json", tools=json.dumps(BACKEND_TOOLS))
        pytester.makefile(".llm.yaml", common=cases)
        result = pytester.runpytest("-p", "no:cacheprovider", "--llm-cache=off")
        bodies = {body["messages"][-1]["content"]: body for body in server.bodies}
    result.assert_outcomes(passed=2)
    assert bodies["where is it"]["tools"] == BACKEND_TOOLS
    # the case's issue_refund takes the backend's place; its escalate follows the backend's tools
    assert bodies["refund 48213"]["tools"] == [BACKEND_TOOLS[0], case_refund, tool("escalate")]


def test_backend_tools_on_a_provider_that_cannot_send_them_is_a_config_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        llmgate="backends:\n  fake:\n    provider: fake\n    model: scripted\n    tools: {file: tools.json}\n",
    )
    pytester.makefile(".json", tools=json.dumps(BACKEND_TOOLS))
    pytester.makefile(".llm.yaml", common="cases:\n  - id: one\n    input: hi\n    expect: {contains: hi}\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-backend=fake")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*llmgate.yaml:5*backend 'fake': provider fake cannot send tools*"])


def test_a_provider_that_cannot_send_a_cases_options_is_said_once_at_start_up(pytester: pytest.Pytester) -> None:
    fake = "backends:\n  fake:\n    provider: fake\n    model: scripted\n    options: {default_reply: hi}\n"
    pytester.makefile(".yaml", llmgate=fake)
    pytester.makefile(".json", tools=json.dumps(BACKEND_TOOLS))
    cases = "\n".join(
        f"  - id: refund-{n}\n    input: refund {n}\n    tools: {{file: tools.json}}\n"
        "    expect: {tool_call: {name: issue_refund}}"
        for n in range(3)
    )
    plain = "\n  - id: plain\n    input: hi\n    expect: {contains: hi}\n"
    pytester.makefile(".llm.yaml", common=f"cases:\n{cases}{plain}")
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-backend=fake")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "cannot send" in line]
    assert len(errors) == 1  # once for the backend, not once per case
    assert "backend 'fake' (provider fake) cannot send tools, which 3 selected cases use" in errors[0]
    assert "common.llm.yaml::refund-0" in errors[0] and "openai" in errors[0]
    # deselecting the cases that need tools leaves a run the backend can serve
    result = pytester.runpytest("-p", "no:cacheprovider", "--llm-backend=fake", "-k", "plain")
    assert result.ret != pytest.ExitCode.USAGE_ERROR
    result.assert_outcomes(failed=0, errors=0, passed=1, deselected=3)


def row(backend: str, category: str, case: str, *checks: tuple[str, bool]) -> CaseRow:
    made = [{"name": name, "kind": "correctness", "passed": ok, "detail": ""} for name, ok in checks]
    return CaseRow(id=case, file="t.llm.yaml", group=".", category=category, backend=backend, checks=made)


def test_tool_accuracy_counts_tool_checks_per_backend_and_category() -> None:
    rows = [
        row("a", "common", "c1", ("tool_call", True), ("contains", False)),
        row("a", "common", "c2", ("tool_call", False)),
        row("a", "edge", "e1", ("no_tool_call", True), ("tool_call", True)),  # two turns, a check each
        row("a", "adversarial", "x1", ("contains", True)),  # no tool check: not counted
        row("b", "common", "c1", ("label", True)),  # a backend with no tool check has no line
    ]
    found = {(t.backend, t.category): t for t in tool_accuracy(rows)}
    assert set(found) == {("a", "common"), ("a", "edge"), ("a", ALL)}
    assert found[("a", "common")] == ToolAccuracy("a", "common", checks=2, passed=1, cases=2)
    assert found[("a", "edge")].rate == 1.0
    assert found[("a", ALL)] == ToolAccuracy("a", ALL, checks=4, passed=3, cases=3)
    assert [t.category for t in tool_accuracy(rows)] == ["common", "edge", ALL]


def test_tool_accuracy_is_in_the_terminal_json_and_markdown_reports(pytester: pytest.Pytester) -> None:
    cases = """
defaults:
  tools: {file: tools.json}
cases:
  - id: refund-right
    input: "refund 48213"
    expect: {tool_call: {name: issue_refund, arguments: {order_id: "48213"}}}
  - id: refund-expected-but-none
    input: "refund please"
    expect: {tool_call: {name: issue_refund}}
"""
    with FaultServer(reply=lambda _: "Which order?", tool_calls_for=support) as server:
        pytester.makefile(".yaml", llmgate=CONFIG % server.url)
        pytester.makefile(".json", tools=json.dumps(BACKEND_TOOLS))
        pytester.makefile(".llm.yaml", common=cases)
        result = pytester.runpytest(
            "-p", "no:cacheprovider", "--llm-cache=off", "--llm-report-json=r.json", "--llm-report-md=r.md"
        )
    result.stdout.fnmatch_lines(
        ["tool-call accuracy:", "*backend*category*cases*tool checks*passed*accuracy*", "*api*common*2*2*1*0.50*"]
    )
    accuracy = json.loads((pytester.path / "r.json").read_text())["tool_call_accuracy"]
    assert {(a["category"], a["checks"], a["passed"], a["rate"]) for a in accuracy} == {
        ("common", 2, 1, 0.5),
        (ALL, 2, 1, 0.5),
    }
    assert "### Tool-call accuracy" in (pytester.path / "r.md").read_text()


def collected(*args: str) -> list[str]:
    """The node ids `pytest --collect-only` lists for ``args``, run from the repository root."""
    root = Path(__file__).parent.parent
    command = [sys.executable, "-m", "pytest", *args, "--collect-only", "-q", "-p", "no:cacheprovider"]
    listing = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300).stdout
    return [line for line in listing.splitlines() if "::" in line]


def test_the_support_tools_example_is_a_suite_of_its_own() -> None:
    """Collected when named (its own llmgate.yaml and backends), never as part of `pytest example_suite`."""
    own = collected("example_suite/support_tools")
    assert len(own) == 13 and all(node.endswith("[smollm2-tools]") for node in own)
    assert {node.split("::")[0].rsplit("/", 1)[1] for node in own} == {
        "common.llm.yaml",
        "edge.llm.yaml",
        "adversarial.llm.yaml",
    }
    assert not [node for node in collected("example_suite") if "support_tools" in node]
