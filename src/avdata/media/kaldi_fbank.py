"""Kaldi's log-mel filterbank, vectorised with numpy: the same numbers as ``media.features.fbank``
(kaldi-native-fbank) to about 1e-4, 10-20x faster on long clips (one batched FFT instead of a
frame-by-frame loop). Used where throughput matters (the ``signal`` embedder); the ``aclip_128``
features and the ``vipant`` embedder keep kaldi-native-fbank as the reference.

Steps, as Kaldi (``FbankComputer`` with ``FBANK`` parameters): frames of ``int(rate * 25 ms)``
samples every ``int(rate * 10 ms)`` (snip_edges), per-frame DC removal, pre-emphasis 0.97
(``x[0] -= 0.97 x[0]``), Hann window ``0.5 - 0.5 cos(2 pi n / (N - 1))``, zero-padding to the next
power of two, power spectrum, HTK-mel triangular banks between ``low_freq`` and Nyquist (the
Nyquist bin excluded), ``log(max(e, float32 eps))``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avdata.errors import MediaError
from avdata.media.features import FBANK, FBANK_RATE_TOO_LOW, FbankParams


def _mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@lru_cache(maxsize=16)
def mel_banks(sample_rate: int, padded: int, num_bins: int, low: float, high: float) -> np.ndarray:
    """Kaldi's triangular mel weights: float64 (num_bins, padded // 2)."""
    nyquist = sample_rate / 2.0
    high = high if high > 0 else nyquist + high
    mel_low, mel_high = _mel(low), _mel(high)
    delta = (mel_high - mel_low) / (num_bins + 1)
    mels = _mel(np.arange(padded // 2) * (sample_rate / padded))
    left = mel_low + delta * np.arange(num_bins)[:, None]
    centre, right = left + delta, left + 2 * delta
    up = (mels[None, :] - left) / (centre - left)
    down = (right - mels[None, :]) / (right - centre)
    w = np.where(mels[None, :] <= centre, up, down)
    w = np.where((mels[None, :] > left) & (mels[None, :] < right), w, 0.0)
    if np.any(w.sum(1) == 0):
        raise MediaError(FBANK_RATE_TOO_LOW, f"{num_bins} mel bins need a higher sample rate than {sample_rate} Hz")
    return w


def fast_fbank(samples: np.ndarray, sample_rate: int, params: FbankParams = FBANK) -> np.ndarray:
    """Log-mel filterbank of a mono float signal in [-1, 1]: float32 (frames, num_mel_bins)."""
    x = np.asarray(samples, dtype=np.float64)
    win = int(sample_rate * params.frame_length_ms / 1000)
    shift = int(sample_rate * params.frame_shift_ms / 1000)
    n = params.frame_count(x.size, sample_rate)
    if n == 0:
        return np.zeros((0, params.num_mel_bins), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::shift][:n].copy()
    if params.remove_dc_offset:
        frames -= frames.mean(axis=1, keepdims=True)
    if params.preemph_coeff:
        frames[:, 1:] -= params.preemph_coeff * frames[:, :-1].copy()
        frames[:, 0] *= 1.0 - params.preemph_coeff
    frames *= 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))
    padded = 1 << (win - 1).bit_length()
    power = np.abs(np.fft.rfft(frames, n=padded, axis=1)[:, : padded // 2]) ** 2
    banks = mel_banks(sample_rate, padded, params.num_mel_bins, params.low_freq, params.high_freq)
    energies = power @ banks.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps)).astype(np.float32)
