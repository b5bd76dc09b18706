"""``avdata ingest``: published lists -> clip table."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.cli.options import Choice, out_option
from avdata.cli.paths import check_paths
from avdata.cli.report import finish, live_printer
from avdata.ingest import IngestOptions, ingest
from avdata.pathcheck import FILE
from avdata.sources.problems import Problems
from avdata.sources.registry import format_names, subset_names


@cli.command("ingest", help=f"Read published list FILES of FORMAT ({', '.join(format_names())}) into one "
                            "clip table.")
@click.argument("format", type=Choice(format_names()), metavar="FORMAT")
@click.argument("files", nargs=-1, required=True)
@out_option("Clip table to write (Parquet).", name="output", required=True)
@click.option("--segments", multiple=True, help="AudioSet segment CSV(s) whose labels are joined (audiocaps).")
@click.option("--split", default=None, help="Split for every row (default: told by each file name).")
@click.option("--ontology", default=None, help="ontology.json to check label ids (default: bundled).")
@click.option("--weights", multiple=True, help="vipant: the weights file of each index file (line-aligned), "
                                               "in the order of FILES.")
@click.option("--subset", type=Choice(subset_names()), default=None,
              help="Keep only the rows of a named class subset of FORMAT (kinetics: kinetics-sounds).")
@check_paths(outputs={"output": FILE}, inputs=("files", "segments", "ontology", "weights"))
def ingest_cmd(format: str, files: tuple[str, ...], output: str, segments: tuple[str, ...],
               split: str | None, ontology: str | None, weights: tuple[str, ...], subset: str | None) -> None:
    """Read published list FILES of FORMAT into one clip table."""
    problems = Problems(on_problem=live_printer())
    result = ingest(IngestOptions(format=format, files=files, output=output, split=split,
                                  segments=segments, ontology=ontology, weights=weights, subset=subset), problems)
    if result.read is not None:
        click.echo(f"{subset}: kept {result.rows} of {result.read} row(s){'; ' + result.note if result.note else ''}")
    click.echo(f"wrote {result.rows} clip(s) to {result.output}")
    finish(problems)
