"""Shared fixtures: pytester, and a small suite on the deterministic fake backend."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

FAKE_CONFIG = """
default_backend: fake
thresholds:
  common: {accuracy: 0.5, format: 1.0}
  adversarial: {accuracy: 1.0}
backends:
  fake:
    provider: fake
    model: scripted
    options:
      default_reply: general
      replies: {charged: billing, crash: technical, "dark mode": billing, outage: technical}
      fail_on: [BOOM]
    pricing: {input_per_mtok_usd: 1.0, output_per_mtok_usd: 2.0}
  other:
    provider: fake
    model: scripted
    options: {default_reply: billing}
    pricing: {per_hour_usd: 36.0}
"""

FAKE_CASES = """
defaults:
  format: {one_of: [billing, technical, general, feature_request]}
cases:
  - id: double-charge
    input: I was charged twice
    expect: {label: billing}
  - id: app-crash
    input: The app crashes on start
    expect: {label: technical}
  - id: dark-mode
    input: Please add dark mode
    expect: {label: feature_request}
"""


@pytest.fixture
def fake_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A folder with llmgate.yaml (fake backends) and common.llm.yaml: 2 of 3 cases pass."""
    pytester.makefile(".yaml", llmgate=FAKE_CONFIG)
    pytester.makefile(".llm.yaml", common=FAKE_CASES)
    return pytester


COMPARE_CONFIG = """
volume: 20000/day
decision: {min_gain_points: 50}  # three cases cannot rule out a small drop; a wide margin reaches the cost step
thresholds:
  common: {accuracy: 0.5}
backends:
  prompt:
    provider: fake
    model: scripted
    options:
      default_reply: general
      replies: {charged: billing, crash: technical, "dark mode": billing}
    pricing: {input_per_mtok_usd: 1.0, output_per_mtok_usd: 2.0}
  tuned:
    provider: fake
    model: scripted
    approach: fine_tuned
    options:
      default_reply: general
      replies: {charged: billing, crash: technical, "dark mode": feature_request}
      latency_ms: 20
    pricing: {input_per_mtok_usd: 0.5, output_per_mtok_usd: 2.0, one_time_usd: 5}
"""


@pytest.fixture
def compare_suite(fake_suite: pytest.Pytester) -> pytest.Pytester:
    """The fake suite's three cases on 'prompt' (2 right) and 'tuned' (fine_tuned: 3 right,
    cheaper per request, $5 one-time), at 20,000 requests a day, a drop under 50 points tolerated."""
    fake_suite.makefile(".yaml", llmgate=COMPARE_CONFIG)
    return fake_suite
