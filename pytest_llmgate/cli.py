"""The ``llmgate`` console command: backends, init, add-case, export-finetune, check-data.

Exit codes: 0 ok; 1 refused or a finding (a duplicate case, eval cases in an export, leakage);
2 a usage or input error, printed as one line naming the file and line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .backends.spec import BackendSpec, Prompt
from .data.init import DEFAULT_PROVIDER, PROVIDERS
from .errors import SpecError
from .suite.config import SuiteConfig, find_config, load_config

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("backends", "init", "add-case", "export-finetune", "check-data")
SUITE_HELP = "the suite folder (default: the folder of the nearest llmgate.yaml)"


class UsageProblem(Exception):
    """A command line that cannot be carried out; the message says what to pass instead."""


def main(argv: list[str] | None = None) -> int:
    """Run an ``llmgate`` command; without one, list the backends of the nearest llmgate.yaml."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv.insert(0, "backends")  # `llmgate [path]`, the original form, keeps working
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (SpecError, UsageProblem) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmgate", description="pytest-llmgate: LLM behaviour gates for pytest")
    parser.add_argument("--version", action="version", version=f"pytest-llmgate {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    backends = commands.add_parser("backends", help="print the version and the backends (the default command)")
    backends.add_argument("path", nargs="?", default=".", help="a folder or config file (default: .)")
    backends.set_defaults(handler=run_backends)

    init = commands.add_parser("init", help="write a working suite: llmgate.yaml, case files and a CI workflow")
    init.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=DEFAULT_PROVIDER,
        help=f"the backend's provider (default: {DEFAULT_PROVIDER})",
    )
    init.add_argument("folder", nargs="?", type=Path, default=Path("."), metavar="DIR", help="where (default: .)")
    init.set_defaults(handler=run_init)

    add = commands.add_parser("add-case", help="turn a logged request into a case (production bug -> case)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-log",
        type=Path,
        metavar="FILE",
        help="a logged chat request (JSON) or many (JSONL): {model, messages} or {request, response}",
    )
    source.add_argument("--input", metavar="TEXT", help="the user message, typed in")
    add.add_argument("--label", help="the correct label: expect {label: ...}")
    add.add_argument("--expect-json", metavar="JSON", help='expected fields, e.g. \'{"urgency": "high"}\'')
    add.add_argument(
        "--not-contains",
        action="append",
        default=[],
        metavar="TEXT",
        help="text the answer must not contain (repeatable)",
    )
    add.add_argument("--category", default="edge", help="common, edge or adversarial (default: edge)")
    add.add_argument("--file", type=Path, help="the case file to append to (default: <suite>/<category>.llm.yaml)")
    add.add_argument("--suite", type=Path, metavar="DIR", help=SUITE_HELP)
    add.add_argument(
        "--backend",
        metavar="NAME",
        help="strip this backend's system prompt and few-shot turns from the logged messages",
    )
    add.add_argument("--id", dest="case_id", help="the case id (default: derived from the input)")
    add.add_argument(
        "--tag",
        action="append",
        dest="tags",
        metavar="NAME",
        help="a pytest mark for the case (repeatable; default: regression)",
    )
    add.add_argument("--dry-run", action="store_true", help="print the change as a diff and write nothing")
    add.set_defaults(handler=run_add_case)

    export = commands.add_parser("export-finetune", help="write OpenAI chat fine-tuning JSONL from cases or results")
    export.add_argument("cases", nargs="*", type=Path, metavar="CASES", help="case files or folders of case files")
    export.add_argument(
        "--results",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="a --llm-report-json results file: each passed row's output becomes an answer",
    )
    export.add_argument("--out", "-o", type=Path, required=True, help="the JSONL file to write")
    export.add_argument("--backend", metavar="NAME", help="the backend whose system prompt goes into each example")
    export.add_argument(
        "--system-prompt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="include the backend's system prompt (default: yes with --backend)",
    )
    export.add_argument("--suite", type=Path, metavar="DIR", help=SUITE_HELP)
    export.add_argument("--allow-eval-cases", action="store_true", help="export the suite's own eval cases anyway")
    export.set_defaults(handler=run_export)

    check = commands.add_parser("check-data", help="the pre-training checklist: duplicates, leakage, balance, format")
    check.add_argument("train", type=Path, metavar="TRAIN.jsonl")
    check.add_argument("--suite", type=Path, metavar="DIR", help=SUITE_HELP)
    check.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        metavar="JSONL",
        help="another file to keep out of training, e.g. a held-out set (repeatable)",
    )
    check.add_argument(
        "--near",
        type=float,
        default=None,
        metavar="J",
        help="near-duplicate threshold: character 5-gram Jaccard (default: 0.8)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(handler=run_check_data)
    return parser


# ----------------------------------------------------------------------------- backends


def run_backends(args: argparse.Namespace) -> int:
    """Print the version and the backends of the nearest llmgate.yaml."""
    target = Path(args.path)
    config_path = target if target.is_file() else find_config(target.resolve())
    print(f"pytest-llmgate {__version__}")
    if config_path is None:
        print(f"no llmgate.yaml in {target.resolve()} or above")
        return EXIT_REFUSED
    try:
        suite = load_config(config_path)
    except SpecError as exc:
        print(f"error: {exc}")
        return EXIT_USAGE
    print(f"config: {config_path}")
    for name, spec in suite.backends.items():
        default = " (default)" if name == suite.default_backend else ""
        print(f"  {name}{default}: {spec.provider} {spec.model}")
    return EXIT_OK


# ----------------------------------------------------------------------------- init


def run_init(args: argparse.Namespace) -> int:
    """``llmgate init``: write a suite that runs as it is; refuse (writing nothing) if any of its files exists."""
    from .data.init import WouldOverwrite, scaffold, write

    try:
        plan = scaffold(args.provider, args.folder)
        written = write(plan)
    except WouldOverwrite as exc:
        raise UsageProblem(
            f"llmgate init writes nothing: {exc} already exist(s); move them or pick another DIR"
        ) from None
    for path in written:
        print(f"wrote {path}")
    print(f"next: {plan.next_command}")
    return EXIT_OK


# ----------------------------------------------------------------------------- shared


def suite_folder(explicit: Path | None, *starts: Path) -> Path:
    """The suite folder: ``--suite``, else the folder of the nearest llmgate.yaml above a start folder."""
    if explicit is not None:
        if not explicit.is_dir():
            raise UsageProblem(f"--suite {explicit}: not a folder")
        return explicit
    for start in starts:
        config = find_config(start.resolve())
        if config is not None:
            return config.parent
    raise UsageProblem(f"no llmgate.yaml in {starts[0].resolve()} or above; pass --suite DIR")


def suite_backend(suite: Path, name: str) -> BackendSpec:
    """The backend ``name`` of the suite's llmgate.yaml."""
    config_path = suite / "llmgate.yaml"
    if not config_path.is_file():
        raise UsageProblem(f"--backend {name}: no llmgate.yaml in {suite}")
    config: SuiteConfig = load_config(config_path)
    return config.backend(name)


# ----------------------------------------------------------------------------- add-case


def run_add_case(args: argparse.Namespace) -> int:
    """``llmgate add-case``: append the corrected case(s) to a case file; refuse inputs already there."""
    from .data.addcase import AddRequest, add_cases, expectation, read_logged_requests, typed_request
    from .data.examples import display_path

    expect = expectation(args.label, _json_object(args.expect_json), args.not_contains)
    if not expect:
        raise UsageProblem("say what the right answer is: --label, --expect-json and/or --not-contains")
    start = args.file.parent if args.file is not None and args.suite is None else Path.cwd()
    suite = suite_folder(args.suite, start)
    requests = read_logged_requests(args.from_log) if args.from_log is not None else [typed_request(args.input)]
    if args.case_id is not None and len(requests) > 1:
        raise UsageProblem(f"--id names one case, but {args.from_log} holds {len(requests)} requests")
    backend = suite_backend(suite, args.backend) if args.backend else None
    prompts: dict[str | None, Prompt] = {}
    if backend:
        prompts = {None: backend.prompt}
        prompts.update(backend.tasks)
    spec = AddRequest(
        target=args.file or suite / f"{args.category}.llm.yaml",
        suite=suite,
        expect=expect,
        category=args.category,
        prompts=prompts,
        tags=args.tags if args.tags is not None else ["regression"],
        case_id=args.case_id,
        dry_run=args.dry_run,
    )
    outcome = add_cases(requests, spec)
    for note in outcome.notes:
        print(f"note: {note}")
    if len(requests) == 1 and outcome.skipped:
        source, existing = outcome.skipped[0]
        print(f"refused: this input is already in the suite as {existing}")
        return EXIT_REFUSED
    if args.dry_run:
        print(outcome.diff, end="")
    verb = "would add" if args.dry_run else "added"
    for source, case_id in outcome.added:
        print(f"{verb} {display_path(spec.target)}::{case_id}  ({source})")
    for source, existing in outcome.skipped:
        print(f"skipped {source}: already in the suite as {existing}")
    print(
        f"{len(outcome.added)} case(s) {'to add' if args.dry_run else 'added'}, "
        f"{len(outcome.skipped)} duplicate(s) skipped"
    )
    return EXIT_OK


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"--expect-json is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict) or not value:
        raise UsageProblem('--expect-json must be a JSON object of fields, e.g. \'{"urgency": "high"}\'')
    return value


# ----------------------------------------------------------------------------- training data


def run_export(args: argparse.Namespace) -> int:
    """``llmgate export-finetune``: gold answers of cases and passed outputs of results, as chat JSONL."""
    from .data.examples import display_path, eval_matches, eval_references, load_cases, write_examples
    from .data.export import EVAL_SET_WARNING, Export, export_cases, export_results

    if not args.cases and not args.results:
        raise UsageProblem("name case files (or folders) and/or --results JSON to export from")
    if args.system_prompt and not args.backend:
        raise UsageProblem("--system-prompt takes the prompt of a backend: add --backend NAME")
    suite = suite_folder(args.suite, Path.cwd(), *args.cases, *args.results)
    backend = suite_backend(suite, args.backend) if args.backend else None
    with_system = args.system_prompt is not False
    export = Export()
    export_cases(export, load_cases(args.cases), backend, with_system)
    for results in args.results:
        export_results(export, results, backend, with_system)
    eval_hits = eval_matches(export.examples, eval_references(suite))
    if eval_hits and not args.allow_eval_cases:
        names = ", ".join(reference.where for _, reference in eval_hits[:5])
        more = f" and {len(eval_hits) - 5} more" if len(eval_hits) > 5 else ""
        print(
            f"refused: {len(eval_hits)} example(s) are eval cases of the suite in {display_path(suite.resolve())} "
            f"({names}{more}); {EVAL_SET_WARNING}. Export from cases outside the suite, "
            "or pass --allow-eval-cases if you really mean it."
        )
        return EXIT_REFUSED
    write_examples(args.out, export.examples)
    print(f"wrote {len(export.examples)} example(s) to {args.out}; skipped {len(export.skipped)}")
    for reason in export.skipped:
        print(f"  skipped {reason}")
    if eval_hits:
        print(f"warning: {len(eval_hits)} example(s) are eval cases (--allow-eval-cases); {EVAL_SET_WARNING}")
    return EXIT_OK


def run_check_data(args: argparse.Namespace) -> int:
    """``llmgate check-data``: the pre-training checklist; exit 1 when eval inputs leak into training."""
    from .data.checkdata import NEAR_THRESHOLD, check_data, render_report
    from .data.examples import eval_references, example_references, read_examples

    threshold = NEAR_THRESHOLD if args.near is None else args.near
    if not 0 < threshold <= 1:
        raise UsageProblem(f"--near must be in (0, 1], got {threshold}")
    suite = suite_folder(args.suite, args.train.parent, Path.cwd())
    references = eval_references(suite) + [r for extra in args.extra for r in example_references(extra)]
    report = check_data(read_examples(args.train), references, threshold)
    print(json.dumps(report.to_dict(), indent=2) if args.json else render_report(report))
    return EXIT_OK if report.passed else EXIT_REFUSED
