"""``avdata info``: summary of a clip table."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.cli.paths import check_paths
from avdata.info import InfoOptions, info


@cli.command("info")
@click.argument("table")
@click.option("--top", default=10, show_default=True, help="How many labels to list.")
@click.option("--bins", default=10, show_default=True, help="Duration histogram bins.")
@check_paths(needs=("table",))
def info_cmd(table: str, top: int, bins: int) -> None:
    """Counts per split and origin, top labels, clip durations of TABLE."""
    click.echo(info(InfoOptions(path=table, top=top, bins=bins)))
