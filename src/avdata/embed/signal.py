"""``signal``: a deterministic audio-visual descriptor that needs no downloaded weights (the default).

Each block answers one question about a clip, so that clips of the same kind of sound and picture
land near each other:

audio (from the 128-bin Kaldi log-mel fbank; the index's ``aclip_128`` npz is reused when present,
otherwise the same numbers are computed from the audio clip; the blocks read pairs of
neighbouring frames every 160 ms, an eighth of all frames, which keeps the statistics at an eighth of the cost):
- ``envelope`` (64): mean and standard deviation over time of 32 log-mel bands (4 bins each). The
  mean is the long-term spectral envelope (where the energy is: a low hum vs a whistle); the
  standard deviation separates steady sounds (tones, noise) from changing ones (speech, chirps).
- ``dynamics`` (32): mean absolute frame-to-frame change (delta, 10 ms) per band: temporal
  texture, high for clicks and onsets, low for drones.
- ``spectral`` (13): per-frame centroid, bandwidth, flatness (tonal vs noisy), log energy and
  flux (mean and std of each), plus onset rate, energy peak-to-median and the slope of the
  centroid over time (rising/falling chirps).

image (the clip's frame JPEGs, decoded at reduced size and averaged over frames):
- ``colour`` (20): hue histogram weighted by saturation (12), saturation (4) and value (4)
  histograms: what colours the scene has, independent of where.
- ``layout`` (12): mean RGB of the four quadrants: coarse spatial arrangement.
- ``texture`` (9): gradient-orientation histogram (8 unsigned bins, magnitude-weighted) and the
  log mean gradient magnitude: stripes vs checks vs smooth surfaces.

Every block is standardised with fixed statistics (``signal_stats.json``, measured once on a
generated reference corpus by ``tools/signal_stats.py``; their SHA-256 is part of the
fingerprint, so embeddings made separately -- seeds and pool -- share one space), divided by the
square root of its size so that each block weighs the same whatever its length, multiplied by its
weight, and the audio and image parts are each L2-normalised and concatenated (times
``audio_weight`` / ``image_weight``) and normalised again. The two parts live in different spaces
(``joint_space = False``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from avdata.arrays import fbank_array, read_npz
from avdata.embed import register_embedder
from avdata.embed.base import (
    ClipEmbedError,
    ClipMedia,
    EmbedderError,
    Embedding,
    file_sha256,
    fingerprint_of,
    l2_normalise,
)
from avdata.errors import MediaError
from avdata.media.features import AUDIO_KEY, FBANK, rate_for_fbank
from avdata.media.inspect import decode_audio
from avdata.media.kaldi_fbank import fast_fbank

STATS_FILE = "signal_stats.json"
FEATURE_VERSION = 4              # 4: JPEG scale from the analysis size, float32 gradients; 3: pairs every 160 ms
N_BANDS = 32
IMAGE_SIDE = 64                 # frames are analysed at about this size
PAIR_STEP = 16                  # one pair of neighbouring fbank frames every 16 frames (160 ms)
AUDIO_BLOCKS = (("envelope", 64, 1.0), ("dynamics", 32, 0.7), ("spectral", 13, 0.7))
IMAGE_BLOCKS = (("colour", 20, 1.0), ("layout", 12, 0.7), ("texture", 9, 0.7))


def analysis_frames(n_frames: int) -> np.ndarray:
    """The fbank frames the descriptor reads: pairs of neighbours (t, t+1) every ``PAIR_STEP``
    frames (160 ms). An eighth of the work of every frame, the same statistics in expectation, and the
    deltas still between frames 10 ms apart. Empty when there is no full pair."""
    starts = np.arange(0, max(n_frames - 1, 0), PAIR_STEP)
    return (starts[:, None] + np.array([0, 1])).ravel()


def audio_blocks(pairs: np.ndarray) -> dict[str, np.ndarray]:
    """The audio blocks of the fbank rows ``analysis_frames`` picks: (2 x pairs, 128), each pair
    (t, t+1) in turn. Raises ClipEmbedError if there are fewer than 2 pairs."""
    x = np.asarray(pairs, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] % N_BANDS or x.shape[0] < 4 or x.shape[0] % 2:
        raise ClipEmbedError("audio_too_short", f"fbank rows of shape {x.shape} (need at least 2 frame pairs)")
    t = x.shape[0]
    bands = x.reshape(t, N_BANDS, -1).mean(axis=2)
    envelope = np.concatenate([bands.mean(0), bands.std(0)])
    step = bands[1::2] - bands[0::2]                      # 10 ms change within each pair
    dynamics = np.abs(step).mean(0)

    p = np.exp(x - x.max(axis=1, keepdims=True))        # per-frame relative power
    bins = np.arange(x.shape[1], dtype=np.float64) / x.shape[1]
    total = p.sum(1)
    centroid = (p * bins).sum(1) / total
    bandwidth = np.sqrt(np.maximum((p * (bins - centroid[:, None]) ** 2).sum(1) / total, 0.0))
    flatness = np.log(p + 1e-10).mean(1) - np.log(p.mean(1) + 1e-10)
    energy = x.max(axis=1) + np.log(total)               # log-sum-exp over bins
    flux = np.repeat(np.maximum(step, 0.0).mean(1), 2)
    per_frame = np.stack([centroid, bandwidth, flatness, energy, flux])
    onsets = float(np.mean(energy[1::2] - energy[0::2] > 1.5))
    peak = float(energy.max() - np.median(energy))
    times = np.linspace(-1.0, 1.0, t)
    slope = float(np.dot(times, centroid - centroid.mean()) / np.dot(times, times))
    spectral = np.concatenate([per_frame.mean(1), per_frame.std(1), [onsets, peak, slope]])
    return {"envelope": envelope, "dynamics": dynamics, "spectral": spectral}


def _bins(x: np.ndarray, n: int) -> np.ndarray:
    """Histogram bin of each value in [0, 1] among ``n`` equal bins (1.0 in the last)."""
    return np.minimum((x * n).astype(np.int64), n - 1)


_LEVELS = np.arange(256) / 255.0                  # a uint8 channel value as a fraction
_BIN12, _BIN4 = _bins(_LEVELS, 12), _bins(_LEVELS, 4)
_GREY = (np.array([0.299, 0.587, 0.114]) / 255.0).astype(np.float32)
_EIGHT_PER_PI = np.float32(8.0 / np.pi)
MIN_IMAGE_SIDE = 4


def image_blocks(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The image blocks of one RGB frame (height, width, 3) uint8, at least 4 x 4 pixels
    (ValueError otherwise). Histogram bins come from lookup tables over the 256 channel values;
    the gradients are float32."""
    u8 = np.asarray(rgb, dtype=np.uint8)
    height, width = u8.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ValueError(f"a frame of {width}x{height} pixels is too small to describe")
    n = float(height * width)
    hsv = np.asarray(Image.fromarray(u8).convert("HSV")).reshape(-1, 3)
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    hue = np.bincount(_BIN12[h], weights=_LEVELS[s], minlength=12) / n
    colour = np.concatenate([hue, np.bincount(_BIN4[s], minlength=4) / n, np.bincount(_BIN4[v], minlength=4) / n])
    hh, ww = height // 2, width // 2
    sums = np.add.reduceat(np.add.reduceat(u8, [0, hh], axis=0, dtype=np.int64), [0, ww], axis=1)
    counts = np.array([[hh * ww, hh * (width - ww)], [(height - hh) * ww, (height - hh) * (width - ww)]])
    layout = (sums / (counts[..., None] * 255.0)).ravel()          # quadrants TL, TR, BL, BR
    grey = (u8.reshape(-1, 3) @ _GREY).reshape(height, width)
    gx = grey[1:-1, 2:] - grey[1:-1, :-2]
    gy = grey[2:, 1:-1] - grey[:-2, 1:-1]
    mag = np.sqrt(gx * gx + gy * gy).ravel()
    sector = np.floor(np.arctan2(gy, gx).ravel() * _EIGHT_PER_PI).astype(np.int64) % 8   # unsigned: -pi..pi folds
    orient = np.bincount(sector, weights=mag, minlength=8)
    orient = orient / (orient.sum() + 1e-9)
    texture = np.concatenate([orient, [np.log(mag.mean(dtype=np.float64) + 1e-4)]])
    return {"colour": colour, "layout": layout, "texture": texture}


def load_frame(path: Path | IO[bytes], side: int = IMAGE_SIDE) -> np.ndarray:
    """Decode a frame JPEG at reduced size: the smallest JPEG scale (1/2, 1/4, 1/8) that still
    covers the analysis size (longer side ``side``), then a fixed bilinear resize: uint8 RGB."""
    with Image.open(path) as opened:
        w, h = opened.size
        scale = min(1.0, side / max(w, h))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        opened.draft("RGB", size)
        im = opened.convert("RGB")
        if im.size != size:
            im = im.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def clip_fbank(media: ClipMedia) -> np.ndarray:
    """The ``analysis_frames`` rows of the clip's 128-bin log-mel fbank: from the ``aclip_128``
    npz when the index names one, else
    computed from the audio clip (``media.kaldi_fbank.fast_fbank``: the same numbers, faster;
    first channel, own rate; clips below 22.05 kHz are linearly
    resampled to 22.05 kHz first, since 128 mel bins need that rate)."""
    if media.fbank is not None and media.fbank.is_file():
        where = str(media.fbank)
        full = fbank_array(read_npz(media.fbank, where, "bad_fbank"), AUDIO_KEY, where)
        return full[analysis_frames(full.shape[0])]
    if media.audio is None:
        raise ClipEmbedError("no_audio", "the index line names no audio clip")
    try:
        audio, rate = decode_audio(media.audio)
    except MediaError as e:
        raise ClipEmbedError(e.code, e.message) from e
    mono, rate = rate_for_fbank(audio[0], rate)
    n = FBANK.frame_count(mono.size, rate)
    return fast_fbank(mono, rate, frames=analysis_frames(n))


def clip_image_blocks(media: ClipMedia) -> dict[str, np.ndarray]:
    """Image blocks averaged over the frames that decode. Raises ClipEmbedError if none does."""
    found: list[dict[str, np.ndarray]] = []
    reasons = []
    for path in media.frames:
        try:
            found.append(image_blocks(load_frame(path)))
        except (OSError, ValueError, SyntaxError) as e:
            reasons.append(f"{path.name}: {type(e).__name__}")
    if not found:
        why = "; ".join(reasons) if reasons else "the index line names no frames"
        raise ClipEmbedError("no_frames", f"no frame decodes ({why})")
    return {k: np.mean([f[k] for f in found], axis=0) for k in found[0]}


def stats_path() -> Path:
    return Path(str(resources.files("avdata.embed").joinpath(STATS_FILE)))


def load_stats(path: Path | None = None) -> dict[str, Any]:
    """The standardisation statistics (the shipped file, or ``path``); EmbedderError names a file
    that is not such statistics (not JSON, not UTF-8, a block missing or of the wrong size)."""
    path = path or stats_path()
    try:
        stats = json.loads(path.read_bytes())
        for name, dim, _ in AUDIO_BLOCKS + IMAGE_BLOCKS:
            block = stats["blocks"][name]
            for key in ("mean", "std"):
                if np.asarray(block[key], dtype=np.float64).shape != (dim,):
                    raise ValueError(f"blocks.{name}.{key} does not hold {dim} numbers")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EmbedderError(f"{path}: not a signal statistics file ({type(e).__name__}: {e})") from None
    return stats


def _standardised(blocks: dict[str, np.ndarray], spec: tuple, stats: dict[str, Any]) -> np.ndarray:
    parts = []
    for name, dim, weight in spec:
        v = np.asarray(blocks[name], dtype=np.float64)
        if v.shape != (dim,):
            raise ClipEmbedError("bad_block", f"block {name} has shape {v.shape}, expected ({dim},)")
        mean = np.asarray(stats["blocks"][name]["mean"])
        std = np.asarray(stats["blocks"][name]["std"])
        parts.append((v - mean) / std * (weight / np.sqrt(dim)))
    return l2_normalise(np.concatenate(parts))


@register_embedder("signal")
@dataclass
class SignalEmbedder:
    """Log-mel statistics and spectral descriptors + colour, layout and gradient histograms."""

    weights: tuple[str, ...] = ()        # optional: one statistics JSON instead of the shipped one
    audio_weight: float = 1.0
    image_weight: float = 1.0
    name: str = field(default="signal", init=False)
    joint_space: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if len(self.weights) > 1:
            raise EmbedderError("signal takes at most one file (a statistics JSON made by tools/signal_stats.py)")
        self._stats_path = Path(self.weights[0]) if self.weights else stats_path()
        if not self._stats_path.is_file():
            raise EmbedderError(f"signal statistics file not found: {self._stats_path}")
        self.stats = load_stats(self._stats_path)
        Image.preinit()          # JPEG support loaded here: workers forked after the build inherit it
        self.audio_dim = sum(d for _, d, _ in AUDIO_BLOCKS)
        self.image_dim = sum(d for _, d, _ in IMAGE_BLOCKS)
        self.dim = self.audio_dim + self.image_dim

    def fingerprint(self) -> str:
        return fingerprint_of(self.name, {"version": FEATURE_VERSION, "audio_weight": self.audio_weight,
                                          "image_weight": self.image_weight},
                              {"stats": file_sha256(self._stats_path)})

    def describe(self) -> dict[str, Any]:
        """What meta.json records: the standardisation statistics and the block layout."""
        return {"standardisation": self.stats, "blocks": [[n, d, w] for n, d, w in AUDIO_BLOCKS + IMAGE_BLOCKS],
                "audio_weight": self.audio_weight, "image_weight": self.image_weight}

    def embed_parts(self, logmel: np.ndarray, image: dict[str, np.ndarray]) -> Embedding:
        """Embedding from fbank rows (``analysis_frames``) and (frame-averaged) image blocks."""
        audio = _standardised(audio_blocks(logmel), AUDIO_BLOCKS, self.stats)
        img = _standardised(image, IMAGE_BLOCKS, self.stats)
        vector = l2_normalise(np.concatenate([audio * self.audio_weight, img * self.image_weight]))
        return Embedding(vector=vector, audio=audio, image=img)

    def embed(self, media: ClipMedia) -> Embedding:
        return self.embed_parts(clip_fbank(media), clip_image_blocks(media))
