"""provider: python: the team's own function is the backend, through the same scheduler, cache and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_llmgate.backends.base import BackendError
from pytest_llmgate.backends.python_provider import PythonBackend, load_function
from pytest_llmgate.backends.spec import BackendSpec

APP = '''
import asyncio

CALLS = []


def reply(messages):
    """Routes by keyword; reports its own tokens and bill."""
    text = messages[-1]["content"].lower()
    if "explode" in text:
        raise ValueError("ticket store unreachable\\nsecond line of detail")
    CALLS.append(text)
    label = "billing" if "charge" in text or "refund" in text else "technical" if "crash" in text else "general"
    return {"text": label, "prompt_tokens": 11, "completion_tokens": 1, "cost_usd": 0.002}


async def reply_async(messages):
    await asyncio.sleep(0.01)
    return "billing" if "charge" in messages[-1]["content"] else "general"
'''

CONFIG = """
default_backend: app
thresholds:
  common: {accuracy: 0.5}
backends:
  app:
    provider: python
    function: %s
    path: [src]
    system_prompt: "Route the ticket."
"""

CASES = """
cases:
  - {id: charge, input: I was charged twice, expect: {label: billing}}
  - {id: crash, input: The app crashes on start, expect: {label: technical}}
  - {id: hours, input: When are you open?, expect: {label: general}}
"""


def suite(pytester: pytest.Pytester, function: str = "support.app:reply", cases: str = CASES) -> Path:
    (pytester.path / "src" / "support").mkdir(parents=True)
    (pytester.path / "src" / "support" / "__init__.py").write_text("")
    app = pytester.path / "src" / "support" / "app.py"
    app.write_text(APP)
    pytester.makefile(".yaml", llmgate=CONFIG % function)
    pytester.makefile(".llm.yaml", common=cases)
    return app


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict]]:
    result = pytester.runpytest_subprocess(
        "--llm-report-json=r.json", "--llm-cache-dir=cache", "-p", "no:randomly", *args
    )
    report = pytester.path / "r.json"
    return result, json.loads(report.read_text())["cases"] if report.exists() else []


def test_a_function_gates_with_its_cost_latency_and_the_cache(pytester: pytest.Pytester) -> None:
    suite(pytester)
    result, rows = run(pytester)
    result.assert_outcomes(passed=3)
    assert {row["id"]: row["output"] for row in rows} == {"charge": "billing", "crash": "technical", "hours": "general"}
    assert all(row["cost_usd"] == 0.002 and row["prompt_tokens"] == 11 for row in rows)
    assert all(row["latency_ms"] > 0 and not row["cached"] and not row["tokens_estimated"] for row in rows)
    again, rows = run(pytester)
    again.assert_outcomes(passed=3)
    assert all(row["cached"] for row in rows)


def test_editing_the_function_source_misses_the_cache(pytester: pytest.Pytester) -> None:
    app = suite(pytester)
    run(pytester)[0].assert_outcomes(passed=3)
    # The same behaviour, different code: a new source hash, so every case is asked again.
    app.write_text(APP.replace('"general"\n    return', '"general"  # edited\n    return'))
    stat = app.stat()
    os.utime(app, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    result, rows = run(pytester)
    result.assert_outcomes(passed=3)
    assert not any(row["cached"] for row in rows)
    assert all(row["cached"] for row in run(pytester)[1])


def test_an_async_function_is_awaited(pytester: pytest.Pytester) -> None:
    suite(
        pytester,
        "support.app:reply_async",
        "cases:\n  - {id: charge, input: charged twice, expect: {label: billing}}\n",
    )
    result, rows = run(pytester)
    result.assert_outcomes(passed=1)
    assert rows[0]["output"] == "billing" and rows[0]["latency_ms"] >= 10 and rows[0]["tokens_estimated"]


def test_an_exception_is_a_one_line_error_of_its_case(pytester: pytest.Pytester) -> None:
    suite(pytester, cases=CASES + "  - {id: boom, input: please explode, expect: {label: general}}\n")
    result, rows = run(pytester)
    result.assert_outcomes(passed=3, errors=1)
    boom = next(row for row in rows if row["id"] == "boom")
    assert boom["status"] == "error"
    assert boom["error"] == "backend 'app': the function raised ValueError: ticket store unreachable"
    output = result.stdout.str()
    assert "ticket store unreachable" in output and "second line of detail" not in output
    assert "Traceback" not in output and 'raise ValueError("ticket store' not in output


@pytest.mark.parametrize(
    ("function", "wanted"),
    [
        (
            "support.missing:reply",
            "cannot import 'support.missing' for function 'support.missing:reply': ModuleNotFoundError",
        ),
        ("support.app:nope", "support.app has no 'nope' (from function 'support.app:nope')"),
        ("support.app:CALLS", "'support.app:CALLS' is a list, not a function"),
    ],
)
def test_a_function_that_cannot_be_loaded_stops_the_run_at_start(
    pytester: pytest.Pytester, function: str, wanted: str
) -> None:
    suite(pytester, function)
    result, _ = run(pytester)
    assert result.ret == 4
    assert f"llmgate.yaml:5: backend 'app': {wanted}" in result.stderr.str() + result.stdout.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_bad_reference_is_a_config_error(pytester: pytest.Pytester) -> None:
    suite(pytester, "support.app.reply")
    result, _ = run(pytester)
    assert result.ret == 4
    assert "llmgate.yaml:7: backend 'app': 'function' must be 'module:function'" in result.stderr.str()


def test_structured_results_are_checked(tmp_path: Path) -> None:
    (tmp_path / "results.py").write_text(
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Answer:\n    text: str\n    ttft_s: float | None = None\n    completion_tokens: int | None = None\n"
        "def good(messages):\n    return Answer('ok', ttft_s=0.0, completion_tokens=2)\n"
        "def typo(messages):\n    return {'text': 'ok', 'prompt_token': 3}\n"
        "def number(messages):\n    return 42\n"
    )
    spec = BackendSpec("app", "python", "x", tmp_path / "llmgate.yaml", function="results:good")
    answer = PythonBackend(spec, load_function(spec)).complete([{"role": "user", "content": "hi"}])
    assert (answer.text, answer.completion_tokens, answer.ttft_s, answer.tokens_estimated) == ("ok", 2, 0.0, True)
    for name, wanted in [("typo", "unknown field 'prompt_token'"), ("number", "returned a int; return a str")]:
        spec = BackendSpec("app", "python", "x", tmp_path / "llmgate.yaml", function=f"results:{name}")
        with pytest.raises(Exception, match=wanted):
            PythonBackend(spec, load_function(spec)).complete([{"role": "user", "content": "hi"}])


def test_sync_functions_run_in_the_schedulers_threads_up_to_the_ceiling(pytester: pytest.Pytester) -> None:
    cases = "".join(f"  - {{id: c{i}, input: t{i}, expect: {{label: general}}}}\n" for i in range(12))
    suite(pytester, "support.slow:reply", "cases:\n" + cases)
    (pytester.path / "src" / "support" / "slow.py").write_text(
        "import threading, time\n"
        "lock, now, peak = threading.Lock(), [0], [0]\n"
        "def reply(messages):\n"
        "    with lock:\n        now[0] += 1\n        peak[0] = max(peak[0], now[0])\n"
        "    time.sleep(0.2)\n"
        "    with lock:\n        now[0] -= 1\n"
        "    open('peak.txt', 'w').write(str(peak[0]))\n"
        "    return 'general'\n"
    )
    (pytester.path / "llmgate.yaml").write_text((CONFIG % "support.slow:reply") + "    concurrency: 3\n")
    result, _ = run(pytester, "--llm-cache=off")
    result.assert_outcomes(passed=12)
    assert (pytester.path / "peak.txt").read_text() == "3"  # calls overlapped, never more than the ceiling


@pytest.mark.slow
def test_the_example_app_gates_the_embedded_model_with_cost_latency_and_cache(tmp_path: Path) -> None:
    """example_suite/app: a function that builds its prompt and calls SmolLM2 in-process."""
    root = Path(__file__).parents[1]

    def gate() -> tuple[subprocess.CompletedProcess[str], list[dict]]:
        args = ["example_suite/app", "-q", "-p", "no:cacheprovider", f"--llm-cache-dir={tmp_path / 'cache'}"]
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *args, f"--llm-report-json={tmp_path / 'r.json'}"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return done, json.loads((tmp_path / "r.json").read_text())["cases"]

    first, rows = gate()
    assert "all gates passed (9 answered)" in first.stdout, first.stdout[-2000:] + first.stderr[-2000:]
    assert all(row["cost_usd"] > 0 and row["latency_ms"] > 0 and not row["tokens_estimated"] for row in rows)
    assert {row["output"] for row in rows} <= {"billing", "technical", "general"}
    second, again = gate()
    assert "all gates passed (9 answered)" in second.stdout
    assert all(row["cached"] for row in again)
    assert [row["output"] for row in again] == [row["output"] for row in rows]


AGENT = '''
import json


def agent(messages, tools=None, tool_choice=None):
    """A support agent: with the refund tool, an order number is an issue_refund call (OpenAI's shape); asked
    where an order is, a lookup_order call (the flat shape); after a tool's answer, a confirmation."""
    names = [tool["function"]["name"] for tool in tools or []]
    last = messages[-1]
    if last["role"] == "tool":
        return {"text": "Refunded: " + json.loads(last["content"])["status"]}
    if "issue_refund" in names and "48213" in last["content"]:
        call = {"name": "issue_refund", "arguments": json.dumps({"order_id": "48213"})}
        return {"text": None, "tool_calls": [{"id": "call-7", "type": "function", "function": call}]}
    if "lookup_order" in names and "where" in last["content"].lower():
        return {"text": "", "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "77"}}]}
    return "general" if tools is None else "no tool fits"


def chat_only(messages):
    return "general"
'''
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("issue_refund", "lookup_order")
]
TOOL_CASES = """
cases:
  - id: refund
    input: "Please refund order 48213"
    tools: {file: tools.json}
    expect: {tool_call: {name: issue_refund, arguments: {order_id: "48213"}, match: exact}}
  - id: where
    input: "Where is my order?"
    tools: {file: tools.json}
    expect: {tool_call: {name: lookup_order, arguments: {order_id: "77"}}}
  - id: plain
    input: "When are you open?"
    expect: {label: general}
  - id: refund-done
    tools: {file: tools.json}
    turns:
      - user: "Refund order 48213 please"
        tool_results: {issue_refund: {status: done}}
        expect: {tool_call: {name: issue_refund}, contains: "Refunded: done"}
"""


def test_a_function_gets_the_cases_tools_and_its_tool_calls_are_checked(pytester: pytest.Pytester) -> None:
    suite(pytester, "support.agent:agent", TOOL_CASES)
    (pytester.path / "src" / "support" / "agent.py").write_text(AGENT)
    pytester.makefile(".json", tools=json.dumps(TOOLS))
    result, rows = run(pytester, "--llm-cache=off")
    result.assert_outcomes(passed=4)
    by_id = {row["id"]: row for row in rows}
    # OpenAI's shape and the flat one are both normalised: name, parsed arguments, id
    assert by_id["refund"]["tool_calls"] == [
        {"name": "issue_refund", "arguments": {"order_id": "48213"}, "id": "call-7", "valid": True}
    ]
    assert by_id["where"]["tool_calls"] == [
        {"name": "lookup_order", "arguments": {"order_id": "77"}, "id": "", "valid": True}
    ]
    assert by_id["plain"]["output"] == "general"  # a case without tools calls the function without them
    # the conversation: the tool's result went back to the function, which answered from it
    (turn,) = by_id["refund-done"]["turns"]
    assert turn["output"] == "Refunded: done" and len(turn["steps"]) == 2


def test_a_case_with_tools_on_a_function_that_takes_none_is_its_error(pytester: pytest.Pytester) -> None:
    suite(pytester, "support.agent:chat_only", TOOL_CASES.split("  - id: where")[0])
    (pytester.path / "src" / "support" / "agent.py").write_text(AGENT)
    pytester.makefile(".json", tools=json.dumps(TOOLS))
    result, rows = run(pytester, "--llm-cache=off")
    result.assert_outcomes(errors=1)
    assert rows[0]["error"] == (
        "backend 'app': the case sends tools, which the function takes no parameter for; "
        "add tools=None (or **options) to its signature"
    )


def test_malformed_tool_calls_are_a_malformed_answer(tmp_path: Path) -> None:
    (tmp_path / "calls.py").write_text(
        "def nameless(messages):\n    return {'text': '', 'tool_calls': [{'arguments': {}}]}\n"
        "def nothing(messages):\n    return {'tool_calls': []}\n"
    )
    for name, wanted in [
        ("nameless", r"tool_calls\[0\] = a mapping; a call must be a ToolCall"),
        ("nothing", "no 'text' \\(and no 'tool_calls'\\)"),
    ]:
        spec = BackendSpec("app", "python", "x", tmp_path / "llmgate.yaml", function=f"calls:{name}")
        with pytest.raises(BackendError, match=wanted):
            PythonBackend(spec, load_function(spec)).complete([{"role": "user", "content": "hi"}])


PRICED = """
    pricing: {per_hour_usd: 3600, input_per_mtok_usd: 1000000}
"""


def test_the_functions_own_cost_survives_the_cache_and_a_replay(pytester: pytest.Pytester) -> None:
    """Priced by its config the answers would cost dollars; the function's own bill ($0.002) is what every run
    shows: asked, answered from the cache (and counted, though priced by the hour) and replayed."""
    suite(pytester)
    (pytester.path / "llmgate.yaml").write_text((CONFIG % "support.app:reply") + PRICED)

    def costs(*args: str) -> tuple[list[float], dict]:
        result, rows = run(pytester, *args)
        result.assert_outcomes(passed=3)
        document = json.loads((pytester.path / "r.json").read_text())
        return [row["cost_usd"] for row in rows], document["cost"]["backends"][0]

    asked, _ = costs("--llm-record=answers.jsonl")
    cached, projection = costs()
    replayed, _ = costs("--llm-replay=answers.jsonl")
    assert asked == cached == replayed == [0.002] * 3
    assert projection["priced"] == 3 and projection["cached_left_out"] == 0
    recorded = [json.loads(line) for line in (pytester.path / "answers.jsonl").read_text().splitlines()]
    assert [entry["cost_usd"] for entry in recorded] == [0.002] * 3
