"""Reports: each renderer takes the Analysis alone; files are written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..verdict.analysis import Analysis


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp creates the file 0600; a report gets the usual permissions of a new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_reports(
    analysis: Analysis,
    json_path: Path | None,
    md_path: Path | None,
    html_path: Path | None,
    baseline_path: Path | None = None,
) -> None:
    """Write each report asked for, all from one analysis; a baseline is the JSON document, saved for
    a later --llm-baseline; plotly is imported only for HTML."""
    paths = [path for path in (json_path, baseline_path) if path is not None]
    document = json.dumps(analysis.to_dict(), indent=2) + "\n" if paths else ""
    for path in paths:
        write_text(path, document)
    if md_path is not None:
        from .markdown import markdown_report

        write_text(md_path, markdown_report(analysis))
    if html_path is not None:
        from .html import html_report  # plotly is heavy: load it only when asked

        write_text(html_path, html_report(analysis))
