"""``avdata export``: clip table -> a published list format."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.cli.report import finish, live_printer
from avdata.export import ExportOptions, export
from avdata.sources.problems import Problems
from avdata.sources.registry import FORMAT_MODULES, INDEX_FORMAT_MODULES


@cli.command("export")
@click.argument("format", type=click.Choice(FORMAT_MODULES + INDEX_FORMAT_MODULES))
@click.argument("table")
@click.option("-o", "--output", required=True, help="File to write (lhotse: a folder).")
@click.option("--split", default=None, help="Only rows of this split.")
@click.option("--origin", "origin_file", default=None, help="Only rows read from this file.")
@click.option("--media", default=None, type=click.Path(exists=True, file_okay=False),
              help="lhotse: media root of the index file given as TABLE.")
def export_cmd(format: str, table: str, output: str, split: str | None, origin_file: str | None,
               media: str | None) -> None:
    """Write the clips of TABLE as a FORMAT list (lhotse: TABLE is an index file, with --media)."""
    problems = Problems(on_problem=live_printer())
    n = export(ExportOptions(table=table, format=format, output=output, split=split, origin_file=origin_file,
                             media=media), problems)
    click.echo(f"wrote {n} row(s) to {output}")
    finish(problems)
