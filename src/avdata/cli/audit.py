"""``avdata audit``: a thin wrapper of avdata.audit."""

from __future__ import annotations

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.embed import embedder_names
from avdata.pathcheck import DIR

SHOWN = 20      # problem lines printed before "... and N more"


@cli.command("audit")
@click.argument("index_files", nargs=-1, required=True, type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--media", required=True, type=InputPath(exists=True, file_okay=False),
              help="Media root the index lines' dir/aclip/frame paths are relative to.")
@out_option("Folder for clips.parquet, summary.json, groups.html and the measures.", required=True,
            type=click.Path())
@click.option("--embedder", default="fingerprint", show_default=True, type=Choice(embedder_names()),
              help="Embedder whose vectors the duplicate search compares (fingerprint needs no weights).")
@click.option("--weights", multiple=True, type=click.Path(), help="Weights file(s) the embedder needs.")
@click.option("--threshold", type=float, default=None,
              help="Cosine at or above which two clips are duplicates (default 0.9, calibrated for fingerprint).")
@click.option("--k", type=click.IntRange(1), default=8, show_default=True, help="Neighbours searched per clip.")
@click.option("--ann", type=Choice(("auto", "exact", "flat", "ivf")), default="auto", show_default=True,
              help="Search: auto = exact up to 200,000 clips, FAISS IVF above.")
@click.option("--still-motion", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Grey levels: clips whose frames change less are still.")
@click.option("--silent-fraction", type=click.FloatRange(0, 1, min_open=True), default=0.9, show_default=True,
              help="Share of 100 ms windows below -60 dBFS that makes a clip silent.")
@click.option("--short-tolerance", type=click.FloatRange(0), default=0.5, show_default=True,
              help="Seconds the audio may fall short of the listed span.")
@click.option("--clean", type=click.Path(), default=None,
              help="Folder for the index files without the flagged clips (and their weights files).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Processes (default: all cores).")
@executor_options()
@check_paths(outputs={"out": DIR, "clean": DIR}, needs=("index_files",), inputs=("media", "weights"))
def audit_command(index_files: tuple[str, ...], media: str, out: str, embedder: str, weights: tuple[str, ...],
                  threshold: float | None, k: int, ann: str, still_motion: float, silent_fraction: float,
                  short_tolerance: float, clean: str | None, workers: int | None, executor: str,
                  ray_address: str | None) -> None:
    """Flag still, silent and short clips, group duplicates across ids and name leaks between
    training and evaluation files (the split is each INDEX_FILE's name)."""
    from avdata.audit import AuditOptions, run_audit
    from avdata.audit.dupes import DEFAULT_THRESHOLD

    res = run_audit(AuditOptions(index=index_files, media=media, out=out, embedder=embedder, weights=weights,
                                 threshold=DEFAULT_THRESHOLD if threshold is None else threshold, k=k, ann=ann,
                                 still_motion=still_motion, silent_fraction=silent_fraction,
                                 short_tolerance=short_tolerance, clean=clean, executor=executor, workers=workers,
                                 ray_address=ray_address))
    for line in res.problems[:SHOWN]:
        click.echo(f"avdata: {line}", err=True)
    if len(res.problems) > SHOWN:
        click.echo(f"avdata: ... and {len(res.problems) - SHOWN} more (summary.json lists them)", err=True)
    for train, held in res.leaks[:SHOWN]:
        click.echo(f"leak: {train} <-> {held}")
    if len(res.leaks) > SHOWN:
        click.echo(f"... and {len(res.leaks) - SHOWN} more leaks (summary.json lists them)")
    click.echo(res.summary_text())
    for path, kept in res.clean.items():
        click.echo(f"clean: {kept} lines -> {path}")
    if res.problems:
        raise PartialFailure()
