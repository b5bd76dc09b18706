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


def embedder_params(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``--param KEY=VALUE`` items as (key, text); the embedder converts each to its declared type."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        out.append((key, value))
    return tuple(out)
