"""``--executor`` and ``--ray-address``: the same two options on every per-item stage's command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from avdata.cli.options import Choice
from avdata.executors import executor_names

F = Callable[..., Any]


def executor_options(default: str = "local", help: str | None = None) -> Callable[[F], F]:  # noqa: A002
    """Add ``--executor NAME`` (any registered executor) and ``--ray-address`` to a command
    (``help``: what the names mean for this command, when not the usual per-item jobs)."""

    def deco(f: F) -> F:
        f = click.option("--ray-address", default=None, metavar="ADDR",
                         help="With --executor ray: a running cluster ('auto' or HOST:PORT); "
                              "default: start a local Ray instance.")(f)
        return click.option("--executor", type=Choice(executor_names()), default=default,
                            show_default=True,
                            help=help or "Where per-item jobs run: inline (this process, one at a time), "
                                         "local (a process pool), threads (a thread pool: for I/O-bound "
                                         "jobs), ray (a Ray cluster; pip install 'avdata[ray]').")(f)

    return deco
