"""What ``avdata train`` learns from: each clip's model inputs, prepared once and stored as rows.

Every clip goes through the same function (``clip_inputs``), whatever role it plays later: the
audio and the picture of a positive pair and of every negative pair are the very same arrays, so
no decoding, resizing, padding or encoding difference can tell positives from negatives.

- **Audio**: the clip's 128-bin Kaldi fbank (``aclip_128`` with ``features="npz"``; decoded from the
  audio clip with ``"raw"`` and computed by ``fast_fbank``, Kaldi's numbers to about 1e-3),
  normalised as VIP-ANT does (``(x + 4.939) / 5.758``), 2 x 2 mean-pooled to (frames // 2, 64)
  rows of 20 ms, at most 500 (10 s). Never padded: the row's header says how many rows are real.
- **Frames**: up to four of the line's frames, evenly chosen, through CLIP's transform
  (``frame_224``) and 4 x 4 mean-pooled to (3, 56, 56).
- **Levels**: the loudest 10 ms of audio (log of the fbank frame's mean power over bins) and the
  largest mean change between consecutive frames (RGB in [0, 1]): the silent / still guards.

The model exported by ``avdata train`` does the same pooling itself, so what it sees at embed time
is what it was trained on. The rows are one flat vector per clip (``pack``; read back with ``header``,
``audio_of``, ``frame_of``), written by
the embed stage (chunks, manifest, resume) with this unregistered embedder (``InputsEmbedder``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avdata.embed.base import ClipEmbedError, ClipMedia, Embedding, fingerprint_of
from avdata.embed.vipant import DEFAULT_NORMS, clip_fbank
from avdata.errors import MediaError
from avdata.media.features import CLIP_STD

AUDIO_POOL = 2                  # fbank frames x mel bins pooled together
IMAGE_POOL = 4                  # pixels pooled together (224 -> 56)
MAX_AUDIO_ROWS = 1000 // AUDIO_POOL
MEL = 128 // AUDIO_POOL
IMAGE = 224 // IMAGE_POOL
MAX_FRAMES = 4
ROWS_PER_SECOND = 100 / AUDIO_POOL       # fbank: 10 ms shift
HEADER = 8                      # audio_rows, n_frames, 4 frame indices, level, motion
AUDIO_SIZE = MAX_AUDIO_ROWS * MEL
FRAME_SIZE = 3 * IMAGE * IMAGE
DIM = HEADER + AUDIO_SIZE + MAX_FRAMES * FRAME_SIZE
FEATURES = ("raw", "npz")
INPUTS_FACTORY = "avdata.train.inputs:InputsEmbedder"


@dataclass
class ClipInputs:
    """One clip's prepared inputs (see the module docstring)."""

    audio: np.ndarray                   # float32 (audio_rows, 64)
    frames: np.ndarray                  # float32 (n, 3, 56, 56)
    frame_index: list[int]              # which of the line's frames (0-based) each one is
    level: float                        # loudest fbank frame: log of its mean power over bins
    motion: float                       # largest mean |change| between consecutive frames, RGB [0, 1]


def chosen_frames(count: int, most: int = MAX_FRAMES) -> list[int]:
    """Up to ``most`` of ``count`` frames, evenly spread, first and last included."""
    if count <= most:
        return list(range(count))
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, most)})


def pool_audio(fbank: np.ndarray, norms: tuple[float, float] = DEFAULT_NORMS) -> np.ndarray:
    """Normalised fbank (frames, 128) -> (frames // 2, 64) means of 2 x 2 blocks (at most 500 rows)."""
    x = (np.asarray(fbank[:MAX_AUDIO_ROWS * AUDIO_POOL], np.float32) - norms[0]) / norms[1]
    n = x.shape[0] // AUDIO_POOL
    return x[:n * AUDIO_POOL].reshape(n, AUDIO_POOL, MEL, AUDIO_POOL).mean(axis=(1, 3), dtype=np.float32)


def pool_frame(frame: np.ndarray) -> np.ndarray:
    """A ``frame_224`` array (3, 224, 224) -> (3, 56, 56) means of 4 x 4 blocks."""
    return frame.reshape(3, IMAGE, IMAGE_POOL, IMAGE, IMAGE_POOL).mean(axis=(2, 4), dtype=np.float32)


def _frames_raw(media: ClipMedia, picks: list[int]) -> tuple[list[np.ndarray], list[int]]:
    from avdata.media.features import frame_224

    out, kept = [], []
    for k in picks:
        try:
            out.append(pool_frame(frame_224(media.frames[k])))
            kept.append(k)
        except (OSError, ValueError, SyntaxError):
            continue                    # a frame that does not decode is left out
    return out, kept


def _frames_npz(media: ClipMedia, picks: list[int]) -> tuple[list[np.ndarray], list[int]]:
    from avdata.arrays import frame_arrays, read_npz

    if media.frames_224 is None or not media.frames_224.is_file():
        raise ClipEmbedError("no_features", "features=npz needs the line's frame_224 file "
                                            f"({media.frames_224 or 'the line names none'})")
    where = str(media.frames_224)
    try:
        arrays = frame_arrays(read_npz(media.frames_224, where, "bad_frame_224"), where, 224)
    except MediaError as e:
        raise ClipEmbedError(e.code, e.message) from e
    out, kept = [], []
    for k in picks:
        a = arrays.get(f"{k + 1:02d}")
        if a is not None:
            out.append(pool_frame(a))
            kept.append(k)
    return out, kept


def clip_inputs(media: ClipMedia, features: str = "raw") -> ClipInputs:
    """Prepare one clip (ClipEmbedError with a code when it has no usable audio or frames)."""
    if features == "npz" and (media.fbank is None or not media.fbank.is_file()):
        raise ClipEmbedError("no_features", f"features=npz needs the line's aclip_128 file "
                                            f"({media.fbank or 'the line names none'})")
    fb = clip_fbank(media, use_npz=features == "npz", fast=True)
    audio = pool_audio(fb)
    if audio.shape[0] == 0:
        raise ClipEmbedError("no_audio", "the audio clip is shorter than one 20 ms step")
    picks = chosen_frames(len(media.frames))      # the frame_224 keys follow the line's frame names
    if not picks:
        raise ClipEmbedError("no_frames", "the index line names no frames")
    frames, kept = (_frames_raw if features == "raw" else _frames_npz)(media, picks)
    if not frames:
        raise ClipEmbedError("no_frames", f"none of the line's {len(picks)} chosen frames decodes")
    level = loudest(fb[:MAX_AUDIO_ROWS * AUDIO_POOL])
    stack = np.stack(frames)
    motion = 0.0
    if len(stack) > 1:
        diffs = np.abs(np.diff(stack, axis=0)) * CLIP_STD[None, :, None, None]   # back to RGB units
        motion = float(diffs.mean(axis=(1, 2, 3)).max())
    return ClipInputs(audio, stack, kept, level, motion)


def loudest(fbank: np.ndarray) -> float:
    """The loudest fbank frame's level: log of its mean power over the bins (digital silence: -15.9)."""
    return float(np.log(np.exp(fbank.astype(np.float64)).mean(axis=1)).max())


def pack(inputs: ClipInputs) -> np.ndarray:
    """One flat float32 row of ``DIM`` values (header, audio zero-filled to 500 rows, frames)."""
    row = np.zeros(DIM, np.float32)
    n_audio, n_frames = inputs.audio.shape[0], len(inputs.frames)
    idx = (inputs.frame_index + [-1] * MAX_FRAMES)[:MAX_FRAMES]
    row[:HEADER] = [n_audio, n_frames, *idx, inputs.level, inputs.motion]
    row[HEADER:HEADER + n_audio * MEL] = inputs.audio.reshape(-1)
    start = HEADER + AUDIO_SIZE
    row[start:start + n_frames * FRAME_SIZE] = inputs.frames.reshape(-1)
    return row


@dataclass(frozen=True)
class RowHeader:
    """The header of a packed row."""

    audio_rows: int
    frames: int
    frame_index: tuple[int, ...]
    level: float
    motion: float


def header(row: np.ndarray) -> RowHeader:
    h = np.asarray(row[:HEADER], np.float32)
    n = int(h[1])
    return RowHeader(int(h[0]), n, tuple(int(x) for x in h[2:2 + n]), float(h[6]), float(h[7]))


def audio_of(matrix: np.ndarray, i: int, start: int, rows: int) -> np.ndarray:
    """Rows ``start:start+rows`` of clip ``i``'s pooled audio (float32 (rows, 64))."""
    a = HEADER + start * MEL
    return np.asarray(matrix[i, a:a + rows * MEL], np.float32).reshape(rows, MEL)


def frame_of(matrix: np.ndarray, i: int, slot: int) -> np.ndarray:
    """Clip ``i``'s ``slot``-th stored frame (float32 (3, 56, 56))."""
    a = HEADER + AUDIO_SIZE + slot * FRAME_SIZE
    return np.asarray(matrix[i, a:a + FRAME_SIZE], np.float32).reshape(3, IMAGE, IMAGE)


@dataclass
class InputsEmbedder:
    """Writes ``pack(clip_inputs(media))`` as a clip's "vector" (not a similarity space, and not
    registered: only ``avdata train`` uses it, through the embed stage's chunks and manifest)."""

    features: str = "raw"
    name: str = field(default="avc-inputs", init=False)
    dim: int = field(default=DIM, init=False)
    joint_space: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}; got {self.features!r}")

    def fingerprint(self) -> str:
        return fingerprint_of(self.name, {"features": self.features, "norms": DEFAULT_NORMS, "audio_pool": AUDIO_POOL,
                                          "image_pool": IMAGE_POOL, "frames": MAX_FRAMES, "version": 1})

    def describe(self) -> dict[str, Any]:
        return {"fbank_norms": list(DEFAULT_NORMS), "audio_pool": AUDIO_POOL, "image_pool": IMAGE_POOL}

    def embed(self, media: ClipMedia) -> Embedding:
        return Embedding(vector=pack(clip_inputs(media, self.features)))
