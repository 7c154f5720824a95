"""judge: checks graded by a real judge: SmolLM2 served by llama_cpp.server on 127.0.0.1 (provider openai), grading
the answers of a team's function (provider python); calibration, trust, errors, refusal and the cache, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_server import llama_server

pytestmark = pytest.mark.slow

APP = """
REPLIES = {
    "charged": "Sorry about the double charge: billing will refund the duplicate payment.",
    "crash": "Whatever. Reinstall it yourself.",
    "order": "Thanks for waiting: shipping will send you the tracking link.",
}


def reply(messages):
    text = messages[-1]["content"].lower()
    return next((answer for word, answer in REPLIES.items() if word in text), "No idea.")


def chatty(messages, **options):
    return "I think this answer is quite good, really."
"""

CALIBRATION = """
- {input: "I was charged twice.", output: "Sorry about that! Billing will refund the duplicate charge.", verdict: pass}
- {input: "I was charged twice.", output: "Not my problem.", verdict: fail}
- {input: "My app crashes.", output: "Sorry to hear that; our support team will look into the crash.", verdict: pass}
- {input: "My app crashes.", output: "Buy a new phone.", verdict: fail}
"""

CONFIG = """
default_backend: app
thresholds:
  common: {{accuracy: 0.5}}
backends:
  app: {{provider: python, function: "support_app:reply"}}
  other: {{provider: python, function: "support_app:chatty"}}
  judge-api:
    provider: openai
    model: smollm2
    base_url: {url}
    api_key_env: NO_KEY_NEEDED
    params: {{max_tokens: 64}}
  judge-chatty: {{provider: python, function: "support_app:chatty"}}
rubrics:
  reply-quality:
    text: "The reply is polite and names the team that will act."
    judge: {judge}
    min_kappa: {min_kappa}
{calibration}
"""

CASES = """
cases:
  - id: double-charge
    input: "I was charged twice this month."
    expect:
      judge: {rubric: reply-quality, reference: "Sorry about that: billing will refund the duplicate charge.", compare: [app, other]}
  - id: crash
    input: "The app crashes when I open settings."
    expect: {judge: {rubric: reply-quality}}
  - id: order
    input: "Where is my order?"
    expect: {judge: {rubric: reply-quality}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The embedded SmolLM2 behind llama_cpp.server at its defaults, and its access log."""
    with llama_server(tmp_path_factory.mktemp("judge-server")) as served:
        yield served


def judge_calls(log: Path) -> int:
    return log.read_text().count('"POST /v1/chat/completions HTTP/1.1" 200')


def suite(
    pytester: pytest.Pytester, url: str, judge: str = "judge-api", min_kappa: float = -1.0, calibrated: bool = True
) -> None:
    pytester.makepyfile(support_app=APP)
    (pytester.path / "replies.calibration.yaml").write_text(CALIBRATION)
    calibration = "    calibration: replies.calibration.yaml" if calibrated else ""
    config = CONFIG.format(url=url, judge=judge, min_kappa=min_kappa, calibration=calibration)
    pytester.makefile(".yaml", llmgate=config)
    pytester.makefile(".llm.yaml", common=CASES)


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--junitxml=out.xml",
        "--llm-report-json=out.json",
        "--llm-report-md=out.md",
        "--llm-report-html=out.html",
        *args,
    )
    return result, json.loads((pytester.path / "out.json").read_text())


def test_judge_grades_with_reasons_reports_calibration_everywhere_and_a_second_run_calls_no_judge(
    pytester: pytest.Pytester, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, log = server
    monkeypatch.setenv("NO_KEY_NEEDED", "unused")
    suite(pytester, url)
    before = judge_calls(log)
    result, data = run(pytester)
    text = result.stdout.str()
    rows = {row["id"]: row for row in data["cases"]}
    assert set(rows) == {"double-charge", "crash", "order"}  # calibration and pairwise rows are reported apart
    for row in rows.values():
        assert row["status"] == "answered", row
        (judged,) = row["judged"]
        assert judged["judge"] == "judge-api" and judged["rubric"] == "reply-quality" and judged["reason"]
        assert row["checks"][0]["detail"].startswith("judge judge-api on 'reply-quality': ")
    (calibration,) = data["calibration"]
    assert calibration["graded"] == 4 and calibration["base_rate"] == 0.5
    assert calibration["trust"] == "trusted"  # min_kappa -1: any measured kappa counts
    # two failing examples, each graded again with every answer-side attack
    assert calibration["attacked"] <= 2 * 3
    assert "judge calibration" in text and "reply-quality" in text
    assert "Judge calibration" in (pytester.path / "out.md").read_text()
    assert "Judge calibration" in (pytester.path / "out.html").read_text()
    (pairwise,) = data["pairwise"]["summary"]
    assert (pairwise["first"], pairwise["second"], pairwise["cases"]) == ("app", "other", 1)
    (spent,) = data["judging_cost"]
    first_calls = judge_calls(log) - before
    # at least one POST per judge call: streams the server interrupted (it serves one at a time) were asked again
    assert spent["judge"] == "judge-api" and first_calls >= spent["calls"] > 0
    for row in rows.values():  # the answers' own figures hold no grading cost
        assert row["prompt_tokens"] < 100
    # Misses name the judge's reason, in the terminal and in JUnit's failure message.
    junit = (pytester.path / "out.xml").read_text()
    for row in rows.values():
        if row["passed"] is False:
            assert f"common.llm.yaml::{row['id']} [app] (common) missed" in text
            assert "failed correctness check judge: judge judge-api on &apos;reply-quality&apos;" in junit or (
                "failed correctness check judge: judge judge-api on 'reply-quality'" in junit
            )
    again, data = run(pytester, "--llm-record=rec.jsonl")
    assert judge_calls(log) - before == first_calls  # every judge call came from the response cache
    assert data["judging_cost"][0]["cached"] == data["judging_cost"][0]["calls"]
    assert again.ret == result.ret
    # The recording holds the judges' calls too: a replay grades the same without the judge or the cache.
    replayed, replay = run(pytester, "--llm-replay=rec.jsonl", "--llm-cache=off")
    assert judge_calls(log) - before == first_calls
    assert [(r["id"], r["passed"]) for r in replay["cases"]] == [(r["id"], r["passed"]) for r in data["cases"]]
    assert replay["calibration"][0]["kappa"] == data["calibration"][0]["kappa"]
    assert replayed.ret == result.ret


def test_a_judge_below_min_kappa_leaves_its_cases_unmeasured_with_the_reason(
    pytester: pytest.Pytester, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    monkeypatch.setenv("NO_KEY_NEEDED", "unused")
    suite(pytester, url, min_kappa=1.0)
    result, data = run(pytester)
    (calibration,) = data["calibration"]
    if calibration["kappa"] == 1.0:
        pytest.skip("the judge agreed with every label: nothing falls below min_kappa 1")
    text = result.stdout.str()
    assert "agrees with your labels at kappa" in text and "below 1" in text
    assert data["verdict"]["status"] == "incomplete"
    assert any("accuracy not measured" in gap for gap in data["verdict"]["gaps"])
    assert all(row["passed"] is None and "below 1" in row["ungraded"] for row in data["cases"])
    assert result.ret != 0


def test_an_uncalibrated_judge_is_said_to_be_so(
    pytester: pytest.Pytester, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    monkeypatch.setenv("NO_KEY_NEEDED", "unused")
    suite(pytester, url, calibrated=False)
    result, data = run(pytester)
    assert data["calibration"] == []
    assert "judge judge-api on rubric 'reply-quality' is uncalibrated" in result.stdout.str()


def test_a_judge_that_answers_no_verdict_makes_its_cases_errors(
    pytester: pytest.Pytester, server: tuple[str, Path]
) -> None:
    url, _ = server
    suite(pytester, url, judge="judge-chatty", calibrated=False)
    result, data = run(pytester)
    assert {row["status"] for row in data["cases"]} == {"error"}
    assert all("the judge's reply is not JSON" in row["error"] for row in data["cases"])
    assert data["verdict"]["status"] == "incomplete"
    assert result.ret != 0


def test_a_judge_that_cannot_be_reached_makes_its_cases_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_server import free_port

    monkeypatch.setenv("NO_KEY_NEEDED", "unused")
    suite(pytester, f"http://127.0.0.1:{free_port()}/v1", calibrated=False)
    _, data = run(pytester)
    assert {row["status"] for row in data["cases"]} == {"error"}
    assert data["verdict"]["status"] == "incomplete"


@pytest.mark.parametrize("judge", ["app", "other"])  # the backend run, or one compared with it
def test_judging_with_the_backend_under_test_is_a_usage_error(pytester: pytest.Pytester, judge: str) -> None:
    suite(pytester, "http://127.0.0.1:9/v1", judge=judge, calibrated=False)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"its judge {judge!r} is the backend under test" in result.stderr.str() + result.stdout.str()


def test_a_judge_that_cannot_start_is_one_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_KEY_NEEDED", raising=False)
    suite(pytester, "http://127.0.0.1:9/v1", calibrated=False)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stderr.str() + result.stdout.str()
    assert output.count("NO_KEY_NEEDED, which is not set") == 1  # once for the judge, not once per judged case
