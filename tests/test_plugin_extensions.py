"""What plugins add: check types through a hook, backends that must implement the protocol, server pools."""

from __future__ import annotations

import json

import pytest
from faultserver import FaultServer


def test_a_plugin_registers_a_check_type(fake_suite: pytest.Pytester) -> None:
    fake_suite.makeconftest("""
def pytest_llmgate_register_checks(registry):
    registry.register("correctness", "starts_with",
                      run=lambda output, prefix: (output.startswith(prefix), f"should start with {prefix!r}", None),
                      validate=lambda prefix: None if isinstance(prefix, str) else "a string")
""")
    fake_suite.makefile(
        ".llm.yaml",
        edge="cases:\n  - {id: prefix, input: charged, expect: {starts_with: bill}}\n"
        "  - {id: other, input: charged, expect: {starts_with: tech}}\n",
    )
    result = fake_suite.runpytest("edge.llm.yaml", "--llm-report-json=r.json")
    rows = {r["id"]: r for r in json.loads((fake_suite.path / "r.json").read_text())["cases"]}
    assert rows["prefix"]["passed"] is True and rows["other"]["passed"] is False
    result.stdout.fnmatch_lines(["*failed correctness check starts_with: should start with 'tech'"])
    fake_suite.makefile(".llm.yaml", edge="cases:\n  - {id: bad, input: x, expect: {starts_with: 3}}\n")
    fake_suite.runpytest("edge.llm.yaml").stdout.fnmatch_lines(
        ["*edge.llm.yaml:2: case 'bad': 'starts_with' must be a string"]
    )


def test_a_plugin_backend_must_implement_the_protocol(fake_suite: pytest.Pytester) -> None:
    fake_suite.makeconftest("""
def pytest_llmgate_make_backend(spec):
    if spec.provider == "broken":
        return object()
""")
    fake_suite.makefile(".yaml", llmgate="default_backend: b\nbackends:\n  b: {provider: broken, model: m}\n")
    result = fake_suite.runpytest()
    result.stdout.fnmatch_lines(
        ["*backend 'b': the plugin made a object, which does not implement the Backend protocol*"]
    )
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_calls_are_spread_over_a_pool_of_servers(fake_suite: pytest.Pytester) -> None:
    with FaultServer(reply=lambda _: "billing") as first, FaultServer(reply=lambda _: "billing") as second:
        fake_suite.makefile(
            ".yaml",
            llmgate=f"""
default_backend: pool
backends:
  pool: {{provider: openai, model: m, base_url: [{first.url}, {second.url}], max_retries: 0}}
""",
        )
        fake_suite.makefile(
            ".llm.yaml",
            common="cases:\n"
            + "".join(f"  - {{id: c{i}, input: 'ticket {i}', expect: {{label: billing}}}}\n" for i in range(10)),
        )
        result = fake_suite.runpytest("--llm-cache=off")
        assert result.ret == pytest.ExitCode.OK
        assert first.requests == second.requests == 5
