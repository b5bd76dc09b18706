"""``fingerprint``: a content fingerprint for finding the same clip again (``avdata audit``).

Not a similarity space of *kinds* of sound and picture (that is ``signal`` or a model), but of one
recording: two encodings of the same video (another bitrate, sample rate, frame size or container)
land near cosine 1, two different videos of the same kind do not. It needs no weights.

- audio (256): the log energy of 32 bands (mel-spaced, fixed edges in Hz from 60 Hz to 7.6 kHz, so
  the sample rate of the file does not matter) in 8 consecutive eighths of the clip, from
  non-overlapping ~93 ms frames, centred (the gain does not matter) and L2-normalised: the
  spectral envelope and how it moves. Digital silence gives a zero block.
- image (140): every frame (up to 4, the last repeated when fewer) in grey at 32x32, its 6x6
  lowest 2-D DCT coefficients without the constant one (a perceptual hash, robust to re-encoding
  and rescaling), centred and L2-normalised.

A duplicate needs both parts alike: ``avdata audit`` compares the parts' cosines (``parts``) and
takes the smaller. On the audit's planted corpus (``tests/audit``) the re-encodes score >= 0.94 and
no two different clips more than 0.69 (clips of one kind of sound and picture included), so the
audit's default threshold is 0.9.

The vector is ``[audio, image] / sqrt(2)``. Decoding is shared with the audit's measures
(``decode_clip``), so an audit decodes each clip once.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from avdata.embed import register_embedder
from avdata.embed.base import ClipEmbedError, ClipMedia, Embedding, fingerprint_of
from avdata.errors import MediaError
from avdata.media.inspect import decode_audio_bytes

BANDS = 32
STEPS = 8
DCT = 6
GREY = 32
FRAMES = 4
LOW_HZ, HIGH_HZ = 60.0, 7600.0
FRAME_SECONDS = 0.093
THUMB = 64                      # frames are decoded at about this size (JPEG draft mode)
AUDIO_DIM = BANDS * STEPS
IMAGE_DIM = FRAMES * (DCT * DCT - 1)
DIM = AUDIO_DIM + IMAGE_DIM
VERSION = 1


@dataclass
class DecodedClip:
    """A clip's audio (mono float32) and frames (RGB uint8 at about ``THUMB`` pixels), decoded once."""

    audio: np.ndarray
    rate: int
    frames: list[np.ndarray]
    sha256: bytes = b""          # of the files' bytes as read (audio, then frames, each followed by a NUL)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ClipEmbedError("missing_file", f"{path}: {e.strerror or e}") from None


def decode_frame(path: object, data: bytes | None = None) -> np.ndarray:
    """One frame JPEG (its ``data`` when already read) as RGB uint8, decoded at reduced size (JPEG
    draft mode)."""
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as im:    # type: ignore[arg-type]
            im.draft("RGB", (THUMB, THUMB))
            rgb = im.convert("RGB")
            if max(rgb.size) > 2 * THUMB:
                rgb = rgb.resize((THUMB * rgb.size[0] // max(rgb.size), THUMB * rgb.size[1] // max(rgb.size)),
                                 Image.Resampling.BILINEAR)
            return np.asarray(rgb)
    except FileNotFoundError:
        raise ClipEmbedError("missing_file", f"{path}: no such file") from None
    except OSError as e:
        raise ClipEmbedError("bad_image", f"{path}: {' '.join(str(e).split())}") from None


def decode_clip(media: ClipMedia) -> DecodedClip:
    """The clip's audio (channels averaged) and every frame, each file read once (its bytes also
    hashed: ``sha256``); ClipEmbedError for a missing or bad file."""
    if media.audio is None:
        raise ClipEmbedError("no_media", "the index line names no audio file")
    h = hashlib.sha256()
    data = _read(media.audio)
    h.update(data + b"\0")
    try:
        samples, rate = decode_audio_bytes(data, str(media.audio))
    except MediaError as e:
        raise ClipEmbedError(e.code, e.message) from None
    frames = []
    for path in media.frames:
        blob = _read(path)
        h.update(blob + b"\0")
        frames.append(decode_frame(path, blob))
    mono = samples.mean(axis=0) if samples.ndim == 2 else samples
    return DecodedClip(np.ascontiguousarray(mono, dtype=np.float32), int(rate), frames, h.digest())


def _mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(hz / 700.0)


def band_energies(audio: np.ndarray, rate: int) -> np.ndarray:
    """(frames, BANDS) power in mel-spaced bands with fixed edges in Hz, non-overlapping frames."""
    n = max(16, 1 << round(math.log2(max(16.0, FRAME_SECONDS * rate))))
    frames = len(audio) // n
    if frames == 0:
        return np.zeros((0, BANDS), dtype=np.float64)
    spec = np.abs(np.fft.rfft(audio[:frames * n].reshape(frames, n) * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    edges = 700.0 * np.expm1(np.linspace(_mel(np.array(LOW_HZ)), _mel(np.array(HIGH_HZ)), BANDS + 1) / 1127.0)
    band = np.searchsorted(edges, freqs, side="right") - 1
    ok = (band >= 0) & (band < BANDS)
    out = np.zeros((frames, BANDS), dtype=np.float64)
    np.add.at(out.T, band[ok], spec[:, ok].T)
    return out


def _standardised(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64).ravel()
    x = x - x.mean()
    s = float(np.linalg.norm(x))
    return x / s if s > 1e-9 * math.sqrt(x.size) else np.zeros_like(x)


def audio_part(audio: np.ndarray, rate: int) -> np.ndarray:
    """The audio block: log band energies of the clip's eighths, centred, unit length."""
    energies = band_energies(audio, rate)
    if len(energies) < STEPS or float(np.abs(audio).max(initial=0.0)) == 0.0:
        return np.zeros(AUDIO_DIM)
    steps = np.stack([q.mean(axis=0) for q in np.array_split(energies, STEPS)])
    return _standardised(np.log10(steps + 1e-10))


def _dct_matrix(n: int, k: int) -> np.ndarray:
    """The first ``k`` rows of the orthonormal DCT-II matrix of size ``n``."""
    x = np.arange(n)
    m = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * x[None, :] + 1) * np.arange(k)[:, None] / (2 * n))
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(GREY, DCT)


def image_part(frames: list[np.ndarray]) -> np.ndarray:
    """The image block: the low DCT coefficients of every frame (up to four, the last repeated)."""
    if not frames:
        return np.zeros(IMAGE_DIM)
    picked = [frames[min(i, len(frames) - 1)] for i in range(FRAMES)] if len(frames) <= FRAMES else \
        [frames[round(i * (len(frames) - 1) / (FRAMES - 1))] for i in range(FRAMES)]
    coeffs = []
    for f in picked:
        grey = np.asarray(Image.fromarray(f).convert("L").resize((GREY, GREY), Image.Resampling.BOX), dtype=np.float64)
        coeffs.append((_DCT @ grey @ _DCT.T).ravel()[1:])
    return _standardised(np.concatenate(coeffs))


def fingerprint_vector(clip: DecodedClip) -> np.ndarray:
    """The fingerprint of a decoded clip (float32, unit length unless both blocks are empty)."""
    return (np.concatenate([audio_part(clip.audio, clip.rate), image_part(clip.frames)]) / math.sqrt(2.0)
            ).astype(np.float32)


@register_embedder("fingerprint")
@dataclass
class FingerprintEmbedder:
    """Band energies per eighth + low DCT coefficients per frame: finds re-encodes of one video."""

    name: str = field(default="fingerprint", init=False)
    dim: int = field(default=DIM, init=False)
    joint_space: bool = field(default=False, init=False)

    def fingerprint(self) -> str:
        return fingerprint_of(self.name, {"bands": BANDS, "steps": STEPS, "dct": DCT, "grey": GREY, "frames": FRAMES,
                                          "hz": (LOW_HZ, HIGH_HZ), "frame_seconds": FRAME_SECONDS, "version": VERSION})

    def embed(self, media: ClipMedia) -> Embedding:
        clip = decode_clip(media)
        a, i = audio_part(clip.audio, clip.rate), image_part(clip.frames)
        return Embedding(vector=(np.concatenate([a, i]) / math.sqrt(2.0)).astype(np.float32),
                         audio=a.astype(np.float32), image=i.astype(np.float32))
