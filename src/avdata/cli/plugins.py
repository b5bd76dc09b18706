"""``avdata plugins``: every extension point's entries and where each comes from."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.registry import all_registries


@cli.command("plugins")
def plugins_command() -> None:
    """List what is registered at every extension point (built in, or from an installed package
    through its entry points; see docs/extending.md)."""
    for kind, registry in all_registries().items():
        names = registry.names()
        shown = ", ".join(n if registry.origin(n) == "avdata" else f"{n} ({registry.origin(n)})" for n in names)
        click.echo(f"{kind} [{registry.group}]: {shown or 'none'}")
