"""``avdata index``, ``avdata weights``, ``avdata report``: thin wrappers of avdata.index."""

from __future__ import annotations

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.index.build import IndexOptions, build_index
from avdata.index.report import ReportOptions, build_report
from avdata.pathcheck import DIR, FILE
from avdata.weights import (
    DEFAULT_SCHEME,
    WeightsOptions,
    scheme_names,
    write_weights,
)


def _ids(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


@cli.command("index")
@click.argument("clips", type=InputPath(exists=True, dir_okay=False))
@click.option("--manifest", required=True, type=InputPath(exists=True),
              help="Extraction manifest (a Parquet manifest directory).")
@click.option("--media", required=True, type=InputPath(exists=True, file_okay=False),
              help="Media root the manifest's paths are relative to.")
@out_option("Folder for the index files.", required=True, type=click.Path())
@click.option("--with-negatives", is_flag=True, help="List negative clips (n0, n1, ...) after p0.")
@click.option("--features", is_flag=True, help="Write aclip_128 / frame_224 .npz features for p0.")
@click.option("--no-media-check", is_flag=True, help="Trust the manifest: do not decode audio and frames.")
@click.option("--min-audio-seconds", default=2.0, show_default=True, type=float,
              help="A segment is listed only if its audio lasts at least this long.")
@click.option("--exclude-labels", default="", help="Drop segments with a label under these ontology ids.")
@click.option("--keep-labels", default="", help="Keep only segments with a label under these ontology ids.")
@click.option("--ontology", type=InputPath(exists=True, dir_okay=False), help="ontology.json (default: bundled).")
@click.option("--workers", type=int, default=None, help="Processes for the media checks (default: all cores).")
@click.option("--published-split-line", type=click.IntRange(0), default=1_715_367, show_default=True,
              help="A table read with `ingest vipant`: the splitting line of its src_train_segments.csv.")
@executor_options()
@check_paths(outputs={"out": DIR}, needs=("clips",), inputs=("manifest", "ontology"))
def index_command(clips: str, manifest: str, media: str, out: str, with_negatives: bool, features: bool,
                  no_media_check: bool, min_audio_seconds: float, exclude_labels: str, keep_labels: str,
                  ontology: str | None, workers: int | None, published_split_line: int, executor: str,
                  ray_address: str | None) -> None:
    """Write VIP-ANT split files and src_train_segments.csv from CLIPS joined with the manifest."""
    res = build_index(IndexOptions(
        clips=clips, manifest=manifest, media=media, out=out, with_negatives=with_negatives,
        features=features, check_media=not no_media_check, min_audio_seconds=min_audio_seconds,
        exclude_labels=_ids(exclude_labels), keep_labels=_ids(keep_labels), ontology=ontology,
        workers=workers, executor=executor, ray_address=ray_address, published_split_line=published_split_line,
    ))
    click.echo(res.summary_text())
    if res.error_exclusions:
        click.echo(f"avdata: {res.error_exclusions} segment(s) excluded for media or extraction errors "
                   f"(see {res.out / 'index_checks.parquet'})", err=True)
        raise PartialFailure()


def _skipped(problems: list[str], show: int = 20) -> None:
    """Print each ``FILE:LINE: reason`` (the first ``show``) and finish with exit 1 if any."""
    for line in problems[:show]:
        click.echo(f"error: {line}", err=True)
    if len(problems) > show:
        click.echo(f"... {len(problems) - show} more", err=True)
    if problems:
        raise PartialFailure()


@cli.command("weights")
@click.argument("index_file", type=InputPath(exists=True, dir_okay=False))
@click.option("--scheme", type=Choice(scheme_names()), default=DEFAULT_SCHEME, show_default=True,
              help="Per label, summed over a line's labels: vipant 1000/(count+1), inverse 1/count, "
                   "inverse_sqrt 1/sqrt(count); or balance: per-sample weights raked until every label "
                   "is drawn about equally often.")
@out_option("Weights file to write [default: INDEX_weight.csv beside it].", type=click.Path(), default=None)
@click.option("--compare", type=InputPath(exists=True, dir_okay=False), default=None, metavar="PUBLISHED",
              help="Compare with a published weights file (line-aligned) instead of writing: largest "
                   "differences and the lines beyond float rounding.")
@check_paths(outputs={"out": FILE}, needs=("index_file",), inputs=("compare",),
             reads_only=lambda kw: kw.get("compare") is not None)
def weights_command(index_file: str, scheme: str, out: str | None, compare: str | None) -> None:
    """Write one sample weight per line of INDEX_FILE (see --scheme)."""
    if compare is not None:
        from avdata.weights.compare import compare_weights

        for line in compare_weights(index_file, compare, scheme).lines_text(index_file, compare, scheme):
            click.echo(line)
        return
    res = write_weights(WeightsOptions(index_file, scheme, out))
    click.echo(f"{res.path}: {res.lines} weights ({res.scheme}, {res.labels} labels, "
               f"{res.unlabelled} line(s) without labels get 0)")
    _skipped(res.problems)


@cli.command("report")
@click.argument("index_file", type=InputPath(exists=True, dir_okay=False))
@out_option("Folder for report.html and plots.", required=True, type=click.Path())
@click.option("--weights", type=InputPath(exists=True, dir_okay=False), default=None,
              help="Weights file for the label-balance figures [default: INDEX_weight.csv beside it].")
@click.option("--media", type=InputPath(exists=True, file_okay=False), default=None,
              help="Media root for the frame gallery (default: the one the index was built from).")
@click.option("--ontology", type=InputPath(exists=True, dir_okay=False), default=None,
              help="ontology.json for label names (default: bundled).")
@check_paths(outputs={"out": DIR}, needs=("index_file",), inputs=("weights", "ontology"))
def report_command(index_file: str, out: str, weights: str | None, media: str | None, ontology: str | None) -> None:
    """Write an HTML report with plots of INDEX_FILE and print a text summary."""
    res = build_report(ReportOptions(index_file, out, weights=weights, media=media, ontology=ontology))
    click.echo(res.text)
    _skipped(res.problems)
    click.echo(f"report: {res.html}")
