"""A whole run against a fault-injecting OpenAI-compatible server: no fault is ever scored as an answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from faultserver import FaultServer

LASTING = ["503", "500", "truncate", "badjson", "badbytes", "empty", "nocontent", "cut", "429", "reset"]
TRANSIENT = [
    "503x1",
    "500x2",
    "truncatex1",
    "badjsonx1",
    "emptyx1",
    "resetx1",
    "cutx2",
    "429x1",
    "badbytesx1",
    "nocontentx1",
]
CONFIG = """
default_backend: api
thresholds:
  common: {accuracy: 0.9}
backends:
  api:
    provider: openai
    model: any
    base_url: %s
    max_retries: 4
    timeout_s: 10
    params: {temperature: 0, max_tokens: 8}
"""


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """Every answer is 'billing' (right for every case), 20% of attempts fail at random, quickly."""
    with FaultServer(reply=lambda _: "billing", fault_rate=0.2, seed=7, retry_after_s=0.01) as running:
        yield running


def test_a_hundred_cases_with_faults(pytester: pytest.Pytester, server: FaultServer) -> None:
    inputs = [f"ticket {i}" for i in range(80)] + [f"ticket FAULT:{m}" for m in TRANSIENT + LASTING]
    pytester.makefile(".yaml", llmgate=CONFIG % server.url)
    pytester.makefile(
        ".llm.yaml",
        common="cases:\n"
        + "".join(
            f"  - {{id: c{i:03d}, input: '{text}', expect: {{label: billing}}}}\n" for i, text in enumerate(inputs)
        ),
    )
    result = pytester.runpytest("--llm-report-json=r.json", "-p", "no:cacheprovider", "-p", "no:randomly")
    rows = json.loads((pytester.path / "r.json").read_text())["cases"]
    assert len(rows) == 100
    answered = [r for r in rows if r["status"] == "answered"]
    errors = [r for r in rows if r["status"] == "error"]
    assert all(r["passed"] and r["output"] == "billing" for r in answered)  # not one fault scored as a miss
    assert {r["input"] for r in errors} >= {f"ticket FAULT:{m}" for m in LASTING}
    assert not {r["input"] for r in errors} & {f"ticket FAULT:{m}" for m in TRANSIENT}  # retried, then answered
    for row in errors:
        assert "\n" not in row["error"] and f"127.0.0.1:{server.port}" in row["error"]
        assert "attempt" in row["error"] or "malformed" in row["error"] or "not UTF-8" in row["error"]
    assert len(answered) + len(errors) == 100
    result.stdout.fnmatch_lines([f"llmgate: INCOMPLETE ({len(answered)} answered, {len(errors)} errored): *"])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
