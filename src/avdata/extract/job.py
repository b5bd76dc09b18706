"""The per-video job: a pure function from one video and its segments to files and manifest rows.

``extract_video(job)`` opens the video once, plans each segment's clips (``plan.plan_clips``) in
the file's own timeline, reads each clip's span once (``media.reader``) and writes the audio clip
and the frames (``media.encode``), each file atomically. It never raises for a bad video: every
clip gets a manifest row (``extract.schema``) with a status and a one-line message. Any executor
(local pool today, Ray later) can run it: the job and its rows are plain picklable data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avdata.errors import MediaError, OptionError, UnsafePathError
from avdata.extract.plan import ClipSpan, PlanOptions, plan_clips
from avdata.media.encode import AudioOptions, FrameOptions, JpegWriter, convert_audio, write_audio
from avdata.media.reader import MediaReader
from avdata.paths import safe_join, safe_name

Row = dict[str, Any]
STALE_FRAME = 1.0    # a 'last frame' this many seconds before its clip means the data ended early


@dataclass(frozen=True)
class MediaOptions:
    """What to write for each clip and how clips are planned."""

    audio: AudioOptions = field(default_factory=AudioOptions)
    frames: FrameOptions = field(default_factory=FrameOptions)
    plan: PlanOptions = field(default_factory=PlanOptions)
    skip_nonref: bool = True          # let the decoder drop non-reference frames nothing needs


@dataclass(frozen=True)
class SegmentTask:
    """One clip-table row: its segment in source-video seconds and its chunk folder.
    ``done`` names clips (``p0``, ``n0``...) already complete, which are not redone."""

    clip_id: str
    source: str
    start: float
    end: float
    dir: str
    done: frozenset[str] = frozenset()
    name: str | None = None             # the media's ``{id}`` when not the clip id (a published line's id)
    wanted: tuple[tuple[str, str, int], ...] | None = None   # published: (clip, audio ext, frames) to cut

    @property
    def file_id(self) -> str:
        return self.name or self.clip_id


@dataclass(frozen=True)
class VideoJob:
    """One video and all its segments. ``offset``: source-video second where the file starts.
    ``error``: (code, message) known before opening (e.g. the video is missing)."""

    out: str
    video: str | None
    segments: tuple[SegmentTask, ...]
    options: MediaOptions = field(default_factory=MediaOptions)
    offset: float = 0.0
    time_limit: float | None = None
    error: tuple[str, str] | None = None


def audio_name(clip_id: str, clip: str, ext: str) -> str:
    return f"{safe_name(clip_id)}.{clip}.{ext}"


def frame_name(clip_id: str, clip: str, count: int, k: int) -> str:
    """``ID.p0.4_01.jpg``: frame ``k`` (1-based) of ``count``, as the published index names them."""
    return f"{safe_name(clip_id)}.{clip}.{count}_{k:02d}.jpg"


@contextlib.contextmanager
def output_errors(rel: str) -> Iterator[None]:
    """Turn a failed write (permission, a file where a folder should be, disk) into ``output_error``."""
    try:
        yield
    except OSError as e:
        raise MediaError("output_error", f"cannot write {rel}: {e.strerror or e}") from e


def frame_timestamps(start: float, end: float, count: int) -> list[float]:
    """``start + i * (end - start) / (count - 1)`` for i = 0..count-1 (just ``start`` for one)."""
    if count <= 0:
        return []
    if count == 1:
        return [start]
    step = (end - start) / (count - 1)
    return [start + i * step for i in range(count)]


def error_row(seg: SegmentTask, clip: str, code: str, message: str, *, start: float | None = None,
              end: float | None = None, seconds: float = 0.0) -> Row:
    return {
        "clip_id": seg.clip_id, "clip": clip, "dir": seg.dir, "source": seg.source,
        "start": seg.start if start is None else start, "end": seg.end if end is None else end,
        "audio_file": None, "audio_samples": None, "sample_rate": None, "channels": None,
        "frame_files": [], "frame_times": [], "status": code, "message": _one_line(message),
        "seconds": seconds,
    }


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


def extract_video(job: VideoJob) -> list[Row]:
    """Run one video's job; return one manifest row per clip handled (never raises for media)."""
    t0 = time.monotonic()
    deadline = t0 + job.time_limit if job.time_limit else None
    if job.error is not None or job.video is None:
        code, message = job.error or ("missing_video", "no video file")
        return [error_row(s, "p0", code, message) for s in job.segments]
    try:
        reader = MediaReader(job.video)
    except MediaError as e:
        return [error_row(s, "p0", e.code, e.message, seconds=time.monotonic() - t0) for s in job.segments]
    rows: list[Row] = []
    jpeg = JpegWriter(job.options.frames)
    with reader:
        for seg in job.segments:
            start, end = seg.start - job.offset, seg.end - job.offset
            clips = plan_clips(start, end, reader.duration, job.options.plan)
            if not clips:
                rows.append(_outside_row(seg, reader, job.offset, start))
                continue
            if seg.wanted is not None:
                rows += _published_clips(job, reader, jpeg, seg, clips, deadline)
                continue
            for clip in clips:
                if clip.name in seg.done:
                    continue
                rows.append(_extract_clip(job, reader, jpeg, seg, clip, deadline))
    return rows


def _published_clips(job: VideoJob, reader: MediaReader, jpeg: JpegWriter, seg: SegmentTask,
                     planned: list[ClipSpan], deadline: float | None) -> list[Row]:
    """The clips a published line lists, each with its own frame count; a listed clip the video
    has no room for is an error row (the line cannot be kept as published)."""
    spans = {c.name: c for c in planned}
    rows = []
    for name, ext, frames in seg.wanted or ():
        if name in seg.done:
            continue
        span = spans.get(name)
        if span is None:
            rows.append(error_row(seg, name, "no_room", f"the line lists {name}, but the video "
                                                       f"({reader.duration + job.offset:.3f} s) has no room for it"))
        elif ext and ext != job.options.audio.format:
            rows.append(error_row(seg, name, "bad_option", f"the line names a .{ext} audio clip; extract writes "
                                                           f".{job.options.audio.format} (--audio-format {ext})"))
        else:
            rows.append(_extract_clip(job, reader, jpeg, seg, span, deadline, frames))
    return rows


def _outside_row(seg: SegmentTask, reader: MediaReader, offset: float, start: float) -> Row:
    """A segment past the video's last data: outside it, or in a part the header claims but the
    file lacks (a truncated download: ``decode_error``)."""
    if reader.claimed_duration is not None and start < reader.claimed_duration - 0.5:
        return error_row(seg, "p0", "decode_error",
                         f"{reader.path}: segment [{seg.start:.3f}, {seg.end:.3f}] s lies past the last data "
                         f"({reader.duration + offset:.3f} s) although the header says "
                         f"{reader.claimed_duration + offset:.3f} s (file truncated?)")
    return error_row(seg, "p0", "segment_outside_video",
                     f"segment [{seg.start:.3f}, {seg.end:.3f}] s is outside the video "
                     f"({reader.duration + offset:.3f} s)")


def _extract_clip(job: VideoJob, reader: MediaReader, jpeg: JpegWriter, seg: SegmentTask,
                  clip: ClipSpan, deadline: float | None, frames: int | None = None) -> Row:
    t0 = time.monotonic()
    opts = job.options
    row = error_row(seg, clip.name, "ok", "", start=clip.start + job.offset, end=clip.end + job.offset)
    out = Path(job.out)
    problems: list[tuple[str, str]] = []
    times = frame_timestamps(clip.start, clip.end, opts.frames.count if frames is None else frames)
    try:
        span = reader.read_span(clip.start, clip.end, times, deadline=deadline, skip_nonref=opts.skip_nonref)
        if reader.astream is None:
            problems.append(("no_audio_stream", f"{job.video}: no audio stream; frames only"))
        elif span.audio is None or span.audio.shape[1] == 0:
            problems.append(("decode_error", f"{job.video}: no audio decoded in [{row['start']:.3f}, "
                                             f"{row['end']:.3f}] s (file truncated?)"))
        else:
            rate, bitrate, note = opts.audio.resolve(span.sample_rate)
            channels = opts.audio.output_channels(span.audio.shape[0])
            samples = convert_audio(span.audio, span.sample_rate, rate, channels)
            rel = f"{seg.dir}/aclip/{audio_name(seg.file_id, clip.name, opts.audio.format)}"
            with output_errors(rel):
                write_audio(safe_join(out, rel), samples, rate, opts.audio, bitrate)
            row.update(audio_file=rel, audio_samples=int(samples.shape[1]), sample_rate=rate, channels=channels,
                       message=note)
        if times:
            if reader.vstream is None:
                problems.append(("no_video_stream", f"{job.video}: no video stream; audio only"))
            else:
                files, taken = [], []
                for k, (frame, t) in enumerate(zip(span.frames, span.frame_times), start=1):
                    if frame is None or t is None or t < clip.start - STALE_FRAME:
                        continue                    # missing, or a stale frame from before the clip
                    rel = f"{seg.dir}/frame/{frame_name(seg.file_id, clip.name, len(times), k)}"
                    with output_errors(rel):
                        jpeg.write(safe_join(out, rel), frame)
                    files.append(rel)
                    taken.append(t + job.offset)
                row.update(frame_files=files, frame_times=taken)
                if len(files) < len(times):
                    problems.append(("decode_error", f"{job.video}: decoded {len(files)} of {len(times)} frames "
                                                     f"in [{row['start']:.3f}, {row['end']:.3f}] s"))
    except MediaError as e:
        problems.insert(0, (e.code, e.message))
    except UnsafePathError as e:
        problems.insert(0, ("unsafe_path", f"{seg.clip_id}: {e}"))
    except OptionError as e:
        problems.insert(0, ("bad_option", f"{seg.clip_id}: {e}"))
    except Exception as e:  # noqa: BLE001  any other failure is this clip's, not the run's
        problems.insert(0, ("decode_error", f"{job.video}: {type(e).__name__}: {e}"))
    if problems:
        order = ["output_error", "unsafe_path", "bad_option", "timeout", "decode_error", "no_video_stream",
                 "no_audio_stream"]
        problems.sort(key=lambda p: order.index(p[0]) if p[0] in order else -1)
        row["status"], row["message"] = problems[0][0], _one_line("; ".join(m for _, m in problems))
    row["seconds"] = time.monotonic() - t0
    return row
