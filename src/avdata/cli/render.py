"""``avdata render``: model-ready examples (audio, frames, mixtures of mixtures) from AudioScope /
AudioScopeV2 / MixIT lists or a clip table."""

from __future__ import annotations

import click

from avdata.audioscope.render import RenderOptions, run_render
from avdata.audioscope.render_job import DEFAULT_MAX_LENGTH, RenderMedia
from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, out_option, usage_errors
from avdata.cli.paths import InputPath, check_paths
from avdata.cli.report import live_printer
from avdata.media.encode import FrameOptions
from avdata.media.mux import Mp4Options
from avdata.pathcheck import DIR
from avdata.sources.problems import Problems


@cli.command("render")
@click.argument("list_or_clips", type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--videos", required=True, type=InputPath(exists=True, file_okay=False),
              help="Video root: list paths are relative to it.")
@out_option("Output root.", required=True, type=click.Path())
@click.option("--format", "list_format", type=Choice(["auto", "audioscope", "mixit", "clips"]), default="auto",
              show_default=True, help="Input kind (auto: .parquet is a clip table; 4/8 columns MixIT).")
@click.option("--split", default=None, help="Split for every row (default: told by the file name).")
@click.option("--fetch-manifest", type=InputPath(exists=True), default=None,
              help="Fetch manifest: each source's file and the second it starts at.")
@click.option("--manifest", type=click.Path(), default=None,
              help="Render manifest (default: OUT/render_manifest.parquet).")
@click.option("--sample-rate", type=click.IntRange(1000, 384000), default=16000, show_default=True,
              help="Audio rate of the examples (AudioScope: 16000).")
@click.option("--channels", type=click.IntRange(1, 2), default=1, show_default=True,
              help="1: mono (the channels averaged), 2: stereo.")
@click.option("--audio-format", type=Choice(["wav", "flac"]), default="wav", show_default=True,
              help="Audio file format of each example.")
@click.option("--frames", "frame_count", type=click.IntRange(0, 99), default=5, show_default=True,
              help="Frames per clip, at start + i * length / N.")
@click.option("--short-side", type=click.IntRange(2), default=None, help="Resize frames: shorter side in pixels.")
@click.option("--jpeg-quality", type=click.IntRange(1, 31), default=2, show_default=True,
              help="JPEG quality on ffmpeg's -q:v scale (2 best .. 31).")
@click.option("--mixit-length", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Output length (s) of MixIT rows (span placed at the row's offset).")
@click.option("--max-length", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_MAX_LENGTH,
              show_default=True, help="Longest span (s) a row may ask for; a longer row fails as span_too_long.")
@click.option("--headroom", is_flag=True, help="MoM: scale both sources by one factor when the sum would clip.")
@click.option("--mp4", is_flag=True, help="MoM: also write video.mp4 (clip 1's pictures, the mixture as sound).")
@click.option("--mp4-audio", type=Choice(["aac", "flac"]), default="aac", show_default=True,
              help="Soundtrack codec of --mp4 (flac: exact samples).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Worker processes (default: all cores).")
@executor_options()
@click.option("--timeout", "video_timeout", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Seconds allowed per video; 0 for none.")
@click.option("--retry-failed", is_flag=True, help="Redo examples that failed in an earlier run.")
@click.option("--progress/--no-progress", "show_progress", default=None, help="Progress bar (default: on a terminal).")
@check_paths(outputs={"out": DIR, "manifest": DIR}, needs=("list_or_clips",), inputs=("fetch_manifest",))
def render_command(list_or_clips: str, videos: str, out: str, list_format: str, split: str | None,
                   fetch_manifest: str | None, manifest: str | None, sample_rate: int, channels: int,
                   audio_format: str, frame_count: int, short_side: int | None, jpeg_quality: int,
                   mixit_length: float, max_length: float, headroom: bool, mp4: bool, mp4_audio: str,
                   workers: int | None,
                   executor: str,
                       ray_address: str | None, video_timeout: float, retry_failed: bool,
                       show_progress: bool | None) -> None:
    """Render every row of LIST_OR_CLIPS: audio, frames and examples.jsonl (MoM lists: mixtures)."""
    with usage_errors():
        media = RenderMedia(sample_rate=sample_rate, channels=channels, audio_format=audio_format,
                            frames=FrameOptions(count=frame_count, jpeg_quality=jpeg_quality, short_side=short_side),
                            mixit_length=mixit_length, max_length=max_length, headroom=headroom, mp4=mp4,
                            mp4_options=Mp4Options(audio_codec=mp4_audio))
        options = RenderOptions(videos=videos, out=out, media=media, list_format=list_format, split=split,
                                fetch_manifest=fetch_manifest, manifest=manifest, workers=workers,
                                executor=executor, ray_address=ray_address, video_timeout=video_timeout or None,
                                retry_failed=retry_failed, show_progress=show_progress)
    summary = run_render(list_or_clips, options, Problems(on_problem=live_printer()))
    for line in summary.lines():
        click.echo(line, err=True)
    if summary.any_failed:
        raise PartialFailure()
