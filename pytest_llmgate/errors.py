"""Errors a user can act on: each names the file, the line and what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file: where it is and what to do about it."""

    path: Path | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = str(self.path) if self.path else "<config>"
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}"


class SpecError(Exception):
    """A case file or config file is wrong; the message says where and how.

    One error may carry every problem found in a file (``problems``, one line each), so a user fixes
    them in one pass; ``path``, ``line`` and ``message`` are those of the first.
    """

    def __init__(self, path: Path | str | None, line: int | None, message: str):
        self.path = Path(path) if path is not None else None
        self.line = line
        self.message = message
        self.problems: tuple[Problem, ...] = (Problem(self.path, line, message),)
        super().__init__(str(self))

    @classmethod
    def of(cls, errors: Iterable[SpecError]) -> SpecError:
        """One error carrying every problem of ``errors`` (each once), by file and line as a user reads them."""
        found = dict.fromkeys(problem for error in errors for problem in error.problems)
        problems = tuple(sorted(found, key=lambda problem: (str(problem.path), problem.line or 0)))
        first = problems[0]
        error = cls(first.path, first.line, first.message)
        error.problems = problems
        error.args = (str(error),)
        return error

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


class SpecErrors:
    """Gathers the problems of one file, part by part, so that all of them are reported together."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    @contextmanager
    def part(self) -> Iterator[None]:
        """Run a block that checks one part of a file; its SpecError is kept, and checking goes on after it."""
        try:
            yield
        except SpecError as exc:
            self.errors.append(exc)

    def add(self, error: SpecError) -> None:
        """Keep ``error`` to report with the others."""
        self.errors.append(error)

    def raise_any(self) -> None:
        """Raise one SpecError listing every problem kept, if there is any."""
        if self.errors:
            raise SpecError.of(self.errors)
