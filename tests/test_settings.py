"""Every setting is checked when the config loads: one file:line error per problem, all of a file's together,
printed once, with one exit code per kind of error (docs/reports.md#exit-codes)."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.config import load_config

CASES = "cases:\n  - {id: a, input: I was charged twice, expect: {label: billing}}\n"


def config_with(params: str, provider: str = "fake") -> str:
    """A config whose one backend has ``params`` on line 6 (the parameter's own line)."""
    return f"default_backend: b\nbackends:\n  b:\n    provider: {provider}\n    params:\n      {params}\n"


BAD_PARAMS = [
    ("temperature: hot", "'temperature' must be a number from 0 to 2, got 'hot' (a string)"),
    ('max_tokens: "64"', "'max_tokens' must be a whole number >= 1, got '64' (a string)"),
    ("stop: 5", "'stop' must be a string or a list of strings, got 5"),
    ("seed: 1.5", "'seed' must be a whole number*, got 1.5"),  # llama.cpp's seeds have a range
    ("top_p: 7", "'top_p' must be a number from 0 to 1, got 7"),
    ("temperature: -1", "'temperature' must be a number from 0 to 2, got -1"),
    ("max_tokens: 0", "'max_tokens' must be a whole number >= 1, got 0"),
]


@pytest.mark.parametrize("provider", ["openai", "llama_cpp", "fake"])
@pytest.mark.parametrize("param, message", BAD_PARAMS)
def test_a_bad_param_is_one_error_at_its_line(tmp_path: Path, provider: str, param: str, message: str) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(config_with(param, provider).replace("    params:", "    model: m\n    params:"))
    with pytest.raises(SpecError) as caught:
        load_config(path, environ={})
    assert fnmatch(str(caught.value), f"{path}:7: backend 'b': param {message}")


def test_params_in_range_load(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(
        "backends:\n"
        "  api: {provider: openai, model: m, params: {temperature: 2, top_p: 0, max_tokens: 1, seed: -3,"
        " stop: [a, b], frequency_penalty: -2, presence_penalty: 2, max_completion_tokens: 9,"
        " logit_bias: {'50256': -100}, reasoning_effort: low}}\n"
        "  local: {provider: llama_cpp, model: m, params: {temperature: 0.0, stop: x, top_k: 0, min_p: 0.05,"
        " repeat_penalty: 1.1, mirostat_mode: 2, seed: 0}}\n"
    )
    suite = load_config(path, environ={})
    assert suite.backend("api").params["logit_bias"] == {"50256": -100}
    assert suite.backend("local").params["mirostat_mode"] == 2


def test_a_param_another_provider_takes_is_unknown_to_this_one(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(config_with("top_k: 40", "openai").replace("    params:", "    model: m\n    params:"))
    with pytest.raises(
        SpecError, match=r"llmgate.yaml:7: unknown parameter in backend 'b' 'top_k'; known: temperature"
    ):
        load_config(path, environ={})


def test_a_setting_of_another_provider_says_whose_it_is(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text("backends:\n  b:\n    provider: openai\n    model: m\n    n_ctx: 512\n")
    with pytest.raises(SpecError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == f"{path}:5: backend 'b': 'n_ctx' is a setting of provider llama_cpp, not of openai"


def test_a_param_from_a_variable_is_read_as_the_number_it_spells(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(
        config_with("temperature: ${TEMP}\n      stop: ${STOP}").replace("    params:", "    model: m\n    params:")
    )
    params = load_config(path, environ={"TEMP": "0.7", "STOP": "5"}).backend("b").params
    assert params == {"temperature": 0.7, "stop": "5"}  # a number only where the param takes one
    with pytest.raises(SpecError, match=r"param 'temperature' must be a number from 0 to 2, got 'warm' \(a string\)"):
        load_config(path, environ={"TEMP": "warm", "STOP": "5"})


def test_an_unset_variable_in_a_param_blocks_only_when_selected(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(
        config_with("temperature: ${LLMGATE_TEST_TEMP}").replace("    params:", "    model: m\n    params:")
    )
    assert load_config(path, environ={}).backend("b").missing_env == ("LLMGATE_TEST_TEMP",)


def test_every_problem_of_a_config_is_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.yaml"
    path.write_text(
        "volume: lots\n"  # 1
        "colour: blue\n"  # 2
        "backends:\n"
        "  a:\n"
        "    provider: openai\n"
        "    model: m\n"
        "    timeout_s: 0\n"  # 7
        "    params: {temperature: hot, top_p: 7}\n"  # 8
        "  b:\n"
        "    provider: fake\n"
        "    options: {replies: {x: y}, colour: red}\n"  # 11: and no model (the backend's mapping: line 10)
        "default_backend: c\n"  # 12
    )
    with pytest.raises(SpecError) as caught:
        load_config(path, environ={})
    lines = str(caught.value).splitlines()
    assert [problem.line for problem in caught.value.problems] == [1, 2, 7, 8, 8, 10, 11, 12]
    assert lines[0] == f"{path}:1: volume must look like 90000/day, 3000000/month or 500/hour, got 'lots'"
    assert lines[1].startswith(f"{path}:2: unknown top-level key 'colour'; known: default_backend")
    assert lines[2] == f"{path}:7: backend 'a': 'timeout_s' must be a number of seconds > 0, got 0"
    assert lines[5] == f"{path}:10: backend 'b' needs 'model' (a string)"
    assert lines[6] == f"{path}:11: backend 'b': unknown option 'colour' of provider fake; known: " + (
        "replies, default_reply, fail_on, latency_ms"
    )
    assert lines[7] == f"{path}:12: default_backend 'c' is not defined under 'backends' (defined: a, b)"


def test_every_case_of_a_case_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "common.llm.yaml"
    path.write_text(
        "colour: blue\n"
        "cases:\n"
        "  - {id: good, input: x, expect: {label: a}}\n"
        "  - {id: bad-check, input: x, expect: {labl: a}}\n"
        "  - {id: no-input, expect: {label: a}}\n"
        "  - {id: good, input: y, expect: {label: a}}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_case_file(path)
    assert [problem.line for problem in caught.value.problems] == [1, 4, 5, 6]
    text = str(caught.value)
    assert f"{path}:4: case 'bad-check': unknown correctness check 'labl'" in text
    assert f"{path}:5: case 'no-input' needs exactly one of 'input'" in text
    assert f"{path}:6: duplicate case id 'good' (first at line 3)" in text


# --- through pytest: exit codes, printed once, no traceback ---------------------------------------


def run(pytester: pytest.Pytester, config: str, *args: str, files: int = 1) -> pytest.RunResult:
    pytester.makefile(".yaml", llmgate=config)
    for index in range(files):
        pytester.makefile(".llm.yaml", **{f"common{index}" if index else "common": CASES})
    return pytester.runpytest(*args)


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("param, message", BAD_PARAMS)
def test_a_bad_param_stops_the_run_as_a_usage_error(pytester: pytest.Pytester, param: str, message: str) -> None:
    result = run(pytester, config_with(param).replace("    params:", "    model: m\n    params:"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *llmgate.yaml:7: backend 'b': param {message}"])
    assert "Traceback" not in output(result)


def test_a_misspelt_provider_is_a_usage_error_naming_the_known_ones(pytester: pytest.Pytester) -> None:
    result = run(pytester, "default_backend: b\nbackends:\n  b: {provider: openia, model: gpt-4o-mini}\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *llmgate.yaml:3: backend 'b': unknown provider 'openia' (did you mean 'openai'?); "
            "known providers: fake, http, llama_cpp, openai, python, or one a plugin adds (pytest_llmgate_register_providers)"
        ]
    )
    assert "Traceback" not in output(result)


def test_a_config_error_is_printed_once_for_three_case_files(pytester: pytest.Pytester) -> None:
    result = run(pytester, config_with("temperature: hot").replace("    params:", "    model: m\n    params:"), files=3)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert output(result).count("param 'temperature' must be") == 1


def test_a_config_error_is_printed_once_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", llmgate=config_with("top_p: 7").replace("    params:", "    model: m\n    params:"))
    for name in ("common", "edge", "adversarial"):
        pytester.makefile(".llm.yaml", **{name: CASES})
    result = pytester.runpytest_subprocess("-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert output(result).count("param 'top_p' must be a number from 0 to 1, got 7") == 1
    assert "Traceback" not in output(result)


def test_every_problem_of_the_config_is_printed(pytester: pytest.Pytester) -> None:
    config = "default_backend: b\nbackends:\n  b:\n    provider: fake\n    model: m\n"
    config += "    params: {seed: 1.5, stop: 5}\n    approach: tuned\nvolume: lots\n"
    result = run(pytester, config)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *llmgate.yaml:6: backend 'b': param 'seed' must be a whole number, got 1.5",
            "ERROR: *llmgate.yaml:6: backend 'b': param 'stop' must be a string or a list of strings, got 5",
            "ERROR: *llmgate.yaml:7: backend 'b': 'approach' must be one of prompted, fine_tuned, hybrid, got 'tuned' (a string)",
            "ERROR: *llmgate.yaml:8: volume must look like *",
        ]
    )


def test_a_broken_case_file_is_one_collection_error_listing_every_case(fake_suite: pytest.Pytester) -> None:
    fake_suite.makefile(
        ".llm.yaml",
        edge="cases:\n  - {id: a, input: x, expect: {labl: b}}\n  - {id: b, input: 3, expect: {label: b}}\n",
    )
    result = fake_suite.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*edge.llm.yaml:2: case 'a': unknown correctness check 'labl'; known:*",
            "*edge.llm.yaml:3: case 'b': 'input' must be a string, got a number",
        ]
    )
    assert result.stdout.str().count("ERROR collecting") == 1
    assert "Traceback" not in output(result)


def test_no_backend_selected_and_an_unknown_backend_are_both_usage_errors(fake_suite: pytest.Pytester) -> None:
    unknown = fake_suite.runpytest("--llm-backend", "gpt-5")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["ERROR: *llmgate.yaml: unknown backend 'gpt-5'; known backends: fake, other"])
    config = fake_suite.path / "llmgate.yaml"
    config.write_text(config.read_text().replace("default_backend: fake\n", ""))
    fake_suite.makefile(".llm.yaml", edge=CASES)
    unselected = fake_suite.runpytest()
    assert unselected.ret == pytest.ExitCode.USAGE_ERROR
    unselected.stderr.fnmatch_lines(["ERROR: *llmgate.yaml: no backend selected: pass --llm-backend NAME*"])
    assert output(unselected).count("no backend selected") == 1  # two case files, one error
