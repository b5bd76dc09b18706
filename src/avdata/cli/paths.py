"""One decorator that checks every command's paths before the command runs (``avdata.pathcheck``).

A command names its parameters: ``outputs`` (name -> ``file`` or ``dir``) are refused when they
cannot be written or are one of the inputs; ``needs`` are input files the command cannot run
without (a missing or unreadable one stops it with exit 3 before anything is written); ``inputs``
are other inputs (one value or several) that an output must not overwrite. Each refusal is one
line naming the option and the path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from avdata.errors import InputError
from avdata.pathcheck import Output, check_input, check_outputs


def _flag(name: str) -> str:
    """How the user spelled parameter ``name`` (``--out``, ``-o``, ``CLIPS``)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        for p in ctx.command.params:
            if p.name == name:
                longs = [o for o in p.opts if o.startswith("--")]
                return (longs or p.opts)[0] if isinstance(p, click.Option) else name.upper()
    return name


def _values(kwargs: Mapping[str, Any], names: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    for n in names:
        v = kwargs.get(n)
        if isinstance(v, (tuple, list)):
            out.extend(v)
        elif v is not None:
            out.append(v)
    return out


def check_paths(*, outputs: Mapping[str, str] | None = None, needs: Sequence[str] = (),
                inputs: Sequence[str] = (),
                reads_only: Callable[[Mapping[str, Any]], bool] | None = None) -> Callable:
    """Decorate a command function (below its click options) to check its paths first.
    ``reads_only(kwargs)``: true for a call that writes nothing (its outputs are not checked)."""
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for name in needs:
                for value in _values(kwargs, [name]):
                    check_input(value, _flag(name))
            writes = reads_only is None or not reads_only(kwargs)
            outs = [Output(kwargs[name], kind, _flag(name)) for name, kind in (outputs or {}).items()
                    if writes and kwargs.get(name) is not None]
            check_outputs(outs, _values(kwargs, [*needs, *inputs]))
            return fn(*args, **kwargs)
        return wrapper
    return deco


class InputPath(click.Path):
    """``click.Path`` for inputs: a missing, unreadable or wrong-kind input is "could not run"
    (exit 3, one line ``avdata: error: cannot read OPTION PATH: reason``), like every other input
    problem, not a usage error; nothing has been written when it is raised."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as e:
            flag = _flag(param.name) if param is not None and param.name else "input"
            reason = str(e.message).rstrip(".")
            raise InputError(f"cannot read {flag} {value}: {reason[:1].lower()}{reason[1:]}") from None
