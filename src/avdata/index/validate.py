"""Validation before listing: the per-segment job of the index stage (a pure function).

``check_segment(task)`` decides whether a segment may be listed: its gold clip ``p0`` must have been
extracted, its audio must decode and last at least ``min_audio_seconds``, and at least one frame
must decode. Negative clips (``n0``, ``n1``) are checked the same way and dropped alone when bad.
With ``features`` it also writes ``aclip_128``/``frame_224`` for ``p0`` (see avdata.media.features).

Every clip gets a status: ``ok`` or one exclusion reason (``EXCLUSION_REASONS`` plus
``extract_{code}`` for an extraction error and ``audio_{code}`` for an audio decode error).

Resuming: each result carries a ``fingerprint`` of its inputs (manifest row, options) and the
``stamps`` (path, size, mtime_ns) of every file it read or wrote. A task may carry the previous
run's results (``SegmentTask.previous``); when fingerprints and stamps all still match, the
previous result is returned and nothing is decoded or written. A result made without reading any
file (no media checks, no features) gets no fingerprint: it is never reused (making it again
from the manifest costs less than proving it still holds, and can never be stale).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from avdata.errors import MediaError, UnsafePathError
from avdata.media.features import write_aclip_128, write_frame_224
from avdata.media.inspect import check_audio, check_image
from avdata.paths import check_relative, safe_join

OK = "ok"
NOT_EXTRACTED = "not_extracted"
BAD_LAYOUT = "bad_layout"
NO_AUDIO_FILE = "no_audio_file"
AUDIO_TOO_SHORT = "audio_too_short"
NO_FRAME_DECODES = "no_frame_decodes"
LABEL_EXCLUDED = "label_excluded"
LABEL_NOT_KEPT = "label_not_kept"
EXCLUSION_REASONS = (NOT_EXTRACTED, BAD_LAYOUT, NO_AUDIO_FILE, AUDIO_TOO_SHORT, NO_FRAME_DECODES,
                     LABEL_EXCLUDED, LABEL_NOT_KEPT)
EXTRACT_STATUS_PREFIX = "extract_"              # + the manifest's status (``unknown`` when empty)
EXTRACT_MESSAGE_PREFIX = "extraction status "
UNKNOWN_EXTRACT_STATUS = "unknown"
NO_P0_MESSAGE = "no p0 row"
NO_AUDIO_FILE_MESSAGE = "the manifest names no audio file"
NO_FRAME_LISTED_MESSAGE = "the manifest lists no frame"
GOLD_CLIP = "p0"
MISSING_STAMP = (-1, -1)  # (size, mtime_ns) recorded for a file that was not there

Stamp = tuple[str, int, int]  # (path relative to the media root, size, mtime_ns)


@dataclass(frozen=True)
class ClipFiles:
    """What the extraction manifest says about one clip of a segment."""

    clip: str
    status: str
    audio_file: str | None
    frame_files: tuple[str, ...]
    audio_samples: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class SegmentTask:
    """Inputs of one segment's check. ``clips``: p0 first, then negatives in listing order."""

    row: int
    clip_id: str
    dir: str
    clips: tuple[ClipFiles, ...]
    media_root: str
    min_audio_seconds: float = 2.0
    check_media: bool = True
    features: bool = False
    previous: tuple[ClipResult | None, ...] = ()  # last run's result per clip (aligned with clips)


@dataclass(frozen=True)
class ClipResult:
    """The outcome for one clip: listed names, audio properties, features written."""

    clip: str
    status: str
    message: str = ""
    aclip: str | None = None
    frames: tuple[str, ...] = ()
    frames_total: int = 0
    audio_seconds: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    aclip_128: str | None = None
    frame_224: str | None = None
    feature_error: str = ""
    fingerprint: str = ""
    stamps: tuple[Stamp, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass(frozen=True)
class SegmentResult:
    """All clips of one segment; listed when the gold clip is ok."""

    row: int
    clip_id: str
    clips: tuple[ClipResult, ...]

    @property
    def ok(self) -> bool:
        return bool(self.clips) and self.clips[0].clip == GOLD_CLIP and self.clips[0].ok

    @property
    def status(self) -> str:
        return self.clips[0].status if self.clips else NOT_EXTRACTED


@lru_cache(maxsize=4096)
def _checked_dir(dir_: str) -> str:
    """A chunk folder from the manifest, checked once: a clean relative path (or empty)."""
    return "" if dir_ == "" else str(check_relative(dir_))


ID_SEPARATORS = ("/", "\\", "\x00")  # an id with one of these is not one file-name component


def _name_in_layout(rel: str, folder: str, dir_: str, clip_id: str) -> str:
    """``{dir}/{folder}/{id}.{name}`` -> ``name``; UnsafePathError when ``rel`` is laid out otherwise.

    Plain string checks (this runs for millions of files): with ``dir`` a clean relative path and
    ``id`` and ``name`` free of separators, ``rel`` cannot leave the media root.
    """
    if any(sep in clip_id for sep in ID_SEPARATORS):
        raise UnsafePathError(f"clip id {clip_id!r} is not a file-name component")
    prefix = f"{_checked_dir(dir_)}/{folder}/{clip_id}." if dir_ else f"{folder}/{clip_id}."
    name = rel[len(prefix):]
    if not rel.startswith(prefix) or not name or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePathError(f"{rel!r} is not laid out as {prefix}NAME")
    return name


def _frame_index(name: str) -> int:
    """``p0.4_02.jpg`` -> 2 (the frame index; 0 when the name has none)."""
    stem = name.rsplit(".", 1)[0]
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _fingerprint(task: SegmentTask, files: ClipFiles) -> str:
    """A digest of everything but file contents that a clip's result depends on."""
    return fingerprint_of(repr(files), task.clip_id, task.dir, options_repr(task))


def clip_files_repr(clip: str, status: str, audio_file: str | None, frame_files: tuple[str, ...],
                    audio_samples: int | None, sample_rate: int | None, channels: int | None) -> str:
    """``repr(ClipFiles(...))`` without making one (the bulk path's fingerprints, millions of rows)."""
    return (f"ClipFiles(clip={clip!r}, status={status!r}, audio_file={audio_file!r}, "
            f"frame_files={frame_files!r}, audio_samples={audio_samples!r}, sample_rate={sample_rate!r}, "
            f"channels={channels!r})")


def options_repr(task: SegmentTask) -> str:
    """The run options a fingerprint covers, as ``fingerprint_of`` takes them."""
    return ", ".join(map(repr, (task.media_root, task.min_audio_seconds, task.check_media, task.features)))


def fingerprint_of(files_repr: str, clip_id: str, dir_: str, options: str) -> str:
    """``_fingerprint`` from its parts: the digest of ``repr((files, clip_id, dir, media_root,
    min_audio_seconds, check_media, features))`` (the bulk path reuses ``repr(files)`` across rows)."""
    key = f"({files_repr}, {clip_id!r}, {dir_!r}, {options})"
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


def _stamp(root: str, rel: str) -> Stamp:
    try:
        st = os.stat(os.path.join(root, rel))
    except OSError:
        return (rel, *MISSING_STAMP)
    return (rel, st.st_size, st.st_mtime_ns)


def _feature_rels(task: SegmentTask, clip: str) -> tuple[str, str]:
    """``aclip_128`` and ``frame_224`` paths of a clip, relative to the media root."""
    base = f"{task.dir}/" if task.dir else ""
    return (f"{base}aclip_128/{task.clip_id}.{clip}.npz", f"{base}frame_224/{task.clip_id}.{clip}.npz")


def _reads_files(task: SegmentTask) -> bool:
    return task.check_media or task.features


def check_clip(task: SegmentTask, files: ClipFiles) -> ClipResult:
    """Check one clip (see ``_check_clip``) and record its fingerprint and file stamps.

    Input files are stamped before they are read (a change during the check shows on the rerun);
    feature outputs after they are written.
    """
    stamps: list[Stamp] = []
    if _reads_files(task) and files.status == OK and files.audio_file:
        stamps = [_stamp(task.media_root, rel) for rel in (files.audio_file, *files.frame_files)]
    result = _check_clip(task, files)
    if result.status == BAD_LAYOUT:
        stamps = []
    elif task.features and result.ok and files.clip == GOLD_CLIP:
        stamps += [_stamp(task.media_root, rel) for rel in _feature_rels(task, files.clip)]
    fingerprint = _fingerprint(task, files) if _reads_files(task) else ""
    return replace(result, fingerprint=fingerprint, stamps=tuple(stamps))


def _still_valid(task: SegmentTask, files: ClipFiles, prev: ClipResult | None) -> bool:
    """True when ``prev`` was made from the same inputs and every file it recorded is unchanged."""
    if prev is None or not prev.fingerprint or prev.fingerprint != _fingerprint(task, files):
        return False
    return all(_stamp(task.media_root, rel) == (rel, size, mtime) for rel, size, mtime in prev.stamps)


def _reused(task: SegmentTask) -> SegmentResult | None:
    """The previous run's result for this segment when it still holds, else None."""
    if len(task.previous) != len(task.clips) or not _still_valid(task, task.clips[0], task.previous[0]):
        return None
    gold = task.previous[0]
    assert gold is not None
    if not gold.ok:  # negatives were not checked
        return SegmentResult(task.row, task.clip_id, (gold,))
    if not all(_still_valid(task, f, p) for f, p in zip(task.clips[1:], task.previous[1:])):
        return None
    return SegmentResult(task.row, task.clip_id, tuple(p for p in task.previous if p is not None))


def _check_clip(task: SegmentTask, files: ClipFiles) -> ClipResult:
    """Check one clip's audio and frames (decoding them when ``task.check_media``)."""
    if files.status != OK:
        return ClipResult(files.clip, EXTRACT_STATUS_PREFIX + files.status, EXTRACT_MESSAGE_PREFIX + files.status)
    if not files.audio_file:
        return ClipResult(files.clip, NO_AUDIO_FILE, NO_AUDIO_FILE_MESSAGE)
    root = task.media_root
    try:
        aclip = _name_in_layout(files.audio_file, "aclip", task.dir, task.clip_id)
        frame_names = [_name_in_layout(f, "frame", task.dir, task.clip_id) for f in files.frame_files]
        if task.check_media or task.features:
            audio_path = safe_join(root, files.audio_file)
            frame_paths = [safe_join(root, f) for f in files.frame_files]
    except UnsafePathError as e:
        return ClipResult(files.clip, BAD_LAYOUT, str(e))
    total = len(frame_names)
    if not task.check_media and not task.features:  # names only: no file is touched
        return _trusted(files, aclip, frame_names, task.min_audio_seconds)
    seconds: float | None
    rate: int | None
    channels: int | None
    if task.check_media:
        audio = check_audio(audio_path)
        if not audio.ok:
            return ClipResult(files.clip, f"audio_{audio.code}", audio.message, frames_total=total)
        seconds, rate, channels = audio.duration, audio.sample_rate, audio.channels
        good = [(n, p) for n, p in zip(frame_names, frame_paths) if check_image(p).ok]
    else:
        rate, channels = files.sample_rate, files.channels
        seconds = (files.audio_samples / rate) if (files.audio_samples is not None and rate) else None
        good = list(zip(frame_names, frame_paths))
    props: dict[str, Any] = dict(audio_seconds=seconds, sample_rate=rate, channels=channels, frames_total=total)
    if seconds is not None and seconds < task.min_audio_seconds:
        return ClipResult(files.clip, AUDIO_TOO_SHORT, too_short_message(audio_path, seconds, task.min_audio_seconds),
                          **props)
    if not good:
        return ClipResult(files.clip, NO_FRAME_DECODES, f"none of {total} frame(s) decodes", **props)
    result = ClipResult(files.clip, OK, aclip=aclip, frames=tuple(n for n, _ in good), **props)
    if task.features and files.clip == GOLD_CLIP:
        result = _with_features(task, result, audio_path, good)
    return result


def _trusted(files: ClipFiles, aclip: str, frame_names: list[str], min_seconds: float) -> ClipResult:
    """The result without media checks: the manifest's word for duration, rate and channels."""
    rate, samples = files.sample_rate, files.audio_samples
    seconds = samples / rate if (samples is not None and rate) else None
    props: dict[str, Any] = dict(audio_seconds=seconds, sample_rate=rate, channels=files.channels,
                                 frames_total=len(frame_names))
    if seconds is not None and seconds < min_seconds:
        return ClipResult(files.clip, AUDIO_TOO_SHORT, too_short_message(files.audio_file, seconds, min_seconds),
                          **props)
    if not frame_names:
        return ClipResult(files.clip, NO_FRAME_DECODES, NO_FRAME_LISTED_MESSAGE, **props)
    return ClipResult(files.clip, OK, aclip=aclip, frames=tuple(frame_names), **props)


def too_short_message(audio: object, seconds: float, min_seconds: float) -> str:
    """The message of an ``audio_too_short`` result."""
    return f"{audio}: {seconds:.3f} s < {min_seconds:g} s"


def _fresh(out: Path, sources: list[Path]) -> bool:
    """True when ``out`` exists and is newer than every source (a rerun need not rewrite it)."""
    try:
        made = out.stat().st_mtime_ns
        return all(made >= s.stat().st_mtime_ns for s in sources)
    except OSError:
        return False


def _with_features(task: SegmentTask, result: ClipResult, audio_path: Path,
                   good: list[tuple[str, Path]]) -> ClipResult:
    name = f"{result.clip}.npz"
    a_rel, f_rel = _feature_rels(task, result.clip)
    a_out, f_out = safe_join(task.media_root, a_rel), safe_join(task.media_root, f_rel)
    errors = []
    aclip_128 = frame_224 = None
    try:
        if not _fresh(a_out, [audio_path]):
            write_aclip_128(audio_path, a_out)
        aclip_128 = name
    except MediaError as e:
        errors.append(e.code)
    frames = [(_frame_index(n), p) for n, p in good]
    try:
        if not _fresh(f_out, [p for _, p in frames]):
            write_frame_224(frames, f_out)
        frame_224 = name
    except OSError as e:
        errors.append(f"frame_224_{type(e).__name__}")
    return replace(result, aclip_128=aclip_128, frame_224=frame_224, feature_error=",".join(errors))


def settle(task: SegmentTask) -> SegmentResult | None:
    """``check_segment(task)`` when it needs no decode and writes nothing, else None (the task
    needs a worker). Settled here: the previous results when they still hold, and a gold clip
    that fails before any decode (not extracted, no audio file, a bad layout, with media checks an
    audio file that is not there); its negatives are then not checked, as in ``check_segment``."""
    if not task.clips or task.clips[0].clip != GOLD_CLIP:
        return check_segment(task)
    reused = _reused(task)
    if reused is not None:
        return reused
    gold = task.clips[0]
    if gold.status == OK and gold.audio_file and _reads_files(task):
        try:
            _name_in_layout(gold.audio_file, "aclip", task.dir, task.clip_id)
            for f in gold.frame_files:
                _name_in_layout(f, "frame", task.dir, task.clip_id)
            audio_path = safe_join(task.media_root, gold.audio_file)
            for f in gold.frame_files:
                safe_join(task.media_root, f)
        except UnsafePathError:
            pass                              # a bad layout: decided without opening a file
        else:
            if not task.check_media or audio_path.is_file():
                return None                   # a decode (or a feature write) to do
    return SegmentResult(task.row, task.clip_id, (check_clip(task, gold),))


def check_segment(task: SegmentTask) -> SegmentResult:
    """Check every clip of a segment; negatives are checked only when the gold clip is ok.

    The previous run's result is returned instead when it still holds (see the module docstring).
    """
    if not task.clips or task.clips[0].clip != GOLD_CLIP:
        return SegmentResult(task.row, task.clip_id, (ClipResult(GOLD_CLIP, NOT_EXTRACTED, NO_P0_MESSAGE),))
    reused = _reused(task)
    if reused is not None:
        return reused
    gold = check_clip(task, task.clips[0])
    results = [gold]
    if gold.ok:
        results += [check_clip(task, c) for c in task.clips[1:]]
    return SegmentResult(task.row, task.clip_id, tuple(results))
