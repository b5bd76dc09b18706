"""Shared option checking for commands: option values a stage refuses become usage errors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from avdata.errors import OptionError, did_you_mean

F = Callable[..., Any]


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


class Choice(click.Choice):
    """``click.Choice`` whose error lists the valid choices and suggests the closest one."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            choices = [str(c) for c in self.choices]
            self.fail(f"{value!r} is not one of {', '.join(choices)}{did_you_mean(str(value), choices)}",
                      param, ctx)


class AliasOption(click.Option):
    """An option with old spellings kept as hidden aliases: they parse, but help shows only the
    first long name (``-o, --out``)."""

    def __init__(self, *args: Any, hidden_aliases: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_aliases = tuple(hidden_aliases)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown = [o for o in self.opts if o not in self.hidden_aliases]
        opts, self.opts = self.opts, shown
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts


def out_option(help: str, *, name: str = "out", short: bool = True, **kwargs: Any  # noqa: A002
               ) -> Callable[[F], F]:
    """The one spelling of a command's output: ``-o/--out`` (``--output`` still parses, hidden);
    the value reaches the command as parameter ``name``."""
    decls = (["-o"] if short else []) + ["--out", "--output", name]
    return click.option(*decls, cls=AliasOption, hidden_aliases=("--output",), help=help, **kwargs)
