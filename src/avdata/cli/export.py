"""``avdata export``: clip table -> a published list format."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.cli.paths import check_paths
from avdata.export import ExportOptions, export
from avdata.pathcheck import DIR, FILE
from avdata.sources.registry import FORMAT_MODULES


@cli.command("export")
@click.argument("format", type=click.Choice(FORMAT_MODULES))
@click.argument("table")
@click.option("-o", "--output", required=True, help="File to write.")
@click.option("--split", default=None, help="Only rows of this split.")
@click.option("--origin", "origin_file", default=None, help="Only rows read from this file.")
@check_paths(outputs={"output": FILE}, needs=("table",))
def export_cmd(format: str, table: str, output: str, split: str | None, origin_file: str | None) -> None:
    """Write the clips of TABLE as a FORMAT list."""
    n = export(ExportOptions(table=table, format=format, output=output, split=split, origin_file=origin_file))
    click.echo(f"wrote {n} row(s) to {output}")
