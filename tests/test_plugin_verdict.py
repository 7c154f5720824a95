"""The verdict is complete or it is not 'passed': -x, --maxfail, Ctrl-C, reruns, errors, xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

# 15 cases, 4 of them right: the full run fails its 0.5 accuracy gate (0.27).
MANY_CASES = "cases:\n" + "".join(
    f'  - {{id: c{i:02d}, input: "{"I was charged" if i < 4 else "hello"} {i}", expect: {{label: billing}}}}\n'
    for i in range(15)
)
WRITTEN = ("r.json", "r.md", "r.html")
REPORTS = ("--llm-report-json=r.json", "--llm-report-md=r.md", "--llm-report-html=r.html", "--junitxml=j.xml")


@pytest.fixture
def many(fake_suite: pytest.Pytester) -> pytest.Pytester:
    """The fake suite with 15 common cases, 4 answered right (accuracy 0.27 against a 0.5 gate)."""
    fake_suite.makefile(".llm.yaml", common=MANY_CASES)
    return fake_suite


def written(pytester: pytest.Pytester) -> str:
    """Every report the run wrote, as one text."""
    return "\n".join((pytester.path / name).read_text() for name in WRITTEN)


def assert_never_passed(result: pytest.RunResult, pytester: pytest.Pytester) -> None:
    """No output says the gates passed, and the JSON verdict is not 'passed'."""
    assert "gates passed" not in result.stdout.str()
    assert "**Gates:** passed" not in written(pytester)
    assert "Gates: passed" not in written(pytester)
    verdict = json.loads((pytester.path / "r.json").read_text())["verdict"]
    assert verdict["status"] != "passed" and verdict["passed"] is False
    assert result.ret != pytest.ExitCode.OK


@pytest.mark.parametrize("stop", [["-x"], ["--maxfail=2"]])
def test_a_run_stopped_early_is_incomplete(many: pytest.Pytester, stop: list[str]) -> None:
    result = many.runpytest(*stop, *REPORTS)
    assert_never_passed(result, many)
    result.stdout.fnmatch_lines(["llmgate: INCOMPLETE (* answered, * not run): the run stopped early*"])
    data = json.loads((many.path / "r.json").read_text())
    assert len(data["cases"]) == 15  # every collected case is a row, the unrun ones marked so
    assert data["verdict"]["status"] == "incomplete" and data["verdict"]["not_run"] > 0
    assert {row["status"] for row in data["cases"]} == {"answered", "not_run"}
    assert "INCOMPLETE" in (many.path / "r.md").read_text() and "INCOMPLETE" in (many.path / "r.html").read_text()


def test_the_full_run_fails_its_gate(many: pytest.Pytester) -> None:
    result = many.runpytest()
    result.stdout.fnmatch_lines(["llmgate: GATE FAILED: fake: . common accuracy 0.27 < 0.50 (15 graded cases)"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_ctrl_c_writes_an_incomplete_verdict(many: pytest.Pytester) -> None:
    many.makeconftest("""
def pytest_runtest_setup(item):
    if item.name.startswith("c05"):
        raise KeyboardInterrupt
""")
    result = many.runpytest_subprocess(*REPORTS)  # in-process, the interrupt would stop this test run too
    assert_never_passed(result, many)
    result.stdout.fnmatch_lines(["llmgate: INCOMPLETE (5 answered, 10 not run): the run was interrupted"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert json.loads((many.path / "r.json").read_text())["verdict"]["interrupted"] is True


def test_every_case_erroring_is_incomplete_never_passed(fake_suite: pytest.Pytester) -> None:
    fake_suite.makefile(
        ".llm.yaml",
        common="cases:\n"
        + "".join(f"  - {{id: e{i}, input: BOOM {i}, expect: {{label: billing}}}}\n" for i in range(3)),
    )
    result = fake_suite.runpytest(*REPORTS)
    assert_never_passed(result, fake_suite)
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "llmgate: INCOMPLETE (0 answered, 3 errored): fake: . common: 3 of 3 cases unanswered (3 errored, 0 not run)",
        ]
    )
    rows = json.loads((fake_suite.path / "r.json").read_text())["cases"]
    assert [(r["status"], r["error"]) for r in rows] == [("error", "backend 'fake': simulated outage")] * 3


def test_backend_error_is_one_concise_line(fake_suite: pytest.Pytester) -> None:
    fake_suite.makefile(".llm.yaml", edge="cases:\n  - {id: outage, input: BOOM, expect: {label: general}}\n")
    result = fake_suite.runpytest()
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "ERROR at setup of outage[fake]" in line)
    assert lines[start + 1] == "backend 'fake': simulated outage"
    assert lines[start + 2].startswith("=====")  # the whole block: a header and one line
    assert "Traceback" not in result.stdout.str() and "_pytest" not in result.stdout.str()


def test_a_tolerated_error_rate_lets_the_gate_judge_the_rest(many: pytest.Pytester) -> None:
    many.makefile(".llm.yaml", common=MANY_CASES.replace("hello 14", "BOOM 14").replace("hello", "I was charged"))
    config = many.path / "llmgate.yaml"
    config.write_text("errors: {max_rate: 0.1}\n" + config.read_text())
    result = many.runpytest()
    result.stdout.fnmatch_lines(["llmgate: all gates passed (14 answered, 1 errored)"])
    assert result.ret == pytest.ExitCode.OK  # the suite accepts one error in ten
    config.write_text(config.read_text().replace("max_rate: 0.1", "max_rate: 0.05"))
    many.runpytest().stdout.fnmatch_lines(["llmgate: INCOMPLETE (14 answered, 1 errored): *"])


def test_reruns_never_count_a_case_twice(many: pytest.Pytester) -> None:
    result = many.runpytest("-p", "rerunfailures", "--reruns", "1", "--llm-report-json=r.json")
    data = json.loads((many.path / "r.json").read_text())
    assert len(data["cases"]) == 15
    [summary] = data["summary"]
    assert (summary["selected"], summary["passed"]) == (15, 4)
    result.stdout.fnmatch_lines(["llmgate: GATE FAILED: fake: . common accuracy 0.27 < 0.50 (15 graded cases)"])


def test_xdist_usage_error_is_the_same_as_without(fake_suite: pytest.Pytester) -> None:
    for args in ([], ["-n", "2"]):
        result = fake_suite.runpytest_subprocess("--llm-backend", "gpt-5", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: *unknown backend 'gpt-5'; known backends: fake, other"])
        assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_xdist_stopped_early_is_incomplete(many: pytest.Pytester) -> None:
    result = many.runpytest_subprocess("-n", "2", "-x", "--llm-report-json=r.json")
    assert "gates passed" not in result.stdout.str()
    data = json.loads((many.path / "r.json").read_text())
    assert data["verdict"]["status"] == "incomplete" and len(data["cases"]) == 15
    assert result.ret != pytest.ExitCode.OK


def test_format_only_cases_do_not_count_as_correct(fake_suite: pytest.Pytester) -> None:
    fake_suite.makefile(
        ".llm.yaml",
        common="""
cases:
  - {id: shape-1, input: hello, format: {max_words: 3}}
  - {id: shape-2, input: hi, format: {max_words: 3}}
  - {id: wrong, input: dark mode please, expect: {label: feature_request}}
""",
    )
    result = fake_suite.runpytest("--llm-report-json=r.json")
    [summary] = json.loads((fake_suite.path / "r.json").read_text())["summary"]
    assert (summary["graded"], summary["accuracy"], summary["formatted"], summary["format_rate"]) == (1, 0.0, 2, 1.0)
    result.stdout.fnmatch_lines(["llmgate: GATE FAILED: fake: . common accuracy 0.00 < 0.50 (1 graded cases)"])


def test_tags_are_registered_marks(fake_suite: pytest.Pytester) -> None:
    fake_suite.makefile(
        ".llm.yaml",
        edge="cases:\n  - {id: t, input: charged, expect: {label: billing}, tags: [regression, prod_bug]}\n",
    )
    result = fake_suite.runpytest("--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning", "-m", "prod_bug")
    result.assert_outcomes(passed=1, deselected=3)


def test_huge_answers_are_clipped_except_in_the_json(fake_suite: pytest.Pytester) -> None:
    huge = "billing " * 200_000
    fake_suite.makefile(
        ".yaml",
        llmgate=f"""
thresholds: {{common: {{accuracy: 0.0}}}}
default_backend: big
backends:
  big: {{provider: fake, model: scripted, options: {{default_reply: "{huge}"}}}}
""",
    )
    result = fake_suite.runpytest("--llm-report-json=r.json", "--junitxml=j.xml", "--llm-report-md=r.md")
    assert len(result.stdout.str()) < 50_000
    assert (fake_suite.path / "j.xml").stat().st_size < 100_000
    properties = [
        p.get("value") for p in ET.parse(fake_suite.path / "j.xml").iter("property") if p.get("name") == "llm_output"
    ]
    assert properties and all("[truncated: 1,600,000 characters in all]" in value for value in properties)
    rows = json.loads((fake_suite.path / "r.json").read_text())["cases"]
    assert all(row["output"] == huge and row["output_chars"] == len(huge) for row in rows)


def test_an_echoed_api_key_is_redacted_everywhere(fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-llmgate-echo-SECRET-42"
    monkeypatch.setenv("LLMGATE_ECHO_KEY", secret)
    fake_suite.makefile(
        ".yaml",
        llmgate=f"""
thresholds: {{common: {{accuracy: 0.0}}}}
default_backend: leaky
backends:
  leaky: {{provider: fake, model: scripted, api_key_env: LLMGATE_ECHO_KEY, options: {{default_reply: "my key is {secret}"}}}}
""",
    )
    result = fake_suite.runpytest("--llm-report-json=r.json", "--junitxml=j.xml", "--llm-report-md=r.md", "-v")
    everything = (
        result.stdout.str()
        + result.stderr.str()
        + "".join((fake_suite.path / name).read_text() for name in ("r.json", "j.xml", "r.md"))
    )
    assert secret not in everything
    assert "my key is ***" in everything


def test_collect_only_judges_nothing(many: pytest.Pytester) -> None:
    result = many.runpytest("--collect-only", "-q")
    assert "llmgate" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_an_unwritable_report_is_said_in_one_line(many: pytest.Pytester) -> None:
    (many.path / "blocked").write_text("a file, not a folder")
    result = many.runpytest("--llm-report-json=blocked/r.json")
    result.stdout.fnmatch_lines(["llmgate: a report was not written: *"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_subset_run_says_so_and_never_passes_the_suite(fake_suite: pytest.Pytester) -> None:
    result = fake_suite.runpytest("-k", "double", "--llm-report-json=r.json")
    result.stdout.fnmatch_lines(
        [
            "*(pass)",
            "llmgate: SUBSET (1 answered, 0 missed): subset: 1 of 3 cases (-k): "
            "the suite's gates are not judged on part of it",
        ]
    )
    assert "gates passed" not in result.stdout.str()
    verdict = json.loads((fake_suite.path / "r.json").read_text())["verdict"]
    assert (verdict["status"], verdict["passed"], verdict["subset"]) == ("subset", False, "subset: 1 of 3 cases (-k)")
    assert result.ret == pytest.ExitCode.OK  # every selected case passed: a subset exits as plain pytest would


def test_last_failed_is_a_subset_that_fails_while_its_cases_miss(fake_suite: pytest.Pytester) -> None:
    fake_suite.runpytest("-p", "cacheprovider")
    result = fake_suite.runpytest("-p", "cacheprovider", "--lf")
    result.stdout.fnmatch_lines(["llmgate: SUBSET (1 answered, 1 missed): subset: 1 of 3 cases (--lf): *"])
    assert "gates passed" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the case it re-ran still misses


def test_the_verdict_is_the_last_block_printed(fake_suite: pytest.Pytester) -> None:
    result = fake_suite.runpytest()
    lines = [line for line in result.outlines if line.strip()]
    assert "short test summary info" in "\n".join(lines)  # pytest's summary lists the miss first
    assert lines[-2].startswith("=") and "llmgate verdict" in lines[-2]
    assert lines[-1] == "llmgate: all gates passed (3 answered)"


@pytest.mark.parametrize("misses", ["failure", "skipped"])
def test_junit_carries_the_verdict_and_a_gate_testcase(fake_suite: pytest.Pytester, misses: str) -> None:
    fake_suite.runpytest("--junitxml=j.xml", f"--llm-junit-misses={misses}")
    suite = ET.parse(fake_suite.path / "j.xml").getroot()[0]
    properties = {p.get("name"): p.get("value") for p in suite.find("properties") or ()}
    assert (properties["llmgate_verdict"], properties["llmgate_passed"]) == ("passed", "true")
    assert json.loads(properties["llmgate_reasons"]) == []
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert [child.tag for child in cases["gate"]] == ["properties"]  # passed: no failure element
    miss = [child.tag for child in cases["dark-mode[fake]"] if child.tag != "properties"]
    assert miss == [misses]
    assert suite.get("failures") == ("1" if misses == "failure" else "0")
    case_properties = {p.get("name"): p.get("value") for p in cases["dark-mode[fake]"].iter("property")}
    assert (case_properties["llm_passed"], case_properties["llm_error"]) == ("false", "null")  # JSON, not repr


def test_junit_gate_testcase_fails_exactly_when_the_gate_fails(fake_suite: pytest.Pytester) -> None:
    fake_suite.runpytest("--llm-backend=other", "--junitxml=j.xml", "--llm-junit-misses=skipped")
    suite = ET.parse(fake_suite.path / "j.xml").getroot()[0]
    [gate] = [tc for tc in suite.iter("testcase") if tc.get("classname") == "llmgate"]
    [failure] = gate.iter("failure")
    assert "llmgate: GATE FAILED: other: . common accuracy 0.33 < 0.50 (3 graded cases)" in failure.get("message", "")
    assert suite.get("failures") == "1"  # only the gate is red: the misses are skipped


def test_a_suite_without_any_gate_says_nothing_was_gated(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        llmgate="default_backend: f\nbackends:\n  f: {provider: fake, model: m, options: {default_reply: billing}}\n",
    )
    pytester.makefile(".llm.yaml", common="cases:\n  - {id: a, input: x, expect: {label: billing}}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["llmgate: passed, but nothing was gated (1 answered): set 'thresholds:' in llmgate.yaml"]
    )
    assert "all gates passed" not in result.stdout.str()
