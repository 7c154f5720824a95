"""A whole run against servers that take fewer calls at once than the default ceiling, or hang once:
every case is answered, and the report says where the concurrency settled."""

from __future__ import annotations

import json
import time

import pytest
from faultserver import FaultServer

pytestmark = pytest.mark.slow

CONFIG = """
default_backend: api
thresholds:
  common: {accuracy: 0.9}
backends:
  api:
    provider: openai
    model: any
    base_url: %s
    params: {temperature: 0, max_tokens: 8}
"""


def write_suite(pytester: pytest.Pytester, url: str, inputs: list[str], extra: str = "") -> None:
    pytester.makefile(".yaml", llmgate=CONFIG % url + extra)
    pytester.makefile(
        ".llm.yaml",
        common="cases:\n"
        + "".join(
            f"  - {{id: c{i:03d}, input: '{text}', expect: {{label: billing}}}}\n" for i, text in enumerate(inputs)
        ),
    )


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest("--llm-report-json=r.json", "-p", "no:cacheprovider", *args)
    return result, json.loads((pytester.path / "r.json").read_text())


def test_a_server_that_refuses_above_four_in_flight_settles_near_four(pytester: pytest.Pytester) -> None:
    with FaultServer(reply=lambda _: "billing", latency_ms=40, overload_above=4, retry_after_s=0.05) as server:
        write_suite(pytester, server.url, [f"ticket {i}" for i in range(60)])
        result, report = run(pytester, "--llm-concurrency=16")
    assert [row["status"] for row in report["cases"]] == ["answered"] * 60
    assert result.ret == pytest.ExitCode.OK
    assert server.rejected > 0 and server.max_in_flight <= 4
    (note,) = [note for note in report["notes"] if note.startswith("api: ")]
    assert "HTTP 429 (rate limited) at " in note
    settled = int(note.split("settled at ")[1].split()[0])
    assert 3 <= settled <= 5, note  # near 4: judged from the calls in flight, one of which may be done


def test_a_fixed_bound_is_never_adapted(pytester: pytest.Pytester) -> None:
    with FaultServer(reply=lambda _: "billing", latency_ms=20, overload_above=100) as server:
        write_suite(pytester, server.url, [f"ticket {i}" for i in range(24)], "    concurrency: {fixed: 3}\n")
        result, report = run(pytester)
    assert result.ret == pytest.ExitCode.OK
    assert server.max_in_flight == 3
    assert not [note for note in report["notes"] if note.startswith("api: ")]


def test_a_server_that_hangs_once_per_case_is_answered_on_the_retry(pytester: pytest.Pytester) -> None:
    """timeout_s=4 leaves each attempt 2 s (attempt_timeout_s by default): the hang is cut and asked again."""
    with FaultServer(reply=lambda _: "billing", max_hang_s=30) as server:
        write_suite(pytester, server.url, [f"ticket {i} FAULT:hangx1" for i in range(6)], "    timeout_s: 4\n")
        start = time.monotonic()
        result, report = run(pytester)
        elapsed = time.monotonic() - start
    assert [row["status"] for row in report["cases"]] == ["answered"] * 6
    assert result.ret == pytest.ExitCode.OK
    assert all(server.attempts(f"ticket {i} FAULT:hangx1") == 2 for i in range(6))
    assert elapsed < 30  # the hangs were cut, not waited out (each would hold its thread for 30 s)
