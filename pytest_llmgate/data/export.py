"""export-finetune: training examples from the gold answers of cases, or from the passed outputs of a run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.spec import BackendSpec
from ..suite.cases import Case
from ..verdict.results import read_results
from ..verdict.rows import ANSWERED
from .examples import Example, case_where, normalize_text

EVAL_SET_WARNING = (
    "training on the eval set makes the gate meaningless: it would measure what the model "
    "memorised, not how it behaves on inputs it has not seen"
)


def gold_answer(case: Case) -> str | None:
    """The answer a case's expectation spells out (label, fields as compact JSON, equals), or None."""
    if isinstance(case.expect.get("label"), str):
        return case.expect["label"]
    if isinstance(case.expect.get("fields"), Mapping):
        return json.dumps(dict(case.expect["fields"]), ensure_ascii=False, separators=(",", ":"))
    if isinstance(case.expect.get("equals"), str):
        return case.expect["equals"]
    return None


@dataclass
class Export:
    """Examples gathered for fine-tuning, and why the others were left out."""

    examples: list[Example] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    _user_texts: set[str] = field(default_factory=set, repr=False)

    def add(self, system: str | None, turns: Iterable[Mapping[str, str]], answer: str, source: str) -> None:
        """Add one example, unless one with the same user message is already in (first wins)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [dict(t) for t in turns]
        example = Example(tuple(messages + [{"role": "assistant", "content": answer}]), source)
        key = normalize_text(example.user_text)
        if key in self._user_texts:
            self.skipped.append(f"{source}: same user message as an earlier example")
            return
        self._user_texts.add(key)
        self.examples.append(example)


def export_cases(
    export: Export, cases: Iterable[tuple[Path, Case]], backend: BackendSpec | None, with_system: bool
) -> None:
    """Add each case with a derivable answer, sent as ``backend`` would (its system prompt, no few-shot)."""
    for path, case in cases:
        where = case_where(path, case)
        answer = gold_answer(case)
        prompt = backend.prompt_for(case.task) if backend else None
        if answer is None:
            export.skipped.append(f"{where}: no label, fields or equals to use as the answer")
        elif backend and prompt is None:
            export.skipped.append(f"{where}: backend {backend.name!r} has no prompt for task {case.task!r}")
        else:
            export.add(prompt.system if prompt and with_system else None, case.messages, answer, where)


def export_results(export: Export, path: Path, backend: BackendSpec | None, with_system: bool) -> None:
    """Add the output of every passed row of a JSON results file (``--llm-report-json``)."""
    system = backend.prompt.system if backend and with_system else None
    for row in read_results(path).rows:
        where = f"{row.where}[{row.backend}]"
        if row.passed is not True or row.status != ANSWERED:
            export.skipped.append(f"{where}: not passed")
        else:
            export.add(system, [{"role": "user", "content": row.input}], row.output.strip(), where)
