"""One row per case and backend: what was asked, answered and measured.

Rows travel as ``item.user_properties`` (one ``llm_``-prefixed key per field) so that JUnit XML
and pytest-xdist carry them; the controller rebuilds rows from the reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .backends.base import Completion
from .cases import Case, Threshold
from .checks import CORRECTNESS, FORMAT, CheckResult, normalize_label, run_checks
from .cost import Pricing, request_cost_usd

PREFIX = "llm_"


@dataclass
class CaseRow:
    """The result of one case on one backend, as written to the JSON results file."""

    id: str
    file: str
    group: str
    category: str
    backend: str
    input: str = ""
    passed: bool = False
    format_ok: bool = False
    must_pass: bool = False
    output: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    expected_label: str | None = None
    predicted_label: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    tokens_estimated: bool = False
    cost_usd: float | None = None
    error: str | None = None
    threshold_accuracy: float | None = None
    threshold_format: float | None = None
    gate: str = "point"

    @property
    def missed(self) -> bool:
        """True when the backend answered and a correctness or format check failed."""
        return self.error is None and not (self.passed and self.format_ok)

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The checks that did not hold."""
        return [c for c in self.checks if not c["passed"]]

    def to_properties(self) -> list[tuple[str, Any]]:
        """``(llm_<field>, value)`` pairs for ``item.user_properties``; lists become JSON text."""
        return [
            (PREFIX + key, json.dumps(value) if isinstance(value, list) else value)
            for key, value in asdict(self).items()
        ]

    @classmethod
    def from_properties(cls, properties: Iterable[tuple[str, Any]]) -> CaseRow | None:
        """Rebuild a row from a report's user_properties; None when the item was not a case."""
        values = {key[len(PREFIX):]: value for key, value in properties if key.startswith(PREFIX)}
        if "id" not in values:
            return None
        known = {f.name for f in fields(cls)}
        data = {key: value for key, value in values.items() if key in known}
        if isinstance(data.get("checks"), str):
            data["checks"] = json.loads(data["checks"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def score(row: CaseRow, case: Case, completion: Completion, pricing: Pricing) -> CaseRow:
    """Fill ``row`` with the checks and measurements of ``completion`` for ``case``."""
    results: list[CheckResult] = run_checks(completion.text, case.expect, case.format)
    row.output = completion.text
    row.checks = [r.to_dict() for r in results]
    row.passed = all(r.passed for r in results if r.kind == CORRECTNESS)
    row.format_ok = all(r.passed for r in results if r.kind == FORMAT)
    if "label" in case.expect:
        row.predicted_label = normalize_label(completion.text)
    row.latency_ms = round(completion.latency_s * 1000, 3)
    row.ttft_ms = round(completion.ttft_s * 1000, 3)
    row.prompt_tokens = completion.prompt_tokens
    row.completion_tokens = completion.completion_tokens
    row.cached_prompt_tokens = completion.cached_prompt_tokens
    row.tokens_estimated = completion.tokens_estimated
    row.cost_usd = request_cost_usd(pricing, completion.prompt_tokens, completion.completion_tokens,
                                    completion.latency_s, completion.cached_prompt_tokens)
    return row


def new_row(case: Case, file: str, group: str, backend: str, threshold: Threshold | None) -> CaseRow:
    """A row for ``case`` on ``backend`` before it runs."""
    threshold = threshold or Threshold()
    return CaseRow(
        id=case.id, file=file, group=group, category=case.category, backend=backend,
        input=case.input_text, must_pass=case.must_pass,
        expected_label=normalize_label(case.expect["label"]) if "label" in case.expect else None,
        threshold_accuracy=threshold.accuracy, threshold_format=threshold.format, gate=threshold.gate,
    )
