"""Pre-encoded features of the VIP-ANT index: ``aclip_128`` (log-mel filterbank) and ``frame_224``.

Both are written the way VIP-ANT's loaders read them (``cvap/dataset/ast.py``, ``ASTNpz``):

``aclip_128`` -- ``{dir}/aclip_128/{id}.p0.npz``, one array under the key ``"flag"`` (VIP-ANT's
name), float32, shape (frames, 128): Kaldi-compatible log-mel filterbank computed by
kaldi-native-fbank on the **first channel** of the decoded clip at its **own sample rate** (VIP-ANT
loads the mp3 with ``torchaudio.load`` and passes its rate as ``sample_frequency``; no resampling),
samples as floats in [-1, 1] (as ``torchaudio.compliance.kaldi.fbank`` receives them; Kaldi's int16
scale would add 2*ln(32768) = 20.79 to every value). Parameters (``FBANK``):

    num_mel_bins 128, frame_length 25 ms, frame_shift 10 ms, window "hanning", dither 0,
    preemphasis 0.97, remove_dc_offset true, snip_edges true (frames = 1 + (n - win) // shift),
    round_to_power_of_two true, low_freq 20 Hz, high_freq 0 (= Nyquist), HTK mel scale
    (1127 ln(1 + f/700)), use_energy false, htk_compat true, log of power with floor eps.

With a 25 ms window, 128 mel bins need a sample rate of at least 22.05 kHz: below that some mel
bins hold no FFT bin and Kaldi (and kaldi-native-fbank) refuse; such clips get no ``aclip_128``
(MediaError code ``fbank_rate_too_low``). YouTube audio (44.1/48 kHz) is fine.

``frame_224`` -- ``{dir}/frame_224/{id}.p0.npz``, one array per frame under the keys ``"01"``,
``"02"``, ... (frame index, as in ``p0.4_01.jpg``), each float32 (3, 224, 224): the JPEG converted
to RGB, resized so that its shorter side is 224 (bicubic), centre-cropped to 224 x 224, scaled to
[0, 1] and normalised with CLIP's mean (0.48145466, 0.4578275, 0.40821073) and std (0.26862954,
0.26130258, 0.27577711) -- exactly VIP-ANT's image transform. A frame that could not be read is an
empty array, as in VIP-ANT. ``frame_224_to_rgb`` undoes the normalisation for viewing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
from PIL import Image

from avdata.atomic import atomic_path
from avdata.errors import MediaError
from avdata.media.inspect import decode_audio

AUDIO_KEY = "flag"
FBANK_RATE_TOO_LOW = "fbank_rate_too_low"
IMAGE_SIZE = 224
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


@dataclass(frozen=True)
class FbankParams:
    """Kaldi filterbank parameters (see the module docstring)."""

    num_mel_bins: int = 128
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window_type: str = "hanning"
    dither: float = 0.0
    preemph_coeff: float = 0.97
    remove_dc_offset: bool = True
    snip_edges: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0

    def frame_count(self, samples: int, sample_rate: int) -> int:
        """Frames Kaldi makes from ``samples`` with snip_edges: 1 + (n - window) // shift."""
        win = int(sample_rate * self.frame_length_ms / 1000)
        shift = int(sample_rate * self.frame_shift_ms / 1000)
        return 0 if samples < win else 1 + (samples - win) // shift


FBANK = FbankParams()


MIN_FBANK_RATE = 22050          # 128 mel bins with a 25 ms window need at least this rate


def rate_for_fbank(mono: np.ndarray, rate: int, min_rate: int = MIN_FBANK_RATE) -> tuple[np.ndarray, int]:
    """A mono signal below ``min_rate`` linearly resampled up to it (128 mel bins need 22.05 kHz;
    a 16 kHz render holds nothing above 8 kHz, so the top bins stay near silent); else unchanged.
    Embedders use it so that clips rendered at 16 kHz can be embedded and scored."""
    if rate >= min_rate:
        return mono, rate
    n = int(round(mono.size * min_rate / rate))
    up = np.interp(np.arange(n) * (rate / min_rate), np.arange(mono.size), mono).astype(np.float32)
    return up, min_rate


def fbank(samples: np.ndarray, sample_rate: int, params: FbankParams = FBANK) -> np.ndarray:
    """Log-mel filterbank of a mono float signal in [-1, 1]: float32 (frames, num_mel_bins)."""
    opts = knf.FbankOptions()
    fo = opts.frame_opts
    fo.samp_freq = float(sample_rate)
    fo.frame_length_ms = params.frame_length_ms
    fo.frame_shift_ms = params.frame_shift_ms
    fo.window_type = params.window_type
    fo.dither = params.dither
    fo.preemph_coeff = params.preemph_coeff
    fo.remove_dc_offset = params.remove_dc_offset
    fo.snip_edges = params.snip_edges
    fo.round_to_power_of_two = True
    mo = opts.mel_opts
    mo.num_bins = params.num_mel_bins
    mo.low_freq = params.low_freq
    mo.high_freq = params.high_freq
    mo.is_librosa = False
    opts.use_energy = False
    opts.htk_compat = True
    opts.use_log_fbank = True
    opts.use_power = True
    try:
        computer = knf.OnlineFbank(opts)
    except ValueError as e:  # Kaldi refuses mel bins that hold no FFT bin
        raise MediaError(FBANK_RATE_TOO_LOW, f"{params.num_mel_bins} mel bins need a higher sample rate "
                         f"than {sample_rate} Hz with a {params.frame_length_ms:g} ms window ({e})") from e
    computer.accept_waveform(float(sample_rate), np.ascontiguousarray(samples, dtype=np.float32))
    computer.input_finished()
    n = computer.num_frames_ready
    if n == 0:
        return np.zeros((0, params.num_mel_bins), dtype=np.float32)
    return np.stack([computer.get_frame(i) for i in range(n)]).astype(np.float32, copy=False)


def aclip_128(audio_path: str | os.PathLike[str], params: FbankParams = FBANK) -> np.ndarray:
    """The ``aclip_128`` array of an audio clip (first channel, its own rate). Raises MediaError."""
    audio, rate = decode_audio(audio_path)
    return fbank(audio[0], rate, params)


def write_aclip_128(audio_path: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> tuple[int, int]:
    """Write ``aclip_128`` of ``audio_path`` to ``out_path`` (.npz, key ``flag``) atomically.

    Returns the array's shape. Raises MediaError when the audio cannot be decoded.
    """
    feats = aclip_128(audio_path)
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{AUDIO_KEY: feats})  # type: ignore[arg-type]  # numpy's stub types the kwargs as allow_pickle
    return feats.shape


def frame_224(image_path: str | os.PathLike[str], size: int = IMAGE_SIZE) -> np.ndarray:
    """One frame as VIP-ANT's image transform makes it: float32 (3, size, size), CLIP-normalised."""
    with Image.open(image_path) as opened:
        img = opened.convert("RGB")
        w, h = img.size
        if w <= h:
            new_w, new_h = size, int(size * h / w)
        else:
            new_w, new_h = int(size * w / h), size
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
        left = int(round((new_w - size) / 2.0))
        top = int(round((new_h - size) / 2.0))
        img = img.crop((left, top, left + size, top + size))
        rgb = np.asarray(img, dtype=np.float32) / 255.0
    chw = ((rgb - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)
    return np.ascontiguousarray(chw, dtype=np.float32)


def frame_224_to_rgb(array: np.ndarray) -> np.ndarray:
    """Undo the normalisation of a ``frame_224`` array: uint8 (224, 224, 3)."""
    rgb = array.transpose(1, 2, 0) * CLIP_STD + CLIP_MEAN
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def write_frame_224(frames: Sequence[tuple[int, str | os.PathLike[str] | None]],
                    out_path: str | os.PathLike[str]) -> int:
    """Write ``frame_224`` for ``(frame_index, jpeg path or None)`` pairs to one .npz atomically.

    Keys are ``f"{frame_index:02d}"``; a frame that is None or does not decode is an empty array.
    Returns how many frames were encoded.
    """
    arrays: dict[str, np.ndarray] = {}
    made = 0
    for index, path in frames:
        key = f"{index:02d}"
        arrays[key] = np.array([], dtype=np.float32)
        if path is None:
            continue
        try:
            arrays[key] = frame_224(path)
            made += 1
        except (OSError, ValueError, SyntaxError):
            continue
    with atomic_path(Path(out_path)) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: see above
    return made
