"""One error-handling mechanism for every reader: a collector of row errors and warnings.

A *row error* means the row was skipped; a *warning* means the row (or file) was read but something
is off (header counts that disagree, unknown label ids). Both are ``InputFormatError`` objects whose
``str`` is one line ``FILE:LINE: reason``. Readers never stop on a bad row: they report it here and
go on. ``on_problem`` (optional) sees each problem as it happens, e.g. to print it live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from avdata.errors import InputFormatError
from avdata.pathcheck import input_problem

ERROR = "error"
WARNING = "warning"


@dataclass
class Problems:
    """Collects problems met while reading; keeps the first ``keep`` of each kind and counts all."""

    keep: int = 1000
    on_problem: Callable[[str, InputFormatError], None] | None = None
    errors: list[InputFormatError] = field(default_factory=list)
    warnings: list[InputFormatError] = field(default_factory=list)
    n_errors: int = 0
    n_warnings: int = 0

    def error(self, file: str, line: int | None, reason: str) -> None:
        """Report a row that was skipped."""
        err = InputFormatError(file, line, reason)
        self.n_errors += 1
        if len(self.errors) < self.keep:
            self.errors.append(err)
        if self.on_problem is not None:
            self.on_problem(ERROR, err)

    def warn(self, file: str, line: int | None, reason: str) -> None:
        """Report something odd that did not cost a row."""
        err = InputFormatError(file, line, reason)
        self.n_warnings += 1
        if len(self.warnings) < self.keep:
            self.warnings.append(err)
        if self.on_problem is not None:
            self.on_problem(WARNING, err)

    @property
    def skipped(self) -> int:
        """How many rows were skipped."""
        return self.n_errors


def readable_files(paths: Iterable[str], problems: Problems) -> list[str]:
    """The ``paths`` that are readable regular files; each other one is reported (what it is: missing,
    a directory, a FIFO, a device, no permission) as an error and left out."""
    usable = []
    for p in paths:
        problem = input_problem(p)
        if problem is None:
            usable.append(p)
        else:
            problems.error(p, None, problem)
    return usable
