"""Synthetic test media whose bytes tell the time, for tests, benchmarks and the demo.

- Audio: a tone whose frequency steps every second (``tone_hz(t)``), plus a short click every
  ``CLICK_PERIOD`` seconds; ``reference_audio`` gives the exact signal for any sample range, so a
  test can locate an extracted clip in the source to the sample by correlation.
- Video: every frame shows its own presentation time in milliseconds as ``TIME_BITS`` black/white
  blocks (robust to JPEG and resizing); ``read_frame_time_ms`` reads it back from an RGB array.
  Variable frame rate is supported (frames at irregular times).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TIME_BITS = 24              # frame time in ms: up to 16777 s
GRID_COLS, GRID_ROWS = 6, 4  # 24 blocks in the top two thirds of the frame
CLICK_PERIOD = 0.5          # seconds between clicks
CLICK_SECONDS = 0.002


def tone_hz(t: np.ndarray | float) -> np.ndarray:
    """Tone frequency at time ``t``: 300 Hz + 40 Hz per second, cycling every 40 s (300..1860 Hz)."""
    return 300.0 + 40.0 * (np.floor(t) % 40)


def reference_audio(start_sample: int, n: int, rate: int, channels: int = 1) -> np.ndarray:
    """The synthetic signal for samples ``[start_sample, start_sample + n)``: float32 (channels, n).

    The phase is continuous across frequency steps (computed by integrating the frequency).
    Channel c is the same signal scaled by ``1 - 0.25 * c`` so channels stay distinguishable.
    """
    idx = np.arange(start_sample, start_sample + n, dtype=np.float64)
    t = idx / rate
    sec = np.floor(t)
    # phase = 2*pi * (sum of full seconds at their frequencies + fraction at the current one)
    k = sec % 40
    cycles = sec // 40
    full_cycle = sum(300.0 + 40.0 * j for j in range(40))
    before = cycles * full_cycle + (300.0 * k + 40.0 * k * (k - 1) / 2)
    phase = 2 * np.pi * (before + tone_hz(t) * (t - sec))
    signal = 0.3 * np.sin(phase)
    in_click = (t % CLICK_PERIOD) < CLICK_SECONDS
    signal = np.where(in_click, 0.9 * np.sign(np.sin(2 * np.pi * 2000 * t) + 1e-9), signal)
    out = np.stack([signal * (1 - 0.25 * c) for c in range(channels)]).astype(np.float32)
    return out


def draw_time_frame(time_ms: int, width: int, height: int) -> np.ndarray:
    """An RGB frame (height, width, 3) showing ``time_ms`` as blocks; background colour varies too."""
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = ((time_ms // 40) % 200 + 30, 90, 160)
    bh = (height * 2 // 3) // GRID_ROWS
    bw = width // GRID_COLS
    for bit in range(TIME_BITS):
        r, c = divmod(bit, GRID_COLS)
        on = (time_ms >> bit) & 1
        img[r * bh:(r + 1) * bh, c * bw:(c + 1) * bw] = 255 if on else 0
    return img


def read_frame_time_ms(rgb: np.ndarray) -> int:
    """Read the time written by ``draw_time_frame`` from a decoded RGB frame (any size)."""
    height, width = rgb.shape[:2]
    gray = rgb.astype(np.float32).mean(axis=2)
    bh = (height * 2 // 3) // GRID_ROWS
    bw = width // GRID_COLS
    value = 0
    for bit in range(TIME_BITS):
        r, c = divmod(bit, GRID_COLS)
        block = gray[r * bh + bh // 4:(r + 1) * bh - bh // 4, c * bw + bw // 4:(c + 1) * bw - bw // 4]
        if block.mean() > 128:
            value |= 1 << bit
    return value


def seeded_audio(start_sample: int, n: int, rate: int, channels: int, seed: int) -> np.ndarray:
    """Another video's sound (``seed`` > 0): two tones, one vibrato and one tremolo, at frequencies
    and rates drawn from ``seed``; a function of the sample index only (any chunking gives the same)."""
    rng = np.random.default_rng(seed)
    f1, f2 = rng.uniform(200, 900), rng.uniform(1200, 4000)
    trem, vib, depth = rng.uniform(0.3, 3.0), rng.uniform(0.5, 5.0), rng.uniform(5, 60)
    t = np.arange(start_sample, start_sample + n, dtype=np.float64) / rate
    signal = (0.3 * np.sin(2 * np.pi * f1 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * trem * t))
              + 0.2 * np.sin(2 * np.pi * f2 * t + depth / vib * np.sin(2 * np.pi * vib * t)))
    return np.stack([signal * (1 - 0.25 * c) for c in range(channels)]).astype(np.float32)


def draw_seeded_frame(time_ms: int, width: int, height: int, seed: int) -> np.ndarray:
    """Another video's picture (``seed`` > 0): broad stripes of a colour, period, angle and speed
    drawn from ``seed``, moving with ``time_ms``, and a disc drifting across them."""
    rng = np.random.default_rng(seed)
    colour, back, disc = rng.integers(40, 255, 3), rng.integers(0, 120, 3), rng.integers(0, 255, 3)
    period, angle, speed = rng.uniform(0.3, 0.8) * width, rng.uniform(0, np.pi), rng.uniform(0.05, 0.3)
    x0, y0, drift = rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.7), rng.uniform(0.02, 0.06)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period + speed * time_ms / 1000.0   # all relative to
    # the frame's size, so that the same seed at another size is the same picture
    img = np.where(((phase % 1.0) < 0.5)[..., None], colour, back)
    cx, cy = ((x0 + drift * time_ms / 1000.0) % 1.0) * width, y0 * height
    img[np.hypot(xx - cx, yy - cy) < height * 0.22] = disc
    return img.astype(np.uint8)


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. ``keyint_seconds`` sets the keyframe spacing (closed GOPs). ``seed`` > 0
    draws another video's sound and picture (``seeded_audio``, ``draw_seeded_frame``) instead of
    the time-coded reference; ``still``: one picture throughout; ``silent``: digital silence."""

    duration: float = 12.0
    width: int = 320
    height: int = 180
    fps: int = 25
    video_codec: str | None = "libx264"   # None: no video stream
    audio_codec: str | None = "aac"       # None: no audio stream
    sample_rate: int = 44100
    channels: int = 2
    keyint_seconds: float = 2.0
    vfr: bool = False                     # irregular frame times (mp4/mkv)
    audio_bitrate: int = 128_000
    seed: int = 0
    still: bool = False
    silent: bool = False


_FAST_VIDEO_OPTIONS = {
    "libx264": {"preset": "ultrafast", "tune": "zerolatency"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
}


def vfr_frame_times(duration: float, fps: int) -> list[float]:
    """Irregular frame times: alternating gaps of 0.5/fps and 1.5/fps, plus a 0.3 s hole each 3 s."""
    times, t, i = [], 0.0, 0
    step = 1.0 / fps
    while t < duration - 1e-9:
        times.append(round(t, 3))
        t += step * (0.5 if i % 2 == 0 else 1.5)
        if int(t) % 3 == 2 and (t - int(t)) < step:
            t += 0.3
        i += 1
    return times


def make_video(path: str | os.PathLike[str], spec: SynthSpec = SynthSpec()) -> Path:
    """Write a synthetic media file (container from the extension: .mp4, .mkv, .webm, .mov, .m4a...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        vstream = astream = None
        if spec.video_codec:
            vstream = container.add_stream(spec.video_codec, rate=spec.fps)
            vstream.width, vstream.height = spec.width, spec.height
            vstream.pix_fmt = "yuv420p"
            keyint = max(1, int(round(spec.keyint_seconds * spec.fps)))
            opts = dict(_FAST_VIDEO_OPTIONS.get(spec.video_codec, {}))
            opts.update({"g": str(keyint), "keyint_min": str(keyint), "sc_threshold": "0"})
            vstream.options = opts
            vstream.codec_context.gop_size = keyint
            if spec.vfr:
                vstream.codec_context.time_base = Fraction(1, 1000)
        if spec.audio_codec:
            astream = container.add_stream(spec.audio_codec, rate=spec.sample_rate)
            astream.layout = "stereo" if spec.channels == 2 else "mono"
            astream.bit_rate = spec.audio_bitrate
            if spec.audio_codec == "aac":
                astream.options = {"aac_coder": "fast"}   # the default two-loop search is ~5x slower

        frame_times = (vfr_frame_times(spec.duration, spec.fps) if spec.vfr
                       else [i / spec.fps for i in range(int(round(spec.duration * spec.fps)))])
        total_samples = int(round(spec.duration * spec.sample_rate))
        chunk = 1024
        next_sample = 0

        def push_audio(until_sample: int) -> None:
            nonlocal next_sample
            while astream is not None and next_sample < min(until_sample, total_samples):
                n = min(chunk, total_samples - next_sample)
                if spec.silent:
                    data = np.zeros((spec.channels, n), dtype=np.float32)
                elif spec.seed:
                    data = seeded_audio(next_sample, n, spec.sample_rate, spec.channels, spec.seed)
                else:
                    data = reference_audio(next_sample, n, spec.sample_rate, spec.channels)
                frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=astream.layout.name)
                frame.sample_rate = spec.sample_rate
                frame.pts = next_sample
                frame.time_base = Fraction(1, spec.sample_rate)
                for packet in astream.encode(frame):
                    container.mux(packet)
                next_sample += n

        if vstream is not None:
            for t in frame_times:
                push_audio(int(round((t + 0.5) * spec.sample_rate)))
                ms = int(round(t * 1000))
                shown = 0 if spec.still else ms
                picture = (draw_seeded_frame(shown, spec.width, spec.height, spec.seed) if spec.seed
                           else draw_time_frame(shown, spec.width, spec.height))
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                if spec.vfr:
                    frame.pts = ms
                    frame.time_base = Fraction(1, 1000)
                else:
                    frame.pts = int(round(t * spec.fps))
                    frame.time_base = Fraction(1, spec.fps)
                for packet in vstream.encode(frame):
                    container.mux(packet)
            for packet in vstream.encode():
                container.mux(packet)
        push_audio(total_samples)
        if astream is not None:
            for packet in astream.encode():
                container.mux(packet)
    return path


def truncate_file(path: str | os.PathLike[str], keep_fraction: float) -> Path:
    """Cut a file to ``keep_fraction`` of its bytes (a download that died half way)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path
