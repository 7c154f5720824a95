"""A provider owns its facts: params, settings, bound, pool, cache identity, preflight, how it is made; plugin
providers take the same path as the built-in ones (pytest_llmgate_register_providers)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from pytest_llmgate import COMMON_PARAMS, Provider, ProviderRegistry
from pytest_llmgate.backends.provider import rules
from pytest_llmgate.backends.registry import PROVIDER_FIELDS
from pytest_llmgate.backends.spec import BackendSpec
from pytest_llmgate.errors import SpecError
from pytest_llmgate.suite.config import load_config


def spec(tmp_path: Path, **fields: object) -> BackendSpec:
    values: dict = {"name": "b", "provider": "openai", "model": "m", "config_path": tmp_path / "llmgate.yaml"}
    return BackendSpec(**{**values, **fields})  # type: ignore[arg-type]


def test_the_built_in_providers_declare_their_facts(tmp_path: Path) -> None:
    registry = ProviderRegistry()
    assert registry.names() == ("fake", "http", "llama_cpp", "openai", "python")
    local, other = spec(tmp_path, provider="llama_cpp"), spec(tmp_path, provider="llama_cpp", name="c")
    assert registry.max_calls(local) == 1 and registry.max_calls(spec(tmp_path)) is None
    # In-process models share the machine's cores: one pool for all of them; API backends have their own.
    assert registry.connection_key(local) == registry.connection_key(other)
    assert registry.connection_key(spec(tmp_path)) != registry.connection_key(spec(tmp_path, name="c"))
    assert "top_k" in registry.declared("llama_cpp").params and "top_k" not in registry.declared("openai").params
    assert set(registry.declared("openai").settings) >= {"base_url", "timeout_s", "max_retries", "stream"}


def test_a_provider_may_claim_only_backend_spec_fields() -> None:
    assert set(PROVIDER_FIELDS) <= {field.name for field in fields(BackendSpec)}


def test_a_provider_only_a_plugin_makes_is_checked_leniently(tmp_path: Path) -> None:
    (tmp_path / "llmgate.yaml").write_text(
        "backends:\n  g: {provider: gateway, model: m, base_url: 'http://x', params: {temperature: 3}}\n"
    )
    with pytest.raises(SpecError, match=r"param 'temperature' must be a number from 0 to 2, got 3"):
        load_config(tmp_path / "llmgate.yaml", environ={})


class Tiny(Provider):
    name = "tiny"
    params = rules(temperature=COMMON_PARAMS["temperature"])


def test_registering_checks_the_provider() -> None:
    registry = ProviderRegistry()
    registry.register(Tiny())
    assert "tiny" in registry.names()
    with pytest.raises(ValueError, match="a provider named 'tiny' is already registered"):
        registry.register(Tiny())

    class Stray(Provider):
        name = "stray"
        settings = rules(region=COMMON_PARAMS["seed"])

    with pytest.raises(ValueError, match="settings region are no backend keys"):
        registry.register(Stray())
    with pytest.raises(ValueError, match="a provider needs a name"):
        registry.register(Provider())


def test_the_registry_decides_what_a_config_accepts(tmp_path: Path) -> None:
    registry = ProviderRegistry()
    registry.register(Tiny())
    path = tmp_path / "llmgate.yaml"
    path.write_text("backends:\n  t:\n    provider: tiny\n    model: m\n    params: {top_p: 0.5}\n")
    with pytest.raises(
        SpecError, match=r"llmgate.yaml:5: unknown parameter in backend 't' 'top_p'; known: temperature"
    ):
        load_config(path, environ={}, providers=registry)


PLUGIN = """
from pytest_llmgate import COMMON_PARAMS, Completion, Provider

class EchoBackend:
    def __init__(self, name, prefix):
        self.name, self.prefix = name, prefix

    def complete(self, messages):
        return Completion(self.prefix + messages[-1]["content"], 1, 1, 0.01, 0.005)

    def close(self):
        pass

class EchoProvider(Provider):
    name = "echo"
    params = {"temperature": COMMON_PARAMS["temperature"]}

    def check_options(self, options):
        prefix = options.get("prefix")
        return [] if isinstance(prefix, str) else [("prefix", f"'prefix' must be a string, got {prefix!r}")]

    def max_calls(self, spec):
        return 1

    def make(self, spec):
        return EchoBackend(spec.name, spec.options["prefix"])

def pytest_llmgate_register_providers(registry):
    registry.register(EchoProvider())
"""


def echo_suite(pytester: pytest.Pytester, backend: str) -> None:
    pytester.makeconftest(PLUGIN)
    pytester.makefile(".yaml", llmgate=f"default_backend: e\nbackends:\n  e: {backend}\n")
    pytester.makefile(".llm.yaml", common="cases:\n  - {id: a, input: billing, expect: {label: billing}}\n")


def test_a_registered_plugin_provider_runs_and_validates_like_a_built_in(pytester: pytest.Pytester) -> None:
    echo_suite(pytester, "{provider: echo, model: m, params: {temperature: 0}, options: {prefix: ''}}")
    result = pytester.runpytest("--llm-report-json=r.json", "--llm-cache=off")
    assert result.ret == pytest.ExitCode.OK
    [row] = json.loads((pytester.path / "r.json").read_text())["cases"]
    assert row["output"] == "billing"

    echo_suite(pytester, "{provider: echo, model: m, params: {temperature: 0, seed: 1}, options: {prefix: 3}}")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *llmgate.yaml:3: unknown parameter in backend 'e' 'seed'; known: temperature",
            "ERROR: *llmgate.yaml:3: backend 'e': 'prefix' must be a string, got 3",
        ]
    )


def test_a_provider_registered_twice_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PLUGIN + "\n    registry.register(EchoProvider())\n")
    pytester.makefile(".yaml", llmgate="backends: {}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest_llmgate_register_providers: a provider named 'echo' is already registered"]
    )


def test_make_backend_may_still_replace_a_built_in_provider(fake_suite: pytest.Pytester) -> None:
    fake_suite.makeconftest(
        PLUGIN.replace("def pytest_llmgate_register_providers", "def unused")
        + "\ndef pytest_llmgate_make_backend(spec):\n"
        "    return EchoBackend(spec.name, 'billing ') if spec.provider == 'fake' else None\n"
    )
    result = fake_suite.runpytest("--llm-report-json=r.json", "--llm-cache=off")
    outputs = [row["output"] for row in json.loads((fake_suite.path / "r.json").read_text())["cases"]]
    assert outputs and all(output.startswith("billing ") for output in outputs)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the echo answers miss two labels: the gate fails
