"""Benchmark ``avdata render`` against one ffmpeg process per example, in one run.

Corpus: the extraction benchmark's synthetic videos (``bench_extract.py``: 640x360, 25 fps, H.264
with a keyframe every 5 s, AAC 44.1 kHz stereo; cached in benchmarks/_work/videos), by default
only its first ``--videos`` (the shortest; all 24 with ``--videos 24``). Lists: ``--clips`` 5 s
clips at seeded random starts (AudioScope layout) and as many MoM pairs (clip 1 and clip 2 from
different videos). Every method writes the same outputs per example: 16 kHz mono WAV and 5 JPEG
frames (q:v 2); MoMs: ``mix.wav``, ``source1.wav``, ``source2.wav`` and clip 1's 5 frames.

  baseline  what a user would script: one ``ffmpeg`` process per example (input seeking, the
            audio resampled to 16 kHz mono, ``fps=1`` frames; MoMs: two inputs, ``asplit`` and
            ``amix=normalize=0`` for the sum), ``--workers`` processes at a time
  avdata    ``avdata render --workers N`` (one open per video, clips close together decoded in one
            pass (``MediaReader.read_spans``), files, manifest, examples.jsonl)

Run: ``python benchmarks/bench_render.py`` (``--clips 500 --videos 24`` for the issue's size).
Prints examples/s and CPU seconds per example for each, and the ratios. CPU time is that of each
method's process tree (``getrusage(RUSAGE_CHILDREN)``). On a shared machine wall time depends on
the load (FFmpeg runs several threads per process, avdata one per worker); CPU per example does not.
Measured (2 cores, load average ~11 from other work; ``--clips 200 --videos 6``): baseline 0.123
CPU s/example, 4.9 examples/s; avdata 0.037 CPU s/example, 8.7 examples/s (3.3x less CPU, 1.8x);
``--clips 500 --videos 6``: baseline 0.127 CPU s, 6.4/s; avdata 0.028 CPU s, 13.9/s (4.5x, 2.2x).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(HERE))

import bench_extract  # noqa: E402  (the corpus)

WORK = bench_extract.WORK
LENGTH = 5.0
FRAMES = 5


def make_lists(n_videos: int, n: int, seed: int = 0) -> tuple[Path, Path, list[tuple]]:
    specs = bench_extract.corpus_specs()[:n_videos]
    todo = [(cid, d) for cid, d, _, _ in specs if not (WORK / "videos" / f"{cid}.mp4").exists()]
    if todo:
        (WORK / "videos").mkdir(parents=True, exist_ok=True)
        print(f"generating {len(todo)} videos under {WORK / 'videos'} (cached for later runs) ...", flush=True)
        with Pool(2) as pool:
            pool.map(bench_extract._make_one, todo)
    rng = random.Random(seed)

    def clip() -> tuple[str, float]:
        cid, duration, _, _ = rng.choice(specs)
        return f"{cid}.mp4", round(rng.uniform(0, duration - LENGTH - 0.1), 3)

    clips = [clip() for _ in range(n)]
    moms = []
    while len(moms) < n:
        (v1, s1), (v2, s2) = clip(), clip()
        if v1 != v2:
            moms.append((v1, s1, v2, s2))
    lists = WORK / "render_lists"
    lists.mkdir(parents=True, exist_ok=True)
    clip_list = lists / "unfiltered_test_clips.csv"
    clip_list.write_text("".join(f"{v},{s:.3f},{s + LENGTH:.3f}\n" for v, s in clips))
    mom_list = lists / "unfiltered_test_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv"
    mom_list.write_text("".join(f"{v1},{s1:.3f},{s1 + LENGTH:.3f},{v2},{s2:.3f},{s2 + LENGTH:.3f}\n"
                                for v1, s1, v2, s2 in moms))
    return clip_list, mom_list, [("clip", v, s) for v, s in clips] + [("mom", *m) for m in moms]


def _ffmpeg_example(args: tuple) -> None:
    ffmpeg, out, i, item = args
    videos = WORK / "videos"
    d = Path(out) / f"{i:05d}"
    d.mkdir(parents=True, exist_ok=True)
    audio = "aresample=16000,aformat=sample_fmts=s16:channel_layouts=mono"
    frames = ["-map", "0:v", "-vf", "fps=1", "-frames:v", str(FRAMES), "-q:v", "2", str(d / "frame_%02d.jpg")]
    if item[0] == "clip":
        _, v, s = item
        cmd = [ffmpeg, "-v", "error", "-y", "-ss", f"{s:.3f}", "-t", str(LENGTH), "-i", str(videos / v),
               "-map", "0:a", "-af", audio, str(d / "audio.wav"), *frames]
    else:
        _, v1, s1, v2, s2 = item
        graph = (f"[0:a]{audio},asplit[a1][m1];[1:a]{audio},asplit[a2][m2];"
                 f"[m1][m2]amix=inputs=2:normalize=0[mix]")
        cmd = [ffmpeg, "-v", "error", "-y", "-ss", f"{s1:.3f}", "-t", str(LENGTH), "-i", str(videos / v1),
               "-ss", f"{s2:.3f}", "-t", str(LENGTH), "-i", str(videos / v2), "-filter_complex", graph,
               "-map", "[mix]", str(d / "mix.wav"), "-map", "[a1]", str(d / "source1.wav"),
               "-map", "[a2]", str(d / "source2.wav"), *frames]
    subprocess.run(cmd, check=True)


def run_baseline(workers: int, out: str, n_videos: int, n: int) -> None:
    import imageio_ffmpeg
    _, _, items = make_lists(n_videos, n)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(_ffmpeg_example, [(ffmpeg, out, i, it) for i, it in enumerate(items)]))


def run_avdata(workers: int, out: str, n_videos: int, n: int) -> None:
    clip_list, mom_list, _ = make_lists(n_videos, n)
    for lst, sub in ((clip_list, "clips"), (mom_list, "moms")):
        subprocess.run([sys.executable, "-m", "avdata", "render", str(lst), "--videos", str(WORK / "videos"),
                        "--out", f"{out}/{sub}", "--workers", str(workers), "--no-progress"], check=True,
                       capture_output=True)


def measure(name: str, cmd: list[str], examples: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"name": name, "wall": wall, "cpu": cpu, "ex_s": examples / wall, "cpu_per_ex": cpu / examples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clips", type=int, default=100, help="clips, and as many MoMs (the issue's size: 500)")
    ap.add_argument("--videos", type=int, default=6, help="videos of the extraction corpus to use (of 24)")
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only == "baseline":
        return run_baseline(args.workers, args.out, args.videos, args.clips)
    if args.only == "avdata":
        return run_avdata(args.workers, args.out, args.videos, args.clips)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    make_lists(args.videos, args.clips)
    n = 2 * args.clips
    print(f"corpus: {args.videos} videos; {args.clips} clips + {args.clips} MoMs of {LENGTH:g} s; "
          f"{args.workers} workers", flush=True)

    def fresh(name: str) -> str:
        d = WORK / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return str(d)

    me = [sys.executable, str(Path(__file__).resolve()), "--workers", str(args.workers), "--clips",
          str(args.clips), "--videos", str(args.videos)]
    base = measure("baseline (ffmpeg per example)", me + ["--only", "baseline", "--out", fresh("render_baseline")], n)
    ours = measure("avdata render", me + ["--only", "avdata", "--out", fresh("render_avdata")], n)
    print(f"{'method':32s} {'wall s':>7s} {'examples/s':>10s} {'CPU s':>7s} {'CPU s/example':>13s}")
    for r in (base, ours):
        print(f"{r['name']:32s} {r['wall']:7.2f} {r['ex_s']:10.2f} {r['cpu']:7.1f} {r['cpu_per_ex']:13.3f}")
    print(f"avdata vs baseline: {ours['ex_s'] / base['ex_s']:.2f}x examples/s, "
          f"{base['cpu'] / ours['cpu']:.2f}x less CPU per example")


if __name__ == "__main__":
    main()
