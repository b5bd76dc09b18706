"""``avdata export``: clip table -> a published list format."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.cli.options import Choice, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.cli.report import finish, live_printer
from avdata.export import ExportOptions, export
from avdata.pathcheck import DIR, FILE, Output, check_outputs
from avdata.sources.problems import Problems
from avdata.sources.registry import export_format_names, get_index_writer


@cli.command("export", help=f"Write the clips of TABLE as a FORMAT list ({', '.join(export_format_names())}; "
                            "lhotse: TABLE is an index file, hf: one or more index files, with --media).")
@click.argument("format", type=Choice(export_format_names()), metavar="FORMAT")
@click.argument("table", nargs=-1, required=True)
@out_option("File to write (with --subsets or lhotse: a folder).", name="output", required=True)
@click.option("--split", default=None, help="Only rows of this split.")
@click.option("--origin", "origin_file", default=None, help="Only rows read from this file.")
@click.option("--subsets", is_flag=True, help="audioscope: every split and annotated subset into the folder "
              "OUTPUT, with the published file names.")
@click.option("--filtering", type=Choice(["filtered", "unfiltered"]), default=None,
              help="--subsets file-name prefix; filtered writes only rows marked filtered.")
@click.option("--media", default=None, type=InputPath(exists=True, file_okay=False),
              help="lhotse: media root of the index file given as TABLE.")
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="lhotse: write paths relative to this folder [default: the export folder].")
@click.option("--absolute-paths", is_flag=True, help="lhotse: write absolute paths instead.")
@check_paths(needs=("table",), inputs=("media",))   # OUTPUT is checked below: a file, or a folder
def export_cmd(format: str, table: tuple[str, ...], output: str, split: str | None, origin_file: str | None,
               subsets: bool, filtering: str | None, media: str | None, root: str | None,
               absolute_paths: bool) -> None:
    """Write the clips of TABLE as a FORMAT list (lhotse: TABLE is an index file, hf: one or more
    index files, with --media)."""
    if len(table) > 1 and format != "hf":
        raise click.UsageError(f"export {format} takes one TABLE (several index files: export hf)")
    first, more = table[0], tuple(table[1:])
    if subsets and format != "audioscope":
        raise click.UsageError("--subsets writes AudioScope lists: use FORMAT audioscope")
    kind = DIR if subsets or get_index_writer(format) is not None else FILE
    check_outputs([Output(output, kind, "--out")], [p for p in (*table, media) if p is not None])
    if subsets:
        from avdata.audioscope.subsets import SubsetExportOptions, export_subsets

        for path, n in export_subsets(SubsetExportOptions(table=first, out=output, filtering=filtering)).items():
            click.echo(f"wrote {n} row(s) to {path}")
        return
    problems = Problems(on_problem=live_printer())
    n = export(ExportOptions(table=first, format=format, output=output, split=split, origin_file=origin_file,
                             media=media, root=root, absolute_paths=absolute_paths, more=more), problems)
    click.echo(f"wrote {n} row(s) to {output}")
    finish(problems)
