"""Concurrent calls, the response cache, record and replay, and repeats, against a real local server."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from faultserver import FaultServer

CONFIG = """
default_backend: api
thresholds:
  common: {accuracy: 0.0}
backends:
  api:
    provider: openai
    model: any
    base_url: %(url)s
    api_key_env: LLMGATE_SPEED_KEY
    max_retries: 0
    system_prompt: "Route the ticket."
    params: {temperature: %(temperature)s, max_tokens: 8}
"""
SECRET = "sk-llmgate-speed-SECRET-77"


def cases(count: int) -> str:
    """``count`` cases; every answer 'billing' passes."""
    return "cases:\n" + "".join(
        f"  - {{id: c{i:03d}, input: 'ticket {i}', expect: {{label: billing}}}}\n" for i in range(count)
    )


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """Answers 'billing' after 100 ms, except to a ticket saying 'wrong'."""
    with FaultServer(reply=lambda text: "general" if "wrong" in text else "billing", latency_ms=100) as running:
        yield running


@pytest.fixture
def suite(pytester: pytest.Pytester, server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("LLMGATE_SPEED_KEY", SECRET)
    pytester.makefile(".yaml", llmgate=CONFIG % {"url": server.url, "temperature": 0})
    pytester.makefile(".llm.yaml", common=cases(40))
    return pytester


def rows(pytester: pytest.Pytester, name: str = "r.json") -> list[dict]:
    return json.loads((pytester.path / name).read_text())["cases"]


def test_calls_run_concurrently_within_the_bound_and_report_in_order(
    suite: pytest.Pytester, server: FaultServer
) -> None:
    result = suite.runpytest("--llm-concurrency=8", "--llm-cache=off", "-v", "--llm-report-json=r.json")
    assert server.requests == 40
    assert 2 <= server.max_in_flight <= 8
    lines = [line for line in result.stdout.lines if "::c0" in line and "PASSED" in line]
    assert [line.split("::")[1][:4] for line in lines] == [f"c{i:03d}" for i in range(40)]
    assert all(row["status"] == "answered" and row["passed"] for row in rows(suite))


def test_the_config_bound_is_kept_when_smaller(suite: pytest.Pytester, server: FaultServer) -> None:
    config = suite.path / "llmgate.yaml"
    config.write_text(config.read_text().replace("    max_retries: 0\n", "    max_retries: 0\n    concurrency: 3\n"))
    suite.runpytest("--llm-concurrency=16", "--llm-cache=off")
    assert server.requests == 40 and server.max_in_flight <= 3


def test_only_selected_cases_are_called(suite: pytest.Pytester, server: FaultServer) -> None:
    suite.runpytest("-k", "c005 or c017", "--llm-cache=off")
    assert sorted(server.questions) == ["ticket 17", "ticket 5"]


def test_no_call_starts_after_a_stop(suite: pytest.Pytester, server: FaultServer) -> None:
    suite.makefile(".llm.yaml", common=cases(40).replace("'ticket 3'", "'ticket 3 wrong'"))
    result = suite.runpytest("-x", "--llm-concurrency=4", "--llm-cache=off", "--llm-report-json=r.json")
    assert server.requests <= 4 + 4 + 4  # the cases run, the ones in flight, the next queued at the stop
    assert "gates passed" not in result.stdout.str()
    assert sum(row["status"] == "not_run" for row in rows(suite)) >= 40 - 12


def test_an_unchanged_rerun_is_answered_from_the_cache(suite: pytest.Pytester, server: FaultServer) -> None:
    suite.runpytest("--llm-report-json=first.json")
    assert server.requests == 40
    result = suite.runpytest("--llm-report-json=second.json")
    assert server.requests == 40  # nothing called again
    second = rows(suite, "second.json")
    assert all(row["cached"] and row["passed"] for row in second)
    first = {row["id"]: row for row in rows(suite, "first.json")}
    assert all(row["latency_ms"] == first[row["id"]]["latency_ms"] for row in second)  # the measured latency is kept
    result.stdout.fnmatch_lines(["40 of 40 answers came from the response cache or a recording*"])


def test_what_changes_the_answer_is_called_again_and_nothing_else(suite: pytest.Pytester, server: FaultServer) -> None:
    suite.runpytest()
    suite.makefile(".llm.yaml", common=cases(40).replace("label: billing", "label: general"))  # expectations only
    suite.runpytest()
    assert server.requests == 40
    config = suite.path / "llmgate.yaml"
    config.write_text(config.read_text().replace("Route the ticket.", "Route the support ticket."))
    suite.runpytest()
    assert server.requests == 80
    suite.runpytest("--llm-refresh")
    assert server.requests == 120


def test_record_then_replay_without_a_key_or_a_server(
    suite: pytest.Pytester, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makefile(".llm.yaml", common=cases(5).replace("'ticket 2'", f"'my key is {SECRET}'"))
    suite.runpytest("--llm-record=recording.jsonl", "--llm-cache=off")
    recording = (suite.path / "recording.jsonl").read_text()
    assert len(recording.splitlines()) == 5 and SECRET not in recording
    server.stop()
    monkeypatch.delenv("LLMGATE_SPEED_KEY")
    result = suite.runpytest("--llm-replay=recording.jsonl", "--llm-report-json=r.json")
    assert result.ret == pytest.ExitCode.OK
    assert [row["cached"] for row in rows(suite)] == [True] * 5
    suite.makefile(".llm.yaml", common=cases(6))
    result = suite.runpytest("--llm-replay=recording.jsonl", "--llm-report-json=r.json")
    result.stdout.fnmatch_lines(
        ["*common.llm.yaml::c005 [[]api[]]: no answer in the recording *recording.jsonl; record the suite again*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result = suite.runpytest("--llm-replay=missing.jsonl")
    result.stderr.fnmatch_lines(["ERROR: --llm-replay: no recording at *missing.jsonl; make one with --llm-record=*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_repeats_sample_each_case_and_find_the_flaky_ones(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = itertools.cycle(["billing", "billing", "general"])
    with FaultServer(reply=lambda text: "billing" if "steady" in text else next(answers)) as server:
        monkeypatch.setenv("LLMGATE_SPEED_KEY", SECRET)
        pytester.makefile(".yaml", llmgate=CONFIG % {"url": server.url, "temperature": 0.7})
        pytester.makefile(
            ".llm.yaml",
            common="""
cases:
  - {id: steady, input: steady ticket, expect: {label: billing}}
  - {id: wobbly, input: wobbly ticket, expect: {label: billing}, repeat: 6}
""",
        )
        result = pytester.runpytest("--llm-report-json=r.json", "--llm-concurrency=1", "-v")
        assert server.requests == 7
        result.stdout.fnmatch_lines(
            [
                "*wobbly[[]api#6[]] *",
                "repeats, api: 1 cases, 6 sampled draws: pass rate 0.67*",
                "  flaky: common.llm.yaml::wobbly (4/6)",
            ]
        )
        data = json.loads((pytester.path / "r.json").read_text())
        assert [(r["id"], r["draws_passed"], r["pass_all"], r["flaky"]) for r in data["repeats"]] == [
            ("wobbly", 4, False, True)
        ]
        [summary] = data["summary"]
        assert (summary["graded"], summary["passed"]) == (7, 5)  # every draw counts in the accuracy
        pytester.runpytest("--llm-repeat=2")  # sampled (temperature 0.7): each draw is its own cache entry
        assert server.requests == 7 + 1  # only steady's second draw is new


def test_repeats_at_temperature_zero_are_one_answer_counted_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultServer(reply=lambda text: "billing" if "steady" in text else "general") as server:
        monkeypatch.setenv("LLMGATE_SPEED_KEY", SECRET)
        pytester.makefile(".yaml", llmgate=CONFIG % {"url": server.url, "temperature": 0})
        pytester.makefile(
            ".llm.yaml",
            common="""
cases:
  - {id: steady, input: steady ticket, expect: {label: billing}}
  - {id: wrong, input: wrong ticket, expect: {label: billing}}
""",
        )
        result = pytester.runpytest("--llm-report-json=r.json", "--llm-repeat=3")
        result.stdout.fnmatch_lines(
            ["api: repeat 3 at temperature 0: the 3 draws of each of 2 cases are identical*: counted once; *"]
        )
        result.stdout.no_fnmatch_line("repeats, api:*")  # no pass^k or flakiness from draws that cannot differ
        data = json.loads((pytester.path / "r.json").read_text())
        assert len(data["cases"]) == 6 and data["repeats"] == []
        [summary] = data["summary"]
        assert (summary["graded"], summary["passed"], summary["clusters"]) == (2, 1, 2)
        assert data["verdict"]["answered"] == 2


def test_xdist_workers_call_each_case_once(suite: pytest.Pytester, server: FaultServer) -> None:
    result = suite.runpytest_subprocess("-n", "2", "--llm-cache=off", "--llm-report-json=r.json")
    assert sorted(server.questions) == sorted(f"ticket {i}" for i in range(40))
    assert len(rows(suite)) == 40 and all(row["passed"] for row in rows(suite))
    result.stdout.fnmatch_lines(["llmgate: all gates passed (40 answered)"])


def test_an_interrupted_run_leaves_a_readable_cache(suite: pytest.Pytester, server: FaultServer) -> None:
    suite.makeconftest(
        "def pytest_runtest_setup(item):\n    if item.name.startswith('c020'):\n        raise KeyboardInterrupt\n"
    )
    suite.runpytest_subprocess()
    called = server.requests
    assert called >= 20
    (suite.path / "conftest.py").unlink()
    suite.runpytest("--llm-report-json=r.json")
    cached = sum(row["cached"] for row in rows(suite))
    assert cached >= 20 and server.requests == called + 40 - cached
