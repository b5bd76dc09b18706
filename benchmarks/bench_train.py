"""Benchmark of ``avdata train``: clips per second per epoch, and how long the loop waits for data.

Two parts, both printed beside a baseline measured in the same run:

1. **Epochs** on ``--clips`` prepared clips (default 10,000: inputs rows of random values written
   straight into a float16 memmap, exactly the layout ``avdata train`` prepares, so the epoch time
   does not depend on a media corpus). Baseline: the model's training step alone on tensors already
   in memory (the compute floor). Figure: the real loop (batches gathered from the memmap by the
   background thread) in clips/s, its share of time blocked waiting for data, and one epoch's time.
   On a GPU when torch sees one (``--device auto``), and always on the CPU with ``--threads``.
2. **Input preparation** (the first pass of ``avdata train``: decode, fbank, frames, pooling) on
   ``--media-clips`` real 10 s clips (MP3 + 4 JPEGs), ``--workers`` processes, beside the ``signal``
   embedder's ``avdata embed`` on the same clips (the same decoding and the same stage).

Run: python benchmarks/bench_train.py [--clips 10000] [--media-clips 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "train"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from avdata.train.inputs import AUDIO_SIZE, DIM, FRAME_SIZE, HEADER, MAX_AUDIO_ROWS  # noqa: E402
from avdata.train.loop import TrainData, run_epochs  # noqa: E402
from avdata.train.model import build_model, parameter_count  # noqa: E402
from avdata.train.pairs import TrainClip  # noqa: E402


def synthetic_inputs(path: Path, clips: int, seed: int = 0) -> np.ndarray:
    """A float16 inputs matrix of ``clips`` rows: 10 s of audio and 4 frames each, random values."""
    rng = np.random.default_rng(seed)
    m = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(clips, DIM))
    block = 512
    for s in range(0, clips, block):
        n = min(block, clips - s)
        rows = rng.standard_normal((n, DIM), dtype=np.float32) * 0.5
        rows[:, :HEADER] = [MAX_AUDIO_ROWS, 4, 0, 1, 2, 3, 0.0, 0.1]
        m[s:s + n] = rows
    m.flush()
    return np.load(path, mmap_mode="r")


def train_data(matrix: np.ndarray, window: int) -> TrainData:
    times = (0.0, 10 / 3, 20 / 3)           # the 4th frame (10.0 s) lies past 499 rows of audio
    clips = [TrainClip(0, i, f"v{i}", MAX_AUDIO_ROWS, (0, 1, 2), times) for i in range(len(matrix))]
    return TrainData([matrix], clips, [], window)


def floor(model: torch.nn.Module, device: torch.device, batch: int, window: int, steps: int) -> float:
    """Clips/s of the training step alone on tensors already on the device."""
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    audio = torch.randn(batch, 1, window, 64, device=device)
    image = torch.randn(batch, 3, 56, 56, device=device)

    def run(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            loss = model.loss(*model(audio, image))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    run(2)                                  # warm-up
    return steps * batch / run(steps)


def bench_epochs(matrix: np.ndarray, device: torch.device, batch: int, window: int) -> None:
    torch.manual_seed(0)
    model = build_model(128).to(device)
    base = floor(model, device, batch, window, steps=max(5, min(40, len(matrix) // batch)))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    history: list = []
    run_epochs(model, opt, train_data(matrix, window), epochs=1, start=0, batch_size=batch, seed=0,
               device=device, history=history, on_epoch=lambda e: None, show_progress=False)
    h = history[0]
    rate = h.clips / h.seconds
    print(f"  [{device.type}] compute floor (step on tensors in memory): {base:8.1f} clips/s")
    print(f"  [{device.type}] avdata train epoch (memmap -> batches -> step): {rate:8.1f} clips/s "
          f"({rate / base:.2f}x the floor); waiting for data {h.data_wait:.2f} s of {h.seconds:.1f} s "
          f"({100 * h.data_wait / h.seconds:.1f}%)")
    print(f"  [{device.type}] one epoch of {h.clips:,} clips: {h.seconds:.1f} s "
          f"(10,000 clips: {10_000 / rate:.0f} s)")


def bench_prepare(n: int, workers: int, tmp: Path) -> None:
    from train_corpus import small_corpus

    from avdata.embed.run import EmbedOptions, run_embed
    from avdata.train.options import TrainOptions
    from avdata.train.run import prepare_inputs

    corpus = small_corpus(tmp / "media_corpus", videos=n)
    t0 = time.perf_counter()
    run_embed(EmbedOptions(index=corpus.index, media=corpus.media, out=tmp / "signal", workers=workers,
                           progress=False))
    signal = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    prepare_inputs(TrainOptions(index=(str(corpus.index),), media=str(corpus.media), out=str(tmp / "train"),
                                workers=workers, progress=False), tmp / "train")
    prep = n / (time.perf_counter() - t0)
    print(f"  baseline: avdata embed --embedder signal on the same clips: {signal:6.1f} clips/s")
    print(f"  avdata train's input preparation ({workers} workers):      {prep:6.1f} clips/s "
          f"({prep / signal:.2f}x signal); 10,000 clips: {10_000 / prep:.0f} s, once")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=10_000)
    ap.add_argument("--media-clips", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads on the CPU")
    ap.add_argument("--audio-window", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    window = int(round(args.audio_window * 50))
    print(f"model: {parameter_count(build_model(128)):,} parameters (dim 128); batch {args.batch_size}, "
          f"audio window {args.audio_window:g} s; torch {torch.__version__}, {args.threads} CPU threads")
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        t0 = time.perf_counter()
        matrix = synthetic_inputs(tmp / "inputs.npy", args.clips)
        size = args.clips * DIM * 2 / 1e9
        print(f"epochs: {args.clips:,} prepared clips ({size:.2f} GB float16 memmap, "
              f"{AUDIO_SIZE + 4 * FRAME_SIZE:,} values a clip; written in {time.perf_counter() - t0:.1f} s)")
        bench_epochs(matrix, torch.device("cpu"), args.batch_size, window)
        if torch.cuda.is_available():
            bench_epochs(matrix, torch.device("cuda"), args.batch_size, window)
        else:
            print("  [cuda] no GPU here: torch sees none")
        print(f"input preparation: {args.media_clips} clips of 10 s (MP3 22.05 kHz + 4 JPEG frames)")
        bench_prepare(args.media_clips, args.workers, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
