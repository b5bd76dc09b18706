"""Measure the ``signal`` embedder's standardisation statistics on a generated reference corpus.

    PYTHONPATH=src python tools/signal_stats.py [--clips 400] [--seed 0] [-o src/avdata/embed/signal_stats.json]

The statistics ship with avdata (``src/avdata/embed/signal_stats.json``) and their SHA-256 is part
of the embedder's fingerprint: change them only on purpose (embeddings made before no longer
compare with new ones, and ``avdata embed``/``balance`` refuse to mix them).

Recipe (deterministic for a seed): ``--clips`` clips, each 4 s of 44.1 kHz audio and 2 frames of
96x72 px. Audio is a random mix (random amplitudes) of 1-3 of: steady tones with harmonics, linear
chirps, white or low-passed noise, click trains, amplitude-modulated tones; frames are random solid
colours, stripes of random orientation and period, checkerboards, gradients, noise and blobs, in
random colours. Per dimension: the mean and standard deviation (floored at 1e-3) of the blocks of
``avdata.embed.signal`` computed through the same code paths (``media.kaldi_fbank.fast_fbank``, the JPEG
round trip at quality 90, ``signal.load_frame``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from avdata.atomic import write_text_atomic  # noqa: E402
from avdata.embed.signal import (AUDIO_BLOCKS, FEATURE_VERSION, IMAGE_BLOCKS, analysis_frames, audio_blocks,  # noqa: E402
                                 image_blocks, load_frame)
from avdata.media.features import FBANK  # noqa: E402
from avdata.media.kaldi_fbank import fast_fbank as fbank  # noqa: E402

RATE = 44100
SECONDS = 4.0
W, H = 96, 72


def random_audio(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(RATE * SECONDS)) / RATE
    out = np.zeros_like(t)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 5))
        amp = float(rng.uniform(0.02, 0.4))
        if kind == 0:
            f0 = rng.uniform(80, 4000)
            s = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, int(rng.integers(1, 5)) + 1))
        elif kind == 1:
            f0, f1 = rng.uniform(100, 8000, size=2)
            s = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * SECONDS)))
        elif kind == 2:
            s = rng.standard_normal(t.size)
            if rng.random() < 0.5:
                k = int(rng.integers(2, 40))
                s = np.convolve(s, np.ones(k) / np.sqrt(k), mode="same")
        elif kind == 3:
            s = np.zeros_like(t)
            period = int(RATE / rng.uniform(1, 30))
            s[::period] = 1.0
            s = np.convolve(s, np.hanning(int(rng.integers(8, 200))), mode="same")
        else:
            s = np.sin(2 * np.pi * rng.uniform(100, 3000) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 12) * t))
        out += amp * s / (np.abs(s).max() + 1e-9)
    return np.clip(out, -1, 1).astype(np.float32)


def random_image(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    c1, c2 = rng.integers(0, 256, size=(2, 3))
    kind = int(rng.integers(0, 6))
    if kind == 0:
        m = np.zeros((H, W))
    elif kind == 1:
        theta, period = rng.uniform(0, np.pi), rng.uniform(4, 30)
        m = (np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period) > 0).astype(float)
    elif kind == 2:
        k = int(rng.integers(3, 20))
        m = (((xx // k) + (yy // k)) % 2).astype(float)
    elif kind == 3:
        m = (xx / W) if rng.random() < 0.5 else (yy / H)
    elif kind == 4:
        m = rng.random((H, W))
    else:
        cx, cy, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(5, 40)
        m = ((xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2).astype(float)
    img = c1[None, None, :] * (1 - m[..., None]) + c2[None, None, :] * m[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg_round_trip(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    buf.seek(0)
    return load_frame(buf)


def measure(clips: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {n: [] for n, _, _ in AUDIO_BLOCKS + IMAGE_BLOCKS}
    for _ in range(clips):
        audio = random_audio(rng)
        rows = analysis_frames(FBANK.frame_count(audio.size, RATE))
        for k, v in audio_blocks(fbank(audio, RATE, frames=rows)).items():
            values[k].append(v)
        frames = [image_blocks(jpeg_round_trip(random_image(rng))) for _ in range(2)]
        for k in frames[0]:
            values[k].append(np.mean([f[k] for f in frames], axis=0))
    blocks = {}
    for name, got in values.items():
        arr = np.stack(got)
        blocks[name] = {"mean": [round(float(x), 6) for x in arr.mean(0)],
                        "std": [round(float(x), 6) for x in np.maximum(arr.std(0), 1e-3)]}
    return {"version": FEATURE_VERSION, "recipe": f"tools/signal_stats.py --clips {clips} --seed {seed}", "blocks": blocks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default=str(Path(__file__).resolve().parents[1] / "src/avdata/embed/signal_stats.json"))
    args = ap.parse_args()
    stats = measure(args.clips, args.seed)
    write_text_atomic(args.out, json.dumps(stats, indent=1) + "\n")
    print(f"wrote {args.out} ({args.clips} clips, seed {args.seed})")


if __name__ == "__main__":
    main()
