"""The per-video render job: a pure function from one video and its rows to example files and
manifest rows (``render_video``); any executor can run it.

A single clip gives ``audio.wav`` (exactly ``round(length * rate)`` samples; a source that ends
early is padded with zeros and marked ``padded``) and N frames ``frame_01.jpg`` ... taken at
``start + i * length / N``. A MixIT row (with an output offset) gives a ``mixit_length`` s clip
with the span placed at ``round(offset * rate)``, zeros elsewhere. A mixture of mixtures (MoM)
gives ``source1.wav``, ``source2.wav``, ``mix.wav`` (their sample-wise sum), clip 1's frames and,
with ``mp4``, ``video.mp4`` (clip 1's pictures, the mixture as soundtrack). Files of one example
live in ``{split}/{id}/`` under the output root, each written atomically.

The video of a row is opened once for all its rows; a MoM's second video once per job.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avdata.errors import MediaError, OptionError, UnsafePathError
from avdata.extract.job import output_errors
from avdata.media.encode import AudioOptions, FrameOptions, JpegWriter, convert_audio, write_audio
from avdata.media.mux import Mp4Options, write_mp4
from avdata.media.reader import MediaReader
from avdata.paths import safe_join, safe_name

Row = dict[str, Any]
STALE_FRAME = 1.0          # a 'last frame' this long before its time means the video ended early


DEFAULT_MAX_LENGTH = 60.0      # s: AudioScope clips are 5 s, MixIT 10 s; 4 h of zeros is not a clip


@dataclass(frozen=True)
class RenderMedia:
    """What each example holds: audio rate, channels and format (``wav``/``flac``); frames per clip
    and their JPEG settings; MixIT output length; MoM ``headroom`` and ``mp4``."""

    sample_rate: int = 16_000
    channels: int = 1
    audio_format: str = "wav"
    frames: FrameOptions = field(default_factory=lambda: FrameOptions(count=5))
    mixit_length: float = 10.0
    max_length: float = DEFAULT_MAX_LENGTH     # longest span a row may ask for (longer: span_too_long)
    headroom: bool = False
    mp4: bool = False
    mp4_options: Mp4Options = field(default_factory=Mp4Options)

    def __post_init__(self) -> None:
        if self.audio_format not in ("wav", "flac"):
            raise OptionError(f"render audio format must be wav or flac; got {self.audio_format!r}")
        if self.channels not in (1, 2):
            raise OptionError(f"render channels must be 1 or 2; got {self.channels}")
        if not 1000 <= self.sample_rate <= 384_000:
            raise OptionError(f"sample rate out of range (1000..384000 Hz): {self.sample_rate}")
        if not self.mixit_length > 0:
            raise OptionError(f"MixIT output length must be > 0 s; got {self.mixit_length}")
        if not 0 < self.max_length < float("inf"):
            raise OptionError(f"the longest span must be a finite number > 0 s; got {self.max_length}")

    @property
    def audio(self) -> AudioOptions:
        return AudioOptions(format=self.audio_format, sample_rate=self.sample_rate, mono=self.channels == 1)


@dataclass(frozen=True)
class Clip:
    """A span of a source video (seconds of the source) and, for MixIT, its output offset."""

    source: str
    start: float
    end: float
    offset: float | None = None
    kind: str = "path"                 # the clip table's source_kind: path or youtube


@dataclass(frozen=True)
class RenderTask:
    """One example: its id, folder (relative to the output root), clip(s) and labels."""

    id: str
    dir: str
    clip1: Clip
    clip2: Clip | None = None
    split: str = ""
    annotation: str | None = None
    filtered: bool | None = None


@dataclass(frozen=True)
class VideoFile:
    """A source's local file and the source second it starts at, or why there is none."""

    path: str | None
    file_start: float = 0.0
    error: tuple[str, str] | None = None


@dataclass(frozen=True)
class RenderJob:
    """One video (clip 1's) with all its examples; ``partners``: MoM second clips' files."""

    out: str
    video: VideoFile
    tasks: tuple[RenderTask, ...]
    media: RenderMedia = field(default_factory=RenderMedia)
    partners: tuple[tuple[str, VideoFile], ...] = ()
    time_limit: float | None = None


def error_row(task: RenderTask, code: str, message: str, seconds: float = 0.0) -> Row:
    """A manifest row for an example that could not be rendered."""
    return {"id": task.id, "kind": "mom" if task.clip2 else "clip", "split": task.split,
            "source": task.clip1.source, "start": task.clip1.start, "end": task.clip1.end,
            "status": code, "message": " ".join(str(message).split())[:500], "files": [],
            "example": None, "padded": None, "headroom_scale": None, "clipped": None, "seconds": seconds}


@dataclass
class _Audio:
    samples: np.ndarray          # float32 (channels, n) at the output rate, final length
    padded: bool


class _Readers:
    """Open readers of one job, each opened once (clip 1's video and MoM partners)."""

    def __init__(self) -> None:
        self.open: dict[str, MediaReader] = {}

    def get(self, video: VideoFile) -> MediaReader:
        if video.error is not None or video.path is None:
            code, message = video.error or ("missing_video", "no video file")
            raise MediaError(code, message)
        reader = self.open.get(video.path)
        if reader is None:
            reader = self.open[video.path] = MediaReader(video.path)
        return reader

    def close(self) -> None:
        for r in self.open.values():
            r.close()


def render_video(job: RenderJob) -> list[Row]:
    """Render every example of one video; one manifest row each (never raises for media).

    Clip 1 of every example is read through ``MediaReader.read_spans``, so examples close
    together in the video share one decoding pass."""
    deadline = time.monotonic() + job.time_limit if job.time_limit else None
    partners = dict(job.partners)
    readers = _Readers()
    jpeg = JpegWriter(job.media.frames)
    rows: list[Row] = []
    tasks = list(job.tasks)
    try:
        try:
            reader = readers.get(job.video)
        except MediaError as e:
            return [error_row(t, e.code, e.message) for t in tasks]
        fs = job.video.file_start
        requests, asked = [], []
        for task in tasks:
            try:
                _check_length(task, job.media.max_length)
                _check_inside(reader, task.clip1, fs)
            except MediaError as e:
                rows.append(error_row(task, e.code, e.message))
                continue
            times = frame_times(task.clip1, job.media.frames.count)
            requests.append((max(0.0, task.clip1.start - fs), task.clip1.end - fs, [t - fs for t in times]))
            asked.append(task)
        t1 = time.monotonic()
        for i, span in reader.read_spans(requests, deadline=deadline):
            task = asked[i]
            try:
                if isinstance(span, MediaError):
                    raise span
                row = _render(job, task, reader, span, readers, partners, jpeg, deadline)
            except MediaError as e:
                row = error_row(task, e.code, e.message)
            except UnsafePathError as e:
                row = error_row(task, "unsafe_path", f"{task.id}: {e}")
            except OptionError as e:
                row = error_row(task, "bad_option", f"{task.id}: {e}")
            except Exception as e:  # noqa: BLE001  any other failure is this example's, not the run's
                row = error_row(task, "decode_error", f"{task.clip1.source}: {type(e).__name__}: {e}")
            row["seconds"] = time.monotonic() - t1
            t1 = time.monotonic()
            rows.append(row)
    finally:
        readers.close()
    return rows


def _check_length(task: RenderTask, limit: float) -> None:
    """A row asking for a span longer than ``limit`` seconds is refused before anything is decoded
    (render holds a whole span in memory: 4 h of 16 kHz audio is 900 MB)."""
    for clip in (task.clip1, task.clip2):
        if clip is not None and clip.end - clip.start > limit:
            raise MediaError("span_too_long", f"{clip.source}: [{clip.start:.3f}, {clip.end:.3f}] s is "
                                              f"{clip.end - clip.start:.1f} s long, more than the "
                                              f"{limit:g} s allowed (--max-length)")


def _check_inside(reader: MediaReader, clip: Clip, file_start: float) -> None:
    if reader.astream is None:
        raise MediaError("no_audio_stream", f"{reader.path}: no audio stream")
    if clip.start - file_start >= reader.duration or clip.end - file_start <= 0:
        raise MediaError("segment_outside_video", f"{clip.source}: [{clip.start:.3f}, {clip.end:.3f}] s is outside "
                                                  f"the video ({reader.duration + file_start:.3f} s)")


def _audio_of(span: Any, clip: Clip, file_start: float, media: RenderMedia, path: str) -> _Audio:
    """The clip's audio at the output rate, exactly ``round(length * rate)`` samples (zeros where
    the source has none: before its start or after its end, marked ``padded``)."""
    rate = media.sample_rate
    want = int(round((clip.end - clip.start) * rate))
    if span.audio is None or span.audio.shape[1] == 0:
        raise MediaError("decode_error", f"{path}: no audio decoded in [{clip.start:.3f}, {clip.end:.3f}] s")
    got = convert_audio(span.audio, span.sample_rate, rate, media.channels)
    lead = int(round(max(0.0, file_start - clip.start) * rate))      # a span that starts before the file
    out = np.zeros((media.channels, want), np.float32)
    k = max(0, min(got.shape[1], want - lead))
    out[:, lead:lead + k] = got[:, :k]
    return _Audio(out, lead > 0 or lead + k < want)


def _partner_audio(readers: _Readers, video: VideoFile, clip: Clip, media: RenderMedia,
                   deadline: float | None) -> _Audio:
    reader = readers.get(video)
    _check_inside(reader, clip, video.file_start)
    span = reader.read_span(max(0.0, clip.start - video.file_start), clip.end - video.file_start, [],
                            deadline=deadline)
    return _audio_of(span, clip, video.file_start, media, reader.path)


def _place(audio: _Audio, clip: Clip, media: RenderMedia) -> _Audio:
    """MixIT: the clip's samples at ``round(offset * rate)`` of a ``mixit_length`` s output."""
    if clip.offset is None:
        return audio
    rate = media.sample_rate
    total = int(round(media.mixit_length * rate))
    at = int(round(clip.offset * rate))
    out = np.zeros((audio.samples.shape[0], total), np.float32)
    k = max(0, min(audio.samples.shape[1], total - at))
    out[:, at:at + k] = audio.samples[:, :k]
    return _Audio(out, audio.padded)


def frame_times(clip: Clip, count: int) -> list[float]:
    """``start + i * length / count``: one per second of a 5 s clip with 5 frames."""
    step = (clip.end - clip.start) / count if count else 0.0
    return [clip.start + i * step for i in range(count)]


def _write_wav(out: Path, rel: str, samples: np.ndarray, media: RenderMedia) -> str:
    with output_errors(rel):
        write_audio(safe_join(out, rel), samples, media.sample_rate, media.audio)
    return rel


def _render(job: RenderJob, task: RenderTask, reader: MediaReader, span: Any, readers: _Readers,
            partners: dict[str, VideoFile], jpeg: JpegWriter, deadline: float | None) -> Row:
    media = job.media
    out = Path(job.out)
    folder = f"{safe_name(task.split)}/{safe_name(task.id)}"
    ext = media.audio_format
    times = frame_times(task.clip1, media.frames.count)
    audio1 = _place(_audio_of(span, task.clip1, job.video.file_start, media, reader.path), task.clip1, media)
    frames, taken = _write_frames(out, folder, span, times, job.video.file_start, jpeg, reader)
    row = error_row(task, "ok", "")
    files = list(frames)
    example: dict[str, Any]
    if task.clip2 is None:
        files.insert(0, _write_wav(out, f"{folder}/audio.{ext}", audio1.samples, media))
        example = {"id": task.id, "source": task.clip1.source, "start": task.clip1.start, "end": task.clip1.end,
                   "offset": task.clip1.offset, "audio": files[0], "frames": frames, "frame_times": taken,
                   "sample_rate": media.sample_rate, "samples": int(audio1.samples.shape[1]), "split": task.split,
                   "annotation": task.annotation, "filtered": task.filtered, "padded": audio1.padded}
        row.update(padded=audio1.padded)
    else:
        video2 = partners.get(task.clip2.source, VideoFile(None, error=("missing_video", f"{task.clip2.source}: "
                                                                                         "no video file")))
        audio2 = _place(_partner_audio(readers, video2, task.clip2, media, deadline), task.clip2, media)
        n = max(audio1.samples.shape[1], audio2.samples.shape[1])
        s1 = np.pad(audio1.samples, ((0, 0), (0, n - audio1.samples.shape[1])))
        s2 = np.pad(audio2.samples, ((0, 0), (0, n - audio2.samples.shape[1])))
        mix = s1 + s2
        peak = max((float(np.abs(x).max()) for x in (mix, s1, s2)), default=0.0) if n else 0.0
        full_scale = 32767 / 32768
        scale = 1.0
        if media.headroom and peak > full_scale:
            scale = full_scale / peak * (1 - 1e-6)     # float rounding must not tip it over
            s1, s2 = s1 * scale, s2 * scale
            mix = s1 + s2
        clipped = any(float(np.abs(x).max()) > full_scale for x in (mix, s1, s2)) if n else False
        names = [f"{folder}/mix.{ext}", f"{folder}/source1.{ext}", f"{folder}/source2.{ext}"]
        for rel, samples in zip(names, (mix, s1, s2)):
            _write_wav(out, rel, samples, media)
        mp4 = None
        if media.mp4:
            mp4 = f"{folder}/video.mp4"
            offset = task.clip1.offset or 0.0
            pictures = reader.read_frames(task.clip1.start - job.video.file_start,
                                          task.clip1.end - job.video.file_start, deadline=deadline)
            with output_errors(mp4):
                write_mp4(safe_join(out, mp4), pictures, task.clip1.start - job.video.file_start - offset,
                          np.clip(mix, -1.0, 1.0), media.sample_rate, media.mp4_options)   # as mix.wav holds it
        files = names + frames + ([mp4] if mp4 else [])
        example = {"id": task.id, "source1": task.clip1.source, "start1": task.clip1.start, "end1": task.clip1.end,
                   "source2": task.clip2.source, "start2": task.clip2.start, "end2": task.clip2.end,
                   "offset1": task.clip1.offset, "offset2": task.clip2.offset,
                   "mix": names[0], "audio1": names[1], "audio2": names[2], "frames": frames, "frame_times": taken,
                   "mp4": mp4, "sample_rate": media.sample_rate, "samples": n, "split": task.split,
                   "annotation": task.annotation, "headroom_scale": scale, "clipped": clipped,
                   "padded": audio1.padded or audio2.padded}
        row.update(padded=audio1.padded or audio2.padded, headroom_scale=scale, clipped=clipped)
    row.update(files=files, example=json.dumps(example, ensure_ascii=False))
    return row


def _write_frames(out: Path, folder: str, span: Any, times: list[float], file_start: float, jpeg: JpegWriter,
                  reader: MediaReader) -> tuple[list[str], list[float]]:
    """Clip 1's frames, ``frame_01.jpg`` ...; every one inside the video must decode (else
    ``decode_error``); past the video's end the last picture stands in (the clip is padded)."""
    if not times:
        return [], []
    if not span.frames:
        raise MediaError("no_video_stream", f"{reader.path}: no video stream")
    files, taken = [], []
    for k, (frame, t, want) in enumerate(zip(span.frames, span.frame_times, times), start=1):
        inside = want - file_start < reader.duration - STALE_FRAME
        if frame is None or t is None or (inside and t < want - file_start - STALE_FRAME):
            raise MediaError("decode_error", f"{reader.path}: no picture at {want:.3f} s")
        rel = f"{folder}/frame_{k:02d}.jpg"
        with output_errors(rel):
            jpeg.write(safe_join(out, rel), frame)
        files.append(rel)
        taken.append(t + file_start)
    return files, taken
