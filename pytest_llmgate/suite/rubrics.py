"""``rubrics:`` of llmgate.yaml: what a ``judge:`` check grades against, which backend judges, and the file of
labelled examples (the calibration set) the judge is measured on before its verdicts count."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks.judge import SCALE
from ..errors import SpecError, SpecErrors
from .yamlio import LineDict, LineList, expect_mapping, line_of, load_yaml, reject_unknown, type_name

RUBRIC_KEYS = (
    "text",
    "judge",
    "calibration",
    "min_kappa",
    "samples",
    "pass_score",
    "temperature",
    "seed",
    "max_tokens",
    "allow_judging_itself",
)
EXAMPLE_KEYS = ("input", "output", "verdict", "reference")
DEFAULT_MIN_KAPPA = 0.6  # "substantial" agreement beyond chance (Landis and Koch), the bar the docs explain
DEFAULT_SAMPLED_TEMPERATURE = 0.7  # with samples > 1: draws at temperature 0 could not differ
DEFAULT_JUDGE_TOKENS = 256
MAX_EXAMPLES = 10_000


@dataclass(frozen=True)
class CalibrationExample:
    """One labelled example: a message, an answer to it, and the human verdict on that answer."""

    input: str
    output: str
    verdict: bool  # True: pass
    reference: str | None
    line: int


@dataclass(frozen=True)
class RubricSpec:
    """One rubric: its text, its judge (a backend of the same llmgate.yaml) and how the judge is asked."""

    name: str
    text: str
    judge: str
    config_path: Path
    line: int
    calibration: Path | None = None
    min_kappa: float = DEFAULT_MIN_KAPPA
    samples: int = 1  # judge calls per answer; the majority verdict counts
    pass_score: int | None = None  # None: pass/fail; else the least score (1 to 5) that passes
    temperature: float = 0.0  # 0 for one sample; sampled draws need more
    seed: int = 0  # sample i is asked with seed + i - 1, so reruns draw the same samples
    max_tokens: int = DEFAULT_JUDGE_TOKENS
    allow_judging_itself: bool = False  # a backend grading its own answers favours them: refused unless allowed

    @property
    def where(self) -> str:
        """'rubric NAME (FILE:LINE)' for messages."""
        return f"rubric {self.name!r} ({self.config_path}:{self.line})"


def parse_rubrics(root: LineDict, path: Path, backends: Mapping[str, Any]) -> dict[str, RubricSpec]:
    """The ``rubrics:`` of a config whose backends are ``backends`` (their names suffice); one SpecError
    listing every problem, each at its line."""
    node = expect_mapping(root["rubrics"], path, root.line_of("rubrics"), "'rubrics'")
    errors = SpecErrors()
    rubrics = {}
    for name, raw in node.items():
        with errors.part():
            rubrics[name] = _parse_rubric(name, raw, node.line_of(name), path, backends)
    errors.raise_any()
    return rubrics


def _parse_rubric(name: str, raw: Any, line: int, path: Path, backends: Mapping[str, Any]) -> RubricSpec:
    where = f"rubric {name!r}"
    node = expect_mapping(raw, path, line, where)
    reject_unknown(node, RUBRIC_KEYS, path, f"key of {where}")
    errors = SpecErrors()

    def fail(key: str, message: str) -> None:
        errors.add(SpecError(path, node.line_of(key) if key in node else line, f"{where}: {message}"))

    text, judge = node.get("text"), node.get("judge")
    if not isinstance(text, str) or not text.strip():
        fail("text", "needs 'text': what a passing answer does, in a sentence or two")
    if not isinstance(judge, str) or not judge:
        fail("judge", "needs 'judge': the name of a backend of this file that grades")
    elif judge not in backends:
        fail("judge", f"judge {judge!r} is not a backend of this file (defined: {', '.join(backends) or 'none'})")
    calibration = None
    if "calibration" in node:
        ref = node["calibration"]
        if not isinstance(ref, str) or not ref:
            fail("calibration", f"'calibration' must be the path of a file of labelled examples, got {type_name(ref)}")
        elif not (path.parent / ref).is_file():
            fail("calibration", f"calibration file {path.parent / ref} does not exist")
        else:
            calibration = path.parent / ref
    min_kappa = node.get("min_kappa", DEFAULT_MIN_KAPPA)
    if isinstance(min_kappa, bool) or not isinstance(min_kappa, (int, float)) or not -1 <= min_kappa <= 1:
        fail("min_kappa", f"'min_kappa' must be a number from -1 to 1 (Cohen's kappa), got {min_kappa!r}")
    samples = node.get("samples", 1)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1 or samples % 2 == 0:
        fail("samples", f"'samples' must be an odd whole number >= 1 (so a majority exists), got {samples!r}")
        samples = 1
    pass_score = node.get("pass_score")
    low, high = SCALE
    if pass_score is not None and (
        isinstance(pass_score, bool) or not isinstance(pass_score, int) or not low < pass_score <= high
    ):
        fail(
            "pass_score",
            f"'pass_score' must be a whole number from {low + 1} to {high} (scores run {low}-{high}), got {pass_score!r}",
        )
    default_temperature = DEFAULT_SAMPLED_TEMPERATURE if samples > 1 else 0.0
    temperature = node.get("temperature", default_temperature)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        fail("temperature", f"'temperature' must be a number from 0 to 2, got {temperature!r}")
    elif samples > 1 and temperature == 0:
        fail(
            "temperature",
            f"samples: {samples} at temperature 0 would draw the same verdict {samples} times; set temperature > 0 or samples: 1",
        )
    seed, max_tokens = node.get("seed", 0), node.get("max_tokens", DEFAULT_JUDGE_TOKENS)
    if isinstance(seed, bool) or not isinstance(seed, int):
        fail("seed", f"'seed' must be a whole number, got {seed!r}")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 16:
        fail("max_tokens", f"'max_tokens' must be a whole number >= 16 (room for the verdict), got {max_tokens!r}")
    allow = node.get("allow_judging_itself", False)
    if not isinstance(allow, bool):
        fail("allow_judging_itself", f"'allow_judging_itself' must be true or false, got {allow!r}")
    errors.raise_any()
    assert isinstance(text, str) and isinstance(judge, str)  # else an error was raised above
    return RubricSpec(
        name=name,
        text=text.strip(),
        judge=judge,
        config_path=path,
        line=line,
        calibration=calibration,
        min_kappa=float(min_kappa),
        samples=samples,
        pass_score=pass_score,
        temperature=float(temperature),
        seed=seed,
        max_tokens=max_tokens,
        allow_judging_itself=allow,
    )


def load_calibration(path: Path) -> tuple[CalibrationExample, ...]:
    """The labelled examples of a calibration file: a list (or ``examples:``) of ``{input, output, verdict:
    pass|fail, reference?}``; one SpecError listing every bad example, each at its line."""
    data = load_yaml(path, "calibration file")
    items = data.get("examples") if isinstance(data, dict) and set(data) == {"examples"} else data
    if not isinstance(items, list) or not items:
        raise SpecError(
            path,
            line_of(data, default=1),
            "a calibration file must be a non-empty list of examples {input, output, verdict: pass|fail}, or {examples: [...]}",
        )
    if len(items) > MAX_EXAMPLES:
        raise SpecError(path, 1, f"a calibration file holds at most {MAX_EXAMPLES:,} examples, this one {len(items):,}")
    errors = SpecErrors()
    examples = []
    for position, item in enumerate(items):
        item_line = line_of(item, default=items.item_lines[position] if isinstance(items, LineList) else 1)
        with errors.part():
            examples.append(_example(item, path, item_line, position + 1))
    errors.raise_any()
    return tuple(examples)


def _example(item: Any, path: Path, line: int, number: int) -> CalibrationExample:
    where = f"example {number}"
    node = expect_mapping(item, path, line, where)
    reject_unknown(node, EXAMPLE_KEYS, path, f"key of {where}")
    for key in ("input", "output"):
        if not isinstance(node.get(key), str):
            raise SpecError(path, node.line_of(key) if key in node else node.line, f"{where} needs {key!r} (a text)")
    verdict = node.get("verdict")
    if verdict not in ("pass", "fail"):
        raise SpecError(
            path,
            node.line_of("verdict") if "verdict" in node else node.line,
            f"{where}: 'verdict' must be pass or fail, got {verdict!r}",
        )
    reference = node.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise SpecError(path, node.line_of("reference"), f"{where}: 'reference' must be a text")
    return CalibrationExample(node["input"], node["output"], verdict == "pass", reference, node.line)
