"""Errors a user can act on: each names the file, the line and what to fix."""

from __future__ import annotations

from pathlib import Path


class SpecError(Exception):
    """A case file or config file is wrong; the message says where and how."""

    def __init__(self, path: Path | str | None, line: int | None, message: str):
        self.path = Path(path) if path is not None else None
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.path) if self.path else "<config>"
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}"
