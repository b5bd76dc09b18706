"""``avdata extract``: cut gold and negative clips (audio + frames) from local videos."""

from __future__ import annotations

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, out_option, usage_errors
from avdata.cli.paths import InputPath, check_paths
from avdata.extract.job import MediaOptions
from avdata.extract.plan import PlanOptions
from avdata.extract.run import ExtractOptions, run_extract
from avdata.media.encode import AUDIO_FORMATS, AudioOptions, FrameOptions
from avdata.pathcheck import DIR


@cli.command("extract")
@usage_errors()
@click.argument("clips", type=InputPath(exists=True, dir_okay=False))
@click.option("--videos", required=True, type=InputPath(exists=True, file_okay=False),
              help="Video root: {DIR}/{youtube_id}.{mp4,mkv,webm,...}; path sources are relative to it.")
@out_option("Output root.", required=True, type=click.Path())
@click.option("--manifest", type=click.Path(), default=None,
              help="Extraction manifest (default: OUT/extract_manifest.parquet).")
@click.option("--fetch-manifest", type=InputPath(exists=True), default=None,
              help="Fetch manifest: each source's file and the second it starts at.")
@click.option("--audio-format", type=Choice(sorted(AUDIO_FORMATS)), default="mp3", show_default=True,
              help="Audio clip format (VIP-ANT: mp3).")
@click.option("--sample-rate", type=int, default=None, help="Resample audio (default: keep the source's).")
@click.option("--mono", is_flag=True, help="Mix audio down to one channel.")
@click.option("--bitrate", type=int, default=128, show_default=True, help="MP3/Opus bit rate, kbit/s.")
@click.option("--mp3-quality", type=click.IntRange(0, 9), default=None,
              help="LAME algorithm quality 0 (best) .. 9 (fastest); default: LAME's.")
@click.option("--frames", "frame_count", type=click.IntRange(0, 99), default=4, show_default=True,
              help="Frames per clip.")
@click.option("--jpeg-quality", type=click.IntRange(1, 31), default=2, show_default=True,
              help="JPEG quality on ffmpeg's -q:v scale (2 best .. 31).")
@click.option("--short-side", type=int, default=None, help="Resize frames so the shorter side has this many pixels.")
@click.option("--negatives", type=click.IntRange(0, 99), default=2, show_default=True,
              help="Negative clips per segment.")
@click.option("--margin", type=float, default=3.0, show_default=True,
              help="Seconds between a negative and the gold clip.")
@click.option("--negative-max", type=float, default=10.0, show_default=True, help="Longest negative clip, s.")
@click.option("--negative-min", type=float, default=5.0, show_default=True, help="Room a negative needs, s.")
@click.option("--chunk-prefix", default="all", show_default=True,
              help="Chunk folder name prefix: PREFIX_0_35000, PREFIX_35000_70000, ...")
@click.option("--chunk-size", type=click.IntRange(1), default=35_000, show_default=True,
              help="Clip-table rows per chunk folder (VIP-ANT: 35000).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Worker processes (default: all cores).")
@executor_options()
@click.option("--timeout", "video_timeout", type=float, default=600.0, show_default=True,
              help="Seconds allowed per video; 0 for none.")
@click.option("--retry-failed", is_flag=True, help="Redo clips that failed in an earlier run.")
@click.option("--progress/--no-progress", "show_progress", default=None, help="Progress bar (default: on a terminal).")
@check_paths(outputs={"out": DIR, "manifest": DIR}, needs=("clips",), inputs=("fetch_manifest",))
def extract_command(clips: str, videos: str, out: str, manifest: str | None, fetch_manifest: str | None,
                    audio_format: str, sample_rate: int | None, mono: bool, bitrate: int,
                    mp3_quality: int | None, frame_count: int, jpeg_quality: int, short_side: int | None,
                    negatives: int, margin: float, negative_max: float, negative_min: float,
                    chunk_prefix: str, chunk_size: int, workers: int | None, executor: str, ray_address: str | None,
                    video_timeout: float, retry_failed: bool, show_progress: bool | None) -> None:
    """Cut the gold clip and negative clips of every segment in CLIPS: audio and frames."""
    if video_timeout < 0:
        raise click.BadParameter(f"{video_timeout:g} is negative (0: no limit)", param_hint="'--timeout'")
    media = MediaOptions(
        audio=AudioOptions(format=audio_format, sample_rate=sample_rate, mono=mono,
                           bitrate=bitrate * 1000, mp3_quality=mp3_quality),
        frames=FrameOptions(count=frame_count, jpeg_quality=jpeg_quality, short_side=short_side),
        plan=PlanOptions(margin=margin, max_length=negative_max, min_length=negative_min,
                         max_negatives=negatives),
    )
    options = ExtractOptions(videos=videos, out=out, manifest=manifest, fetch_manifest=fetch_manifest,
                             media=media, chunk_prefix=chunk_prefix, chunk_size=chunk_size,
                             workers=workers, executor=executor, ray_address=ray_address,
                             video_timeout=video_timeout or None,
                             retry_failed=retry_failed, show_progress=show_progress)
    summary = run_extract(clips, options)
    for line in summary.lines():
        click.echo(line, err=True)
    if summary.any_failed:
        raise PartialFailure()
