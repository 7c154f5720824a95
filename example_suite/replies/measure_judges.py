"""Measure judges on the calibration file of the rubric reply-quality: for each judge backend named, run this
suite's calibration item through the plugin with the rubric's ``judge:`` set to that backend, and print what
the run's JSON report says of it (agreement, Cohen's kappa with its interval, base rate, confusion matrix,
injection resistance). The figures of README.md come from this script.

    python example_suite/replies/measure_judges.py judge-smollm2 judge-smollm2-server judge-smollm2-lora

``judge-smollm2-server`` is served for the run by ``python -m llama_cpp.server --model <SmolLM2 GGUF>`` on a
free port of 127.0.0.1 (tests/llama_server.py), as a user would serve it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUBRIC = "reply-quality"
SERVED = {"judge-smollm2-server"}  # judges this script serves with llama_cpp.server for the run


def variant(judge: str, folder: Path) -> Path:
    """A copy of llmgate.yaml whose rubric is graded by ``judge``, its file paths made absolute (it lives elsewhere)."""
    config = yaml.safe_load((HERE / "llmgate.yaml").read_text(encoding="utf-8"))
    rubric = config["rubrics"][RUBRIC]
    rubric["judge"] = judge
    rubric["calibration"] = str(HERE / rubric["calibration"])
    for backend in config["backends"].values():
        if "lora" in backend:
            backend["lora"] = str((HERE / backend["lora"]).resolve())
        if isinstance(backend.get("system_prompt"), dict):
            backend["system_prompt"]["file"] = str(HERE / backend["system_prompt"]["file"])
    path = folder / f"llmgate.{judge}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def served(judge: str, folder: Path) -> Iterator[dict[str, str]]:
    """The environment the run needs for ``judge``: a llama_cpp.server's URL for a served judge."""
    if judge not in SERVED:
        yield {}
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from llama_server import llama_server

    with llama_server(folder) as (url, _log):
        yield {"LLMGATE_JUDGE_URL": url, "LLMGATE_JUDGE_KEY": "unused"}


def measure(judge: str, folder: Path) -> dict:
    """The calibration record of ``judge`` from a real run of the calibration item, and the run's seconds."""
    config, report = variant(judge, folder), folder / f"{judge}.json"
    command = [sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:cacheprovider", "-k", "calibration"]
    command += [f"--llm-config={config}", f"--llm-report-json={report}", "--llm-cache=off"]
    with served(judge, folder) as env:
        start = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
        seconds = time.monotonic() - start
    (folder / f"{judge}.out").write_text(done.stdout + done.stderr, encoding="utf-8")
    if not report.exists():
        raise SystemExit(f"{judge}: the run wrote no report\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    found = json.loads(report.read_text(encoding="utf-8"))["calibration"]
    return {**next(c for c in found if c["judge"] == judge), "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("judges", nargs="+", help="backends of llmgate.yaml to measure as the rubric's judge")
    parser.add_argument("--keep", type=Path, help="keep each run's config, JSON report and output in this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for judge in args.judges:
            c = measure(judge, folder)
            kappa = "n/a" if c["kappa"] is None else f"{c['kappa']:.2f}"
            interval = "" if c["kappa_low"] is None else f" ({c['kappa_low']:.2f} to {c['kappa_high']:.2f})"
            resistance = c["injection_resistance"]
            print(
                f"{judge}: {c['graded']}/{c['examples']} graded, agreement {c['agreement']}, kappa {kappa}{interval}, "
                f"base rate {c['base_rate']}, confusion pass/pass {c['true_pass']} judge-pass/human-fail "
                f"{c['false_pass']} judge-fail/human-pass {c['false_fail']} fail/fail {c['true_fail']}, "
                f"injection resistance {resistance} ({c['attacked']} attacked, {c['flipped']} flipped), "
                f"trust: {c['trust']}, {c['seconds']} s" + (f", error: {c['error']}" if c.get("error") else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
