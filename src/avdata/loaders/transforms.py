"""What VIP-ANT's training code computes from one clip, in numpy (no torchaudio/torchvision).

- ``fbank_input``: first channel, optional crop, mean removed, Kaldi fbank with exactly the index
  stage's ``aclip_128`` parameters (``avdata.media.features.FBANK``), cut or zero-padded to a target
  number of frames, normalised ``(x - mean) / std`` (VIP-ANT: -4.93839311 / 5.75751113).
- ``fit_frames``: the cut/pad/normalise step alone, for a stored ``aclip_128`` array.
- ``choose_frame``: a random frame in training (seeded per seed, epoch and line, so the choice does
  not depend on which worker or rank reads the line), the middle one ``ceil(n/2) - 1`` in evaluation.
- ``fixed_waveform``: first channel at a fixed rate, cut or zero-padded to a fixed length.

The image transform is ``avdata.media.features.frame_224`` (resize shorter side bicubic, centre crop,
CLIP mean/std, CHW float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avdata.errors import AvdataError
from avdata.media.encode import convert_audio
from avdata.media.features import FBANK, fbank

VIPANT_FBANK_MEAN = -4.93839311
VIPANT_FBANK_STD = 5.75751113


@dataclass(frozen=True)
class AudioInput:
    """How audio becomes model input (the dataset options carry one)."""

    target_frames: int = 1000
    mean: float = VIPANT_FBANK_MEAN
    std: float = VIPANT_FBANK_STD
    crop_seconds: float | None = None        # None: the whole clip (then cut/pad to target_frames)
    remove_mean: bool = True                 # VIP-ANT subtracts the waveform mean before the fbank
    waveform_rate: int = 16000               # for raw waveform output
    waveform_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.target_frames < 1 or self.std <= 0 or self.waveform_rate < 1 or self.waveform_seconds <= 0:
            raise AvdataError(f"bad audio input options: {self}")
        if self.crop_seconds is not None and self.crop_seconds <= 0:
            raise AvdataError(f"crop_seconds must be > 0; got {self.crop_seconds}")


def item_rng(seed: int, epoch: int, line: int, stream: int = 0) -> np.random.Generator:
    """The generator of one item's random choices: the same for a (seed, epoch, line) everywhere."""
    return np.random.default_rng([seed, epoch, line, stream])


def choose_frame(n: int, train: bool, rng: np.random.Generator | None) -> int:
    """Which of ``n`` frames to use: random in training, ``ceil(n/2) - 1`` in evaluation."""
    if n <= 0:
        raise AvdataError("no frame to choose from")
    if train and rng is not None:
        return int(rng.integers(n))
    return int(math.ceil(n / 2)) - 1


def crop(samples: np.ndarray, rate: int, seconds: float | None, train: bool,
         rng: np.random.Generator | None) -> np.ndarray:
    """A ``seconds`` window of a 1-D signal: random start in training, centred in evaluation."""
    if seconds is None:
        return samples
    n = int(round(seconds * rate))
    if len(samples) <= n:
        return samples
    spare = len(samples) - n
    start = int(rng.integers(spare + 1)) if (train and rng is not None) else spare // 2
    return samples[start:start + n]


def fit_frames(feats: np.ndarray, opts: AudioInput) -> np.ndarray:
    """Cut or zero-pad (frames, bins) to ``target_frames`` rows, then normalise; float32."""
    n = min(opts.target_frames, feats.shape[0])
    out = np.empty((opts.target_frames, feats.shape[1]), dtype=np.float32)
    np.subtract(feats[:n], opts.mean, out=out[:n], dtype=np.float32)     # one pass, no padded copy
    out[n:] = np.float32(0.0) - np.float32(opts.mean)
    out /= np.float32(opts.std)
    return out


def fbank_input(audio: np.ndarray, rate: int, opts: AudioInput, train: bool = False,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """(target_frames, 128) float32 from decoded (channels, n) audio, as VIP-ANT computes it."""
    wave = crop(audio[0], rate, opts.crop_seconds, train, rng)
    if opts.remove_mean:  # a no-op in exact arithmetic (Kaldi removes each frame's DC); float rounding only
        wave = wave - wave.mean(dtype=np.float64)
    return fit_frames(fbank(wave.astype(np.float32), rate, FBANK), opts)


def fixed_waveform(audio: np.ndarray, rate: int, opts: AudioInput, train: bool = False,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """First channel at ``waveform_rate``, cropped (see ``crop``), cut or padded to the fixed length."""
    wave = convert_audio(np.ascontiguousarray(audio[:1]), rate, opts.waveform_rate, 1)[0]
    wave = crop(wave, opts.waveform_rate, opts.crop_seconds, train, rng)
    n = int(round(opts.waveform_seconds * opts.waveform_rate))
    wave = wave[:n]
    if len(wave) < n:
        wave = np.pad(wave, (0, n - len(wave)))
    return wave.astype(np.float32, copy=False)
