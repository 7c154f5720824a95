"""One row per case and backend: what was asked, answered and measured.

A row travels whole as one report attribute (``report.llm_row``, its ``to_dict``), which pytest-xdist
serialises with the report; the controller rebuilds it once per report, keyed by node id.
``item.user_properties`` carry only the JUnit view: one ``llm_``-prefixed key per field, long texts
clipped, values as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from ..backends.base import Completion, ToolCall, redact
from ..backends.spec import Pricing
from ..checks.registry import CORRECTNESS, DEFAULT_CHECKS, FORMAT, CheckContext, CheckRegistry, CheckResult
from ..checks.text import clip, normalize_label
from ..checks.tools import malformed_calls
from ..robustness.perturb import PerturbResult
from ..suite.cases import Case
from .cost import completion_cost_usd

PREFIX = "llm_"
Status = Literal["answered", "error", "not_run", "skipped"]
ANSWERED: Status = "answered"
ERROR: Status = "error"
NOT_RUN: Status = "not_run"
SKIPPED: Status = "skipped"
# one answer checked, a search over perturbed variants, a judge graded on its calibration set, or two
# backends' answers to one case compared by a judge
RowKind = Literal["case", "perturb", "calibration", "pairwise"]
CASE: RowKind = "case"
PERTURB: RowKind = "perturb"
CALIBRATION: RowKind = "calibration"
PAIRWISE: RowKind = "pairwise"
GRADED_KINDS: tuple[RowKind, ...] = (CASE, PERTURB)  # the kinds of rows gates and comparisons count
CLIP_CHARS = 2000  # longest text echoed in JUnit properties and reports; the JSON keeps the whole output
DETAIL_CHARS = 500  # longest check detail or error message kept anywhere


@dataclass
class SearchOutcome:
    """What a perturbation search (``perturb:``) found, in a record of its own: a search row leaves the
    answer fields of a case (passed, output, latency, tokens, cost) empty rather than reuse them."""

    original_held: bool  # the unperturbed case kept its expectation (else there was nothing to flip)
    variants: int  # variants tried (the original and shrinking not counted)
    variants_held: int
    flip: str | None = None  # the smallest variant found that fails, and its edits
    flip_edits: str | None = None
    flip_output: str = ""  # the answer the smallest flip got
    flip_checks: list[dict[str, Any]] = field(default_factory=list)  # and its checks
    calls: int = 0  # backend calls the search made, the original and shrinking included
    latency_ms: float = 0.0  # what all its calls spent
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False  # every call was answered from the cache or a recording

    @property
    def flipped(self) -> bool:
        """A variant failed where the original held."""
        return self.original_held and self.flip is not None


@dataclass
class CaseRow:
    """The result of one case on one backend, as written to the JSON results file.

    ``passed`` is None when the case has no correctness checks, ``format_ok`` None when it has no
    format checks: such a case counts in neither rate.
    """

    id: str
    file: str
    group: str
    category: str
    backend: str
    nodeid: str = ""
    kind: RowKind = CASE
    sample: int = 1  # which draw of the case this is, from 1 to ``samples``
    samples: int = 1  # draws of the case asked for (repeat)
    source: str = ""  # the written case this row's case was made from (attacks); its own id otherwise
    status: Status = ANSWERED
    input: str = ""
    passed: bool | None = None
    format_ok: bool | None = None
    must_pass: bool = False
    output: str = ""
    output_chars: int = 0  # length of the whole output, which ``output`` may clip
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
    # cost_usd is what the backend itself reported (an application's own bill), not priced from ``pricing:``:
    # a recording keeps it, so a replay shows that figure instead of pricing the answer anew
    cost_reported: bool = False
    cached: bool = False  # the answer came from the response cache or a recording: its timings are old
    attack: str | None = None  # the attack template that made this case, if one did
    attack_family: str | None = None
    search: SearchOutcome | None = None  # a perturbation search's own record (kind 'perturb')
    request_key: str | None = None  # what the cache and recordings know the request by
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # the tools the answer called (name, arguments, id)
    # a conversation (``turns:``): per turn its user text, output, tool calls, checks and figures, and per step of
    # the turn its request key and answer (for recordings); the row's own figures are the sums, its output the last
    turns: list[dict[str, Any]] = field(default_factory=list)
    # the verdicts of the row's judge: checks (Judgement.to_dict: rubric, judge, votes, reason, the judge's own
    # tokens, cost and latency, kept apart from the answer's)
    judged: list[dict[str, Any]] = field(default_factory=list)
    # why the row's correctness is not counted (its judge fell below the rubric's min_kappa); set by the Analysis
    ungraded: str | None = None
    calibration: dict[str, Any] | None = None  # a calibration row's record: each labelled example's verdicts
    pairwise: dict[str, Any] | None = None  # a pairwise row's record: the judge's choice in each order
    error: str | None = None

    @property
    def answered(self) -> bool:
        """True when the backend gave an answer that was checked."""
        return self.status == ANSWERED

    @property
    def cluster(self) -> tuple[str, str]:
        """(file, source case): the rows of one cluster (a case, its attacks, perturbations and draws) are
        not independent evidence, so statistics count them together (docs/stats.md)."""
        return self.file, self.source or self.id

    @property
    def missed(self) -> bool:
        """True when the backend answered and a correctness or format check failed (for a perturbation
        search: a variant flipped a case that held)."""
        if self.search is not None:
            return self.answered and self.search.flipped
        return self.answered and (self.passed is False or self.format_ok is False)

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The checks that did not hold (of the smallest flip, for a perturbation search)."""
        checks = self.search.flip_checks if self.search is not None else self.checks
        return [c for c in checks if not c["passed"]]

    def completion(self) -> Completion:
        """The answer this row holds, as a backend returned it (for recordings)."""
        return Completion(
            self.output,
            self.prompt_tokens or 0,
            self.completion_tokens or 0,
            (self.latency_ms or 0) / 1000,
            (self.ttft_ms or 0) / 1000,
            self.tokens_estimated,
            self.cached_prompt_tokens or 0,
            cost_usd=self.cost_usd if self.cost_reported else None,  # a priced cost is priced again on replay
            tool_calls=tuple(ToolCall(**call) for call in self.tool_calls),
        )

    @property
    def where(self) -> str:
        """'file::id' for messages."""
        return f"{self.file}::{self.id}"

    def to_properties(self) -> list[tuple[str, str]]:
        """The JUnit view: ``(llm_<field>, value)`` pairs for ``item.user_properties``, long texts clipped,
        every value that is not text written as JSON (``null``, ``false``, ``[...]``), never a Python repr."""
        data = self.to_dict()
        data["output"], data["input"] = clip(self.output, CLIP_CHARS), clip(self.input, CLIP_CHARS)
        return [(PREFIX + key, _json_text(value)) for key, value in data.items()]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseRow:
        """Rebuild a row from its ``to_dict``; keys it does not know are ignored (a newer writer),
        a missing or mistyped required one is a ValueError naming it."""
        known = {key: value for key, value in data.items() if key in _FIELD_NAMES}
        for key in _REQUIRED:
            if not isinstance(known.get(key), str):
                raise ValueError(f"a case row needs {key!r} (a string), got {known.get(key)!r}")
        if isinstance(known.get("search"), Mapping):
            search = known["search"]
            known["search"] = SearchOutcome(
                **{f.name: search[f.name] for f in fields(SearchOutcome) if f.name in search}
            )
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (shallow but for the search record: it is made once per report)."""
        data = {name: getattr(self, name) for name in _FIELD_ORDER}
        if self.search is not None:
            data["search"] = asdict(self.search)
        return data

    def miss_text(self) -> str:
        """What a reader needs to see of a missed case: input, output and the failed checks (for a
        perturbation search, the smallest flipping variant beside the original)."""
        if self.search is not None:
            search = self.search
            lines = [
                f"{self.where} [{self.backend}] ({self.category}) flipped: {search.variants_held} of {search.variants} variants held",
                f"  original:      {_one_line(self.input)}",
                f"  smallest flip: {_one_line(search.flip or '')}",
                f"  edits:         {search.flip_edits}",
                f"  output:        {_one_line(search.flip_output)}",
            ]
        else:
            lines = [
                f"{self.where} [{self.backend}] ({self.category}) missed",
                f"  input:  {_one_line(self.input)}",
                f"  output: {_one_line(self.output)}",
            ]
        lines += [f"  failed {c['kind']} check {c['name']}: {c['detail']}" for c in self.failed_checks]
        return "\n".join(lines)


_FIELD_ORDER = tuple(f.name for f in fields(CaseRow))
_FIELD_NAMES = frozenset(_FIELD_ORDER)
_JSON_WORDS = {None: "null", True: "true", False: "false"}


def _json_text(value: Any) -> str:
    """``value`` as a property's text: itself when text, else its JSON (the common scalars without the encoder)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return _JSON_WORDS[value]
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


_REQUIRED = ("id", "file", "group", "category", "backend")


def _one_line(text: str, limit: int = 300) -> str:
    flat = repr(text)
    return flat if len(flat) <= limit else f"{flat[: limit - 3]}... ({len(text):,} characters)"


def score(
    row: CaseRow,
    case: Case,
    completion: Completion,
    pricing: Pricing,
    secrets: Sequence[str] = (),
    checks: CheckRegistry = DEFAULT_CHECKS,
    context: CheckContext | None = None,
) -> CaseRow:
    """``row`` filled with the ``checks`` and measurements of ``completion`` for ``case``; secrets redacted.
    ``context`` (the backend and its prompt) is what checks such as no_prompt_leak see beyond the answer."""
    text = redact(completion.text, secrets)
    context = replace(context or CheckContext(), tool_calls=completion.tool_calls)  # what tool checks read
    results = checks.run(text, case.expect, case.format, context)
    results += [CheckResult(n, FORMAT, ok, detail) for n, ok, detail in malformed_calls(completion.tool_calls)]
    correctness = [r.passed for r in results if r.kind == CORRECTNESS]
    formats = [r.passed for r in results if r.kind == FORMAT]
    return replace(
        row,
        status=ANSWERED,
        output=text,
        output_chars=len(text),
        tool_calls=[json.loads(redact(json.dumps(asdict(call)), secrets)) for call in completion.tool_calls],
        checks=[{**r.to_dict(), "detail": clip(r.detail, DETAIL_CHARS)} for r in results],
        passed=all(correctness) if correctness else None,
        format_ok=all(formats) if formats else None,
        predicted_label=clip(normalize_label(text), DETAIL_CHARS) if "label" in case.expect else None,
        latency_ms=round(completion.latency_s * 1000, 3),
        ttft_ms=round(completion.ttft_s * 1000, 3),
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cached_prompt_tokens=completion.cached_prompt_tokens,
        tokens_estimated=completion.tokens_estimated,
        cached=completion.cached,
        cost_usd=completion_cost_usd(pricing, completion),
        cost_reported=completion.cost_usd is not None,
    )


def perturbed(row: CaseRow, result: PerturbResult, checked: Mapping[str, CaseRow]) -> CaseRow:
    """``row`` as the outcome of a perturbation search: variants tried and held, the smallest flip with
    the answer and checks it got, and what every call of the search (``checked``: by input) spent."""
    flip = result.failure
    answer = checked[flip.text] if flip else None
    spent = list(checked.values())
    search = SearchOutcome(
        original_held=result.original_held,
        variants=result.tried,
        variants_held=result.held,
        flip=flip.text if flip else None,
        flip_edits=flip.description if flip else None,
        flip_output=answer.output if answer else "",
        flip_checks=answer.checks if answer else [],
        calls=result.calls,
        latency_ms=round(sum(r.latency_ms or 0 for r in spent), 3),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in spent),
        completion_tokens=sum(r.completion_tokens or 0 for r in spent),
        cost_usd=sum(r.cost_usd or 0 for r in spent),
        cached=bool(spent) and all(r.cached for r in spent),
    )
    return replace(row, status=ANSWERED, search=search)


def errored(row: CaseRow, message: str, secrets: Sequence[str] = ()) -> CaseRow:
    """``row`` as an error: the backend (or the harness) gave no answer to check."""
    return replace(row, status=ERROR, error=clip(redact(message, secrets), DETAIL_CHARS))


def source_id(case: Case) -> str:
    """The id of the written case ``case`` was made from: an attacked case's id less its '.<attack>' suffix."""
    if case.attack is None:
        return case.id
    return case.id.removesuffix("." + case.attack.replace("#", "-"))


def new_row(case: Case, file: str, group: str, backend: str, nodeid: str, sample: int = 1, samples: int = 1) -> CaseRow:
    """A row for draw ``sample`` of ``case`` on ``backend`` before it runs: not run until a report says otherwise."""
    return CaseRow(
        id=case.id,
        file=file,
        group=group,
        category=case.category,
        backend=backend,
        nodeid=nodeid,
        sample=sample,
        samples=samples,
        source=source_id(case),
        attack=case.attack,
        attack_family=case.attack_family,
        status=NOT_RUN,
        input=case.input_text,
        must_pass=case.must_pass,
        expected_label=normalize_label(case.expect["label"]) if "label" in case.expect else None,
    )
