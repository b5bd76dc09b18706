"""``avdata windows``, ``ratings``, ``score``, ``mom``: the AudioScope recipe stages (thin: each
calls one function of ``avdata.audioscope``)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, embedder_params, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.cli.report import SHOW
from avdata.pathcheck import DIR, FILE
from avdata.sources.problems import Problems


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


def _finish(lines: list[str], problems: Problems, messages: Sequence[str] = (), failed: int = 0) -> None:
    """Print problems (``FILE:LINE: reason``), skipped items and the summary; exit 1 if anything was skipped."""
    shown = [f"error: {e}" for e in problems.errors] + [f"warning: {w}" for w in problems.warnings]
    shown += [f"skipped: {m}" for m in messages]
    for line in shown[:SHOW]:
        click.echo(line, err=True)
    if len(shown) > SHOW:
        click.echo(f"... {len(shown) - SHOW} more not shown", err=True)
    for line in lines:
        click.echo(line)
    if problems.n_errors or failed:
        raise PartialFailure()


@cli.command("windows")
@click.argument("inputs", type=InputPath(exists=True))
@out_option("Clip table to write (Parquet).", name="output", required=True)
@click.option("--length", type=click.FloatRange(0, min_open=True), default=5.0, show_default=True,
              help="Window length, s.")
@click.option("--hop", type=click.FloatRange(0, min_open=True), default=5.0, show_default=True,
              help="Window start step, s.")
@click.option("--min-length", type=click.FloatRange(0, min_open=True), default=None,
              help="Keep a last window at least this long (default: only full windows).")
@click.option("--fractions", default="0.8,0.1,0.1", show_default=True, help="Split fractions, in --split-names order.")
@click.option("--split-names", default="train,validate,test", show_default=True,
              help="Split names, in --fractions order.")
@click.option("--splits", "split_lists", multiple=True, type=InputPath(exists=True, dir_okay=False, readable=False),
              help="Published list whose videos keep its split (repeatable).")
@click.option("--splits-format", default="audioscope", show_default=True, help="Format of the --splits lists.")
@click.option("--salt", default="", help="Salt of the split hash (another salt, another stable split).")
@click.option("--dataset", default="audioscope_v2", show_default=True,
              help="Dataset name written in the clip table's dataset column.")
@click.option("--manifest", default=None, help="Probe manifest (default: beside OUTPUT).")
@executor_options()
@click.option("--workers", type=click.IntRange(1), default=None, help="Workers (default: all cores).")
@click.option("--retry-failed", is_flag=True, help="Probe again videos that failed in an earlier run.")
@click.option("--progress/--no-progress", "show_progress", default=None, help="Progress bar (default: on a terminal).")
@check_paths(outputs={"output": FILE, "manifest": DIR}, needs=("split_lists",), inputs=("inputs",))
def windows_command(inputs: str, output: str, length: float, hop: float, min_length: float | None, fractions: str,
                    split_names: str, split_lists: tuple[str, ...], splits_format: str, salt: str, dataset: str,
                    manifest: str | None, executor: str,
                        ray_address: str | None, workers: int | None, retry_failed: bool,
                    show_progress: bool | None) -> None:
    """Cut every video of INPUTS (a folder of videos or a fetch manifest) into fixed windows."""
    from avdata.audioscope.windows import WindowsOptions, make_windows

    s = make_windows(WindowsOptions(
        inputs=inputs, output=output, length=length, hop=hop, min_length=min_length, fractions=_floats(fractions),
        split_names=tuple(split_names.split(",")), split_lists=split_lists, split_lists_format=splits_format,
        salt=salt, dataset=dataset, manifest=manifest, executor=executor, ray_address=ray_address, workers=workers,
        retry_failed=retry_failed, show_progress=show_progress))
    _finish(s.lines(), s.problems, s.messages, s.skipped)


@cli.command("ratings")
@click.argument("ratings", nargs=-1, required=True, type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--clips", required=True, type=InputPath(exists=True, dir_okay=False, readable=False), help="Clip table.")
@out_option("Clip table to write [default: CLIPS stem + _rated.parquet].", name="output", default=None)
@click.option("--min-raters", type=click.IntRange(1), default=3, show_default=True,
              help="Raters a clip needs to be unanimous.")
@check_paths(outputs={"output": FILE}, needs=("ratings", "clips"))
def ratings_command(ratings: tuple[str, ...], clips: str, output: str | None, min_raters: int) -> None:
    """Set on-/off-screen unanimous annotations of CLIPS from RATINGS files
    (video path, start, end, rater, label)."""
    from avdata.audioscope.ratings import RatingsOptions, apply_ratings

    s = apply_ratings(RatingsOptions(ratings=ratings, clips=clips, output=output, min_raters=min_raters))
    _finish(s.lines(), s.problems)


@cli.command("score")
@click.argument("clips", type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--media", required=True, type=InputPath(exists=True),
              help="Rendered examples folder (with examples.jsonl), or an index file with --layout index.")
@click.option("--layout", default="rendered", show_default=True, help="Media layout: rendered | index.")
@click.option("--media-root", type=InputPath(exists=True, file_okay=False), default=None,
              help="--layout index: the extraction output root the index points into.")
@click.option("--embedder", required=True, help="Embedder name (one with a joint audio-image space).")
@click.option("--param", "params", multiple=True, help="Embedder parameter NAME=VALUE (repeatable).")
@click.option("--weights", multiple=True, type=click.Path(), help="Weights file(s) the embedder needs "
              "(vipant: CHECKPOINT then CLIP_FILE; torchscript: MODEL.pt). Repeat for several.")
@click.option("--min-score", type=float, default=None,
              help="Mark clips scoring at least this as filtered (scores of different models do not compare).")
@out_option("Clip table to write [default: CLIPS stem + _scored.parquet].", name="output", default=None)
@click.option("--manifest", default=None, help="Score manifest (default: beside OUTPUT).")
@executor_options(default="inline")
@click.option("--workers", type=click.IntRange(1), default=None, help="Worker processes (default: all cores).")
@click.option("--retry-failed", is_flag=True, help="Score again clips that failed in an earlier run.")
@click.option("--progress/--no-progress", "show_progress", default=None, help="Progress bar (default: on a terminal).")
@check_paths(outputs={"output": FILE, "manifest": DIR}, needs=("clips",), inputs=("media", "media_root", "weights"))
def score_command(clips: str, media: str, layout: str, media_root: str | None, embedder: str,
                  params: tuple[str, ...], weights: tuple[str,
                                                          ...], min_score: float | None, output: str | None,
                                                          manifest: str | None,
                  executor: str,
                      ray_address: str | None, workers: int | None, retry_failed: bool,
                      show_progress: bool | None) -> None:
    """Audio-visual coincidence score of every clip of CLIPS (cosine of the audio and image parts)."""
    from avdata.audioscope.score import ScoreOptions, score_clips

    s = score_clips(ScoreOptions(clips=clips, media=media, layout=layout, media_root=media_root,
                                 embedder=embedder, params=embedder_params(params), weights=weights, output=output,
                                 min_score=min_score,
                                 manifest=manifest, executor=executor,
                                     ray_address=ray_address, workers=workers, retry_failed=retry_failed,
                                 show_progress=show_progress))
    _finish(s.lines(), s.problems, s.messages, s.failed)


@cli.command("mom")
@click.argument("clips", type=InputPath(exists=True, dir_okay=False, readable=False))
@out_option("Folder for the MoM lists.", required=True, type=click.Path())
@click.option("--partners", type=click.IntRange(1), default=5, show_default=True, help="Partners per annotated clip.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the partner draw.")
@click.option("--partner-annotation", default=None,
              help="Draw partners from this subset (AudioScope: offscreen_unanimous) [default: unannotated clips].")
@click.option("--splits", default="validate,test", show_default=True, help="Splits to pair (comma-separated).")
@click.option("--filtering", type=Choice(["filtered", "unfiltered"]), default=None,
              help="File-name prefix [default: filtered for an audioscope table, else unfiltered].")
@check_paths(outputs={"out": DIR}, needs=("clips",))
def mom_command(clips: str, out: str, partners: int, seed: int, partner_annotation: str | None, splits: str,
                filtering: str | None) -> None:
    """Mixture-of-mixtures pair lists for the annotated clips of CLIPS, with the published names."""
    from avdata.audioscope.pairs import MomOptions, make_pairs

    s = make_pairs(MomOptions(clips=clips, out=out, partners=partners, seed=seed,
                              partner_annotation=partner_annotation, splits=tuple(splits.split(",")),
                              filtering=filtering))
    _finish(s.lines(), s.problems)


__all__ = ["mom_command", "ratings_command", "score_command", "windows_command"]
