"""pytest-llmgate: LLM behaviour regression testing with YAML cases, real backends and gates."""

__version__ = "0.1.0"
