"""Print the problems a stage met: one line ``FILE:LINE: reason`` each (capped), then a total."""

from __future__ import annotations

import click

from avdata.cli.main import PartialFailure
from avdata.errors import InputFormatError
from avdata.sources.problems import ERROR, Problems

SHOW = 20


def live_printer(limit: int = SHOW):
    """An ``on_problem`` callback printing the first ``limit`` problems to stderr as they happen."""
    shown = 0

    def show(kind: str, err: InputFormatError) -> None:
        nonlocal shown
        shown += 1
        if shown <= limit:
            click.echo(f"{'error' if kind == ERROR else 'warning'}: {err}", err=True)

    return show


def finish(problems: Problems, limit: int = SHOW) -> None:
    """Print the totals; raise PartialFailure (exit 1) if any row was skipped."""
    total = problems.n_errors + problems.n_warnings
    if total > limit:
        click.echo(f"... {total - limit} more problem(s) not shown", err=True)
    if total:
        click.echo(f"avdata: {problems.n_errors} error(s) (rows or files skipped), {problems.n_warnings}"
                   f" warning(s)", err=True)
    if problems.n_errors:
        raise PartialFailure()
