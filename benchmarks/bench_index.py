"""Benchmark of the index stage: index + weights + report, printing seconds and peak memory.

1. ``--segments`` (default 2,000,000) synthetic segments without media checks: AudioSet-like splits
   (98 % unbalanced, 1 % balanced, 1 % eval), label sets drawn from the real balanced-train CSV,
   1 % of clips failed in extraction.
2. ``--media-segments`` (default 20,000) segments with media checks (every MP3 and JPEG decoded):
   a few real 10 s MP3s (44.1 kHz stereo) and JPEG frames, hard-linked under every segment's name.

Each stage runs in a fresh process; peak memory is that process's VmHWM (plus, for the index
stage with media checks, the largest worker's ru_maxrss, an upper bound: it includes what the
worker inherited at fork). ``--keep DIR`` keeps the outputs and reuses same-size inputs. Run: python benchmarks/bench_index.py
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from avdata.atomic import atomic_path  # noqa: E402
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA  # noqa: E402
from avdata.table import conform, write_clips  # noqa: E402

CSV = ROOT / "tests" / "data" / "balanced_train_segments.csv"
CHUNK = 35000


def real_label_sets() -> list[list[str]]:
    with open(CSV, newline="", encoding="utf-8") as fh:
        rows = csv.reader((line for line in fh if not line.startswith("#")), skipinitialspace=True)
        return [r[3].split(",") for r in rows]


def make_inputs(root: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """A clip table and an extraction manifest (one p0 row per segment) for ``n`` segments."""
    rng = np.random.default_rng(seed)
    label_sets = real_label_sets()
    ids = [f"s{i:010d}" for i in range(n)]
    n_eval = n_bal = max(1, n // 100)
    splits = ["eval"] * n_eval + ["balanced_train"] * n_bal + ["unbalanced_train"] * (n - n_eval - n_bal)
    starts = rng.integers(0, 300, n).astype(np.float64)
    picks = rng.integers(0, len(label_sets), n)
    clips = pa.table({
        "clip_id": ids, "source": ids, "source_kind": ["youtube"] * n, "start": starts, "end": starts + 10.0,
        "labels": [label_sets[k] for k in picks], "captions": pa.array([[]] * n, pa.list_(pa.string())),
        "dataset": ["audioset"] * n, "split": splits, "origin_file": ["bench.csv"] * n,
        "origin_line": np.arange(4, n + 4, dtype=np.int64),
    })
    clips_path = root / "clips.parquet"
    write_clips(conform(clips), clips_path)
    dirs = [f"all_{(i // CHUNK) * CHUNK}_{(i // CHUNK + 1) * CHUNK}" for i in range(n)]
    failed = rng.random(n) < 0.01
    manifest = pa.table({
        "clip_id": ids, "clip": ["p0"] * n, "dir": dirs, "source": ids, "start": starts, "end": starts + 10,
        "audio_file": [f"{d}/aclip/{i}.p0.mp3" for d, i in zip(dirs, ids)],
        "audio_samples": np.full(n, 441000, dtype=np.int64), "sample_rate": np.full(n, 44100, np.int32),
        "channels": np.full(n, 2, np.int32),
        "frame_files": [[f"{d}/frame/{i}.p0.4_{k:02d}.jpg" for k in range(1, 5)] for d, i in zip(dirs, ids)],
        "frame_times": [[0.0, 3.333, 6.667, 10.0]] * n,
        "status": np.where(failed, "missing_video", "ok"), "message": [""] * n, "seconds": np.zeros(n),
    }, schema=EXTRACT_MANIFEST_SCHEMA)
    manifest_dir = root / "extract_manifest.parquet"
    with atomic_path(manifest_dir / "part-00000000000000000000-bench00-000000.parquet") as tmp:
        pq.write_table(manifest, tmp)
    return clips_path, manifest_dir


def reuse_or_make(root: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """Inputs kept by an earlier ``--keep`` run of the same size, else new ones."""
    clips, manifest = root / "clips.parquet", root / "extract_manifest.parquet"
    if clips.exists() and manifest.exists() and pq.ParquetFile(clips).metadata.num_rows == n:
        return clips, manifest
    return make_inputs(root, n, seed)


def write_real_media(real: Path, count: int = 4) -> list[tuple[Path, list[Path]]]:
    """A few real 10 s MP3s (44.1 kHz stereo) and 4 JPEG frames each, from the synthetic signal."""
    import av
    from PIL import Image

    from avdata.media.synth import draw_time_frame, reference_audio

    real.mkdir(parents=True, exist_ok=True)
    out = []
    for j in range(count):
        mp3 = real / f"r{j}.mp3"
        with av.open(str(mp3), "w") as c:
            s = c.add_stream("libmp3lame", rate=44100)
            s.layout = "stereo"
            first, n, pos = j * 10 * 44100, 10 * 44100, 0
            while pos < n:
                k = min(1152, n - pos)
                fr = av.AudioFrame.from_ndarray(reference_audio(first + pos, k, 44100, 2), format="fltp",
                                                layout="stereo")
                fr.sample_rate, fr.pts, fr.time_base = 44100, pos, Fraction(1, 44100)
                for p in s.encode(fr):
                    c.mux(p)
                pos += k
            for p in s.encode():
                c.mux(p)
        frames = []
        for k in range(4):
            jpg = real / f"r{j}.{k}.jpg"
            Image.fromarray(draw_time_frame(j * 10000 + k * 3333, 320, 240)).save(jpg, quality=90)
            frames.append(jpg)
        out.append((mp3, frames))
    return out


def link_media(media: Path, manifest_dir: Path, real: list[tuple[Path, list[Path]]]) -> None:
    table = pq.read_table(manifest_dir)
    for i, (audio, frames) in enumerate(zip(table.column("audio_file").to_pylist(),
                                             table.column("frame_files").to_pylist())):
        src_audio, src_frames = real[i % len(real)]
        (media / audio).parent.mkdir(parents=True, exist_ok=True)
        (media / frames[0]).parent.mkdir(parents=True, exist_ok=True)
        os.link(src_audio, media / audio)
        for src, dst in zip(src_frames, frames):
            os.link(src, media / dst)


def _vm_hwm_mb() -> float:
    """This process's peak RSS (VmHWM is per address space: unlike ru_maxrss it does not inherit
    the parent's peak across fork + exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stage(name: str, args: dict, queue: mp.Queue) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from avdata.index.build import IndexOptions, build_index
    from avdata.index.report import ReportOptions, build_report
    from avdata.weights import WeightsOptions, write_weights

    t = time.perf_counter()
    note = ""
    if name == "index":
        res = build_index(IndexOptions(**args))
        note = (f"{sum(res.listed.values()):,} listed, {sum(res.excluded.values()):,} excluded "
                f"{dict(res.excluded)}; split line {res.combined.split_line if res.combined else '-'}")
    elif name == "weights":
        res = write_weights(WeightsOptions(**args))
        note = f"{res.lines:,} weights"
    else:
        res = build_report(ReportOptions(**args))
        note = f"{len(res.plots)} plots"
    seconds = time.perf_counter() - t
    self_mb = _vm_hwm_mb()
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    queue.put((seconds, self_mb, child_mb, note))


def run_stage(name: str, **args: object) -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_stage, args=(name, args, q))
    p.start()
    seconds, self_mb, child_mb, note = q.get()
    p.join()
    workers = f" (largest worker {child_mb:,.0f} MB)" if child_mb > 1 else ""
    print(f"  {name:8s} {seconds:8.1f} s   peak RSS {self_mb:7,.0f} MB{workers}   {note}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=2_000_000)
    ap.add_argument("--media-segments", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="Work here and keep the outputs.")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_index_"))
    try:
        if args.segments:
            base = root / "no_media_check"
            base.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            clips, manifest = reuse_or_make(base, args.segments)
            print(f"{args.segments:,} synthetic segments, no media checks "
                  f"(inputs made in {time.perf_counter() - t:.1f} s):", flush=True)
            out = base / "index"
            run_stage("index", clips=str(clips), manifest=str(manifest), media=str(base), out=str(out),
                      check_media=False, progress=False)
            run_stage("weights", index=str(out / "src_train_segments.csv"))
            run_stage("report", index=str(out / "src_train_segments.csv"), out=str(out / "report"), gallery=0)
        if args.media_segments:
            base = root / "media_check"
            base.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            media = base / "media"
            if (base / "clips.parquet").exists() and media.exists():
                clips, manifest = reuse_or_make(base, args.media_segments, seed=1)
            else:
                clips, manifest = make_inputs(base, args.media_segments, seed=1)
                link_media(media, manifest, write_real_media(media / "_real"))
            print(f"{args.media_segments:,} segments with media checks, {os.cpu_count()} cores "
                  f"(inputs and links made in {time.perf_counter() - t:.1f} s):", flush=True)
            out = base / "index"
            run_stage("index", clips=str(clips), manifest=str(manifest), media=str(media), out=str(out),
                      check_media=True, workers=args.workers, progress=False)
            run_stage("weights", index=str(out / "src_train_segments.csv"))
            run_stage("report", index=str(out / "src_train_segments.csv"), out=str(out / "report"))
        print(f"outputs in {root}" if args.keep else "")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
