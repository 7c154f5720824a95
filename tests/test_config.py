from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate.backends import DEFAULT_PROVIDERS
from pytest_llmgate.backends.spec import Pricing, Prompt
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.config import find_config, load_config

CONFIG = """
default_backend: local
thresholds:
  common: {accuracy: 0.9}
backends:
  local:
    provider: llama_cpp
    model: models/model.gguf
    system_prompt: {file: prompts/system.md}
    few_shot: {file: prompts/shots.yaml}
    tasks:
      extract: {system_prompt: Return JSON.}
    params: {temperature: 0, max_tokens: 8}
    pricing: {per_hour_usd: 1.5}
  remote:
    provider: openai
    model: ${MODEL_NAME:-gpt-4o-mini}
    base_url: ${REMOTE_URL}
    api_key_env: TEST_LLMGATE_KEY
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "system.md").write_text("Route the ticket.\n")
    (tmp_path / "prompts" / "shots.yaml").write_text("- {user: hi, assistant: general}\n")
    (tmp_path / "llmgate.yaml").write_text(CONFIG)
    return tmp_path


def test_load_config(config_dir: Path) -> None:
    suite = load_config(config_dir / "llmgate.yaml", environ={"REMOTE_URL": "http://127.0.0.1:9/v1"})
    local = suite.backend("local")
    assert local.prompt == Prompt("Route the ticket.", (("hi", "general"),))
    assert local.prompt_for("extract") == Prompt("Return JSON.")
    assert local.prompt_for("unknown") is None
    assert local.pricing == Pricing(per_hour_usd=1.5)
    assert local.resolve_path(local.model) == config_dir / "models" / "model.gguf"
    remote = suite.backend("remote")
    assert (remote.model, remote.base_url, remote.missing_env) == ("gpt-4o-mini", "http://127.0.0.1:9/v1", ())
    assert suite.selected([]) == ["local"]
    assert suite.selected(["remote", "local", "remote"]) == ["remote", "local"]


def test_prompt_messages_order() -> None:
    prompt = Prompt("sys", (("u1", "a1"),))
    assert prompt.messages(({"role": "user", "content": "q"},)) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q"},
    ]


def test_unknown_backend_lists_known(config_dir: Path) -> None:
    suite = load_config(config_dir / "llmgate.yaml", environ={})
    with pytest.raises(SpecError, match="unknown backend 'gpt'; known backends: local, remote"):
        suite.backend("gpt")


def test_unset_variable_blocks_only_that_backend(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLMGATE_KEY", "sk-test")
    suite = load_config(config_dir / "llmgate.yaml", environ={})
    assert suite.backend("remote").missing_env == ("REMOTE_URL",)
    with pytest.raises(SpecError, match=r"needs the environment variable\(s\) REMOTE_URL"):
        DEFAULT_PROVIDERS.preflight(suite.backend("remote"))


def test_model_from_an_unset_variable_blocks_only_that_backend(tmp_path: Path) -> None:
    (tmp_path / "llmgate.yaml").write_text("backends:\n  mine: {provider: llama_cpp, model: '${MY_GGUF}'}\n")
    spec = load_config(tmp_path / "llmgate.yaml", environ={}).backend("mine")
    with pytest.raises(SpecError, match=r"backend 'mine' needs the environment variable\(s\) MY_GGUF"):
        DEFAULT_PROVIDERS.preflight(spec)


def test_missing_api_key_is_named_not_shown(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_LLMGATE_KEY", raising=False)
    suite = load_config(config_dir / "llmgate.yaml", environ={"REMOTE_URL": "x"})
    with pytest.raises(SpecError, match=r"reads its API key from \$TEST_LLMGATE_KEY, which is not set"):
        DEFAULT_PROVIDERS.preflight(suite.backend("remote"))


def test_missing_model_file(config_dir: Path) -> None:
    suite = load_config(config_dir / "llmgate.yaml", environ={})
    with pytest.raises(SpecError, match="model file not found"):
        DEFAULT_PROVIDERS.preflight(suite.backend("local"))


def test_secrets_never_come_from_the_config(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLMGATE_KEY", "sk-very-secret")
    suite = load_config(config_dir / "llmgate.yaml", environ={"REMOTE_URL": "x"})
    assert "sk-very-secret" not in repr(suite)


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            "backends:\n  a:\n    provider: openai\n    model: m\n    api_key: sk-123\n",
            5,
            "never write a key in the config",
        ),
        (
            "backends:\n  a:\n    provider: openai\n    model: m\n    temprature: 0\n",
            5,
            "unknown key in backend 'a' 'temprature'",
        ),
        ("backends:\n  a:\n    provider: openai\n", 3, "backend 'a' needs 'model'"),
        (
            "backends:\n  a:\n    provider: openai\n    model: m\n    stream: maybe\n",
            5,
            "'stream' must be true or false, got 'maybe' (a string)",
        ),
        ("backends:\n  a:\n    provider: openai\n    model: m\n    pricing: {per_hour: 2}\n", 5, "unknown pricing key"),
        ("default_backend: b\nbackends:\n  a: {provider: fake, model: m}\n", 1, "default_backend 'b' is not defined"),
        (
            "backends:\n  a: {provider: fake, model: m, system_prompt: {file: nope.md}}\n",
            2,
            "'system_prompt' file not found",
        ),
        (
            "backends:\n  a: {provider: fake, model: m, approach: tuned}\n",
            2,
            "'approach' must be one of prompted, fine_tuned",
        ),
        ("volume: lots\n", 1, "volume must look like 90000/day"),
        ("horizon_months: 0\n", 1, "horizon_months must be a number of months > 0"),
        ("decision:\n  min_gain: 3\n", 1, "unknown decision key 'min_gain'"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    (tmp_path / "llmgate.yaml").write_text(text)
    with pytest.raises(SpecError) as caught:
        load_config(tmp_path / "llmgate.yaml", environ={})
    assert caught.value.line == line
    assert message in str(caught.value)


def test_volume_horizon_decision_and_approach(tmp_path: Path) -> None:
    (tmp_path / "llmgate.yaml").write_text(
        "volume: 3000000/month\nhorizon_months: 6\ndecision: {min_gain_points: 2}\n"
        "backends:\n  a: {provider: fake, model: m}\n"
        "  b: {provider: fake, model: m, approach: fine_tuned, pricing: {one_time_usd: 50, per_month_usd: 10}}\n"
    )
    suite = load_config(tmp_path / "llmgate.yaml", environ={})
    assert (suite.volume_per_day, suite.horizon_months, suite.decision.min_gain_points) == (100_000, 6, 2)
    assert suite.backend("a").approach == "prompted"
    assert suite.backend("b").approach == "fine_tuned"
    assert suite.backend("b").pricing == Pricing(one_time_usd=50, per_month_usd=10)


def test_find_config_walks_up(config_dir: Path) -> None:
    nested = config_dir / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested / "x.llm.yaml") == config_dir / "llmgate.yaml"
    assert find_config(Path("/")) is None


def test_variables_expand_in_every_prompt(tmp_path: Path) -> None:
    (tmp_path / "system.md").write_text("You answer for ${COMPANY}.\n")
    (tmp_path / "shots.yaml").write_text("- {user: 'Who are you?', assistant: '${COMPANY} support'}\n")
    (tmp_path / "llmgate.yaml").write_text(
        "backends:\n"
        "  inline:\n    provider: fake\n    model: m\n    system_prompt: Speak for ${COMPANY} in ${LANG:-English}.\n"
        "    few_shot: [{user: 'hi ${COMPANY}', assistant: hello}]\n"
        "    tasks: {extract: {system_prompt: 'Extract for ${COMPANY}.', few_shot: {file: shots.yaml}}}\n"
        "  files: {provider: fake, model: m, system_prompt: {file: system.md}, few_shot: {file: shots.yaml}}\n"
    )
    suite = load_config(tmp_path / "llmgate.yaml", environ={"COMPANY": "Acme"})
    inline, files = suite.backend("inline"), suite.backend("files")
    assert inline.prompt == Prompt("Speak for Acme in English.", (("hi Acme", "hello"),))
    assert inline.prompt_for("extract") == Prompt("Extract for Acme.", (("Who are you?", "Acme support"),))
    assert files.prompt == Prompt("You answer for Acme.", (("Who are you?", "Acme support"),))
    assert (inline.missing_env, files.missing_env) == ((), ())


@pytest.mark.parametrize(
    "backend",
    [
        "{provider: fake, model: m, system_prompt: 'For ${COMPANY}.'}",
        "{provider: fake, model: m, system_prompt: {file: system.md}}",
        "{provider: fake, model: m, few_shot: {file: shots.yaml}}",
        "{provider: fake, model: m, tasks: {t: {few_shot: [{user: '${COMPANY}?', assistant: a}]}}}",
    ],
)
def test_an_unset_variable_in_a_prompt_blocks_the_backend(tmp_path: Path, backend: str) -> None:
    (tmp_path / "system.md").write_text("You answer for ${COMPANY}.\n")
    (tmp_path / "shots.yaml").write_text("- {user: hi, assistant: '${COMPANY} here'}\n")
    (tmp_path / "llmgate.yaml").write_text(f"backends:\n  mine: {backend}\n  other: {{provider: fake, model: m}}\n")
    suite = load_config(tmp_path / "llmgate.yaml", environ={})
    assert suite.backend("mine").missing_env == ("COMPANY",)
    DEFAULT_PROVIDERS.preflight(suite.backend("other"))
    with pytest.raises(SpecError, match=r"backend 'mine' needs the environment variable\(s\) COMPANY"):
        DEFAULT_PROVIDERS.preflight(suite.backend("mine"))


@pytest.mark.parametrize(
    "setting, message",
    [
        ("timeout_s: -5", "'timeout_s' must be a number of seconds > 0, got -5"),
        ("timeout_s: 0", "'timeout_s' must be a number of seconds > 0, got 0"),
        ("timeout_s: .inf", "'timeout_s' must be a number of seconds > 0, got inf"),
        ("timeout_s: .nan", "'timeout_s' must be a number of seconds > 0, got nan"),
        ("max_retries: -1", "'max_retries' must be a whole number from 0 to 10, got -1"),
        ("max_retries: 1000", "'max_retries' must be a whole number from 0 to 10, got 1000"),
        ("max_retries: 2.5", "'max_retries' must be a whole number from 0 to 10, got 2.5"),
        ("n_ctx: 0", "'n_ctx' must be a whole number of tokens >= 1, got 0"),
        ("n_threads: 0", "'n_threads' must be a whole number of threads >= 1, got 0"),
        ("lora_scale: .nan", "'lora_scale' must be a finite number, got nan"),
        ("lora_scale: -.inf", "'lora_scale' must be a finite number, got -inf"),
    ],
)
def test_numeric_settings_are_checked_at_load(tmp_path: Path, setting: str, message: str) -> None:
    provider = "llama_cpp" if setting.startswith(("n_", "lora")) else "openai"
    (tmp_path / "llmgate.yaml").write_text(f"backends:\n  a:\n    provider: {provider}\n    model: m\n    {setting}\n")
    with pytest.raises(SpecError) as caught:
        load_config(tmp_path / "llmgate.yaml", environ={})
    assert str(caught.value) == f"{tmp_path / 'llmgate.yaml'}:5: backend 'a': {message}"


def test_numeric_settings_in_range_load(tmp_path: Path) -> None:
    (tmp_path / "llmgate.yaml").write_text(
        "backends:\n  a: {provider: llama_cpp, model: m, n_ctx: 512, n_threads: 1, lora_scale: -0.5}\n"
        "  b: {provider: openai, model: m, timeout_s: 0.5, max_retries: 0}\n"
        "  c: {provider: openai, model: m, max_retries: 10}\n"
    )
    suite = load_config(tmp_path / "llmgate.yaml", environ={})
    a, b = suite.backend("a"), suite.backend("b")
    assert (a.n_ctx, a.n_threads, a.lora_scale, b.timeout_s, b.max_retries) == (512, 1, -0.5, 0.5, 0)
    assert suite.backend("c").max_retries == 10
