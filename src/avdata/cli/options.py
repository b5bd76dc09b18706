"""Shared option checking for commands: option values a stage refuses become usage errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from avdata.errors import OptionError


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Around option construction (a ``with`` block, or a command as a decorator): an
    ``OptionError`` becomes a click usage error (exit code 2, one line), raised before any work
    starts because options are checked when they are built."""
    try:
        yield
    except OptionError as e:
        raise click.UsageError(str(e)) from e
