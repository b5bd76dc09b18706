"""``avdata train``: a thin wrapper of avdata.train."""

from __future__ import annotations

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.pathcheck import DIR
from avdata.train.inputs import FEATURES
from avdata.train.options import DEVICES, TrainOptions


@cli.command("train")
@click.argument("index_files", nargs=-1, required=True, type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--media", required=True, type=InputPath(exists=True, file_okay=False),
              help="Media root the index lines' dir/aclip/frame paths are relative to.")
@out_option("Folder for model.pt, card.json, report.html, checkpoint.pt and the prepared inputs.",
            required=True, type=click.Path())
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True, help="Epochs to train in all.")
@click.option("--batch-size", type=click.IntRange(2), default=64, show_default=True,
              help="Clips per batch (each batch's other videos are the negatives).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Adam learning rate.")
@click.option("--dim", type=click.IntRange(2), default=128, show_default=True, help="Size of the joint space.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option("--device", type=Choice(DEVICES), default="auto", show_default=True,
              help="auto takes a GPU when torch sees one.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Processes preparing the inputs (default: all cores).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of the videos held out for validation (all clips of a video on one side).")
@click.option("--features", type=Choice(FEATURES), default="raw", show_default=True,
              help="raw: decode each clip's audio and frames; npz: read the aclip_128 / frame_224 files.")
@click.option("--audio-window", type=click.FloatRange(0.32, 10), default=2.0, show_default=True,
              help="Seconds of audio around a frame in a positive pair.")
@click.option("--restart", is_flag=True, help="Train again from scratch although OUT holds a run.")
@executor_options(help="Where the input preparation runs: inline, local (processes), threads, ray.")
@check_paths(outputs={"out": DIR}, needs=("index_files",), inputs=("media",))
def train_command(index_files: tuple[str, ...], media: str, out: str, epochs: int, batch_size: int, lr: float,
                  dim: int, seed: int, device: str, workers: int | None, val_fraction: float, features: str,
                  audio_window: float, restart: bool, executor: str, ray_address: str | None) -> None:
    """Train an audio-visual correspondence model on the clips of INDEX_FILES (model.pt for the
    avc embedder: embed, score and balance)."""
    from avdata.train.run import run_train

    res = run_train(TrainOptions(index=index_files, media=media, out=out, epochs=epochs, batch_size=batch_size,
                                 lr=lr, dim=dim, seed=seed, device=device, workers=workers,
                                 val_fraction=val_fraction, features=features, audio_window=audio_window,
                                 restart=restart, executor=executor, ray_address=ray_address))
    failures = [w for w in res.warnings if w.endswith("(not used)")]
    for line in res.warnings:
        click.echo(f"avdata: {line}", err=True)
    for line in res.lines():
        if line not in res.warnings:
            click.echo(line)
    if failures:
        raise PartialFailure()
