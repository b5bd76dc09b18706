"""Benchmark ``avdata extract`` against the reference method and a PyAV floor, in one run.

Corpus (cached in benchmarks/_work/): 24 synthetic videos of 20..180 s, 640x360, 25 fps, H.264
with a keyframe every 5 s, AAC 44.1 kHz stereo; one 10 s AudioSet-style segment each at the
start, middle or end. Every method writes (or, for the floor, encodes in memory) the same
outputs: p0/n0/n1 MP3 at 128 kbit/s and 4 JPEG frames per clip at ffmpeg quality -q:v 2.

  baseline  the reference tool's way: one ffmpeg process per operation (``ffmpeg -i`` as the probe,
            an ``atrim`` re-encode per audio clip, ``ffmpeg -ss T -i video -frames:v 1`` per frame)
  floor     PyAV, one process per worker, decoding each clip's span forward from the keyframe
            before it and encoding the outputs in memory with avdata's own encoders (MP3: LAME
            through ``avdata.media.mp3``); no files, no manifest, no bookkeeping. It keeps this
            simple method on purpose: avdata plans more finely (per GOP only up to the last frame
            wanted, audio decoded from a 0.5 s pre-roll rather than from the keyframe), so it may
            beat the floor; ``profile_extract.py`` splits avdata's CPU per clip by stage
  avdata    ``avdata extract --workers 2`` (files, manifest, resume bookkeeping included)
  + avdata variants: LAME algorithm quality 7 at the same bitrate, FLAC, 16 kHz mono MP3

Run: ``python benchmarks/bench_extract.py`` (``--workers 2``). Prints clips/s, frames/s, CPU
seconds, peak RSS of the largest process, and ratios. Each method runs in its own subprocess so
that CPU time and RSS are measured from its process tree (``getrusage(RUSAGE_CHILDREN)``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

WORK = HERE / "_work"
N_VIDEOS = 24
MP3_BITRATE = "128k"
JPEG_Q = 2
FRAMES = 4


def corpus_specs() -> list[tuple[str, float, float, float]]:
    """(clip id, duration, segment start, segment end) for each video."""
    out = []
    for i in range(N_VIDEOS):
        duration = 20.0 + (160.0 * i) / (N_VIDEOS - 1)
        where = i % 3
        start = {0: 0.0, 1: round(duration / 2 - 5, 3), 2: round(duration - 10, 3)}[where]
        out.append((f"bench{i:03d}xyz"[-11:], duration, start, start + 10.0))
    return out


def _make_one(args: tuple[str, float]) -> None:
    from avdata.media.synth import SynthSpec, make_video
    name, duration = args
    path = WORK / "videos" / f"{name}.mp4"
    if path.exists():
        return
    tmp = path.with_name(f".tmp-{name}.mp4")
    make_video(tmp, SynthSpec(duration=duration, width=640, height=360, fps=25, keyint_seconds=5.0,
                              sample_rate=44100, channels=2))
    tmp.rename(path)


def make_corpus(workers: int) -> Path:
    from avdata.table import clips_from_records, write_clips
    (WORK / "videos").mkdir(parents=True, exist_ok=True)
    specs = corpus_specs()
    todo = [(cid, d) for cid, d, _, _ in specs if not (WORK / "videos" / f"{cid}.mp4").exists()]
    if todo:
        print(f"generating {len(todo)} videos under {WORK / 'videos'} (cached for later runs) ...", flush=True)
        with Pool(workers) as pool:
            pool.map(_make_one, todo)
    records = [dict(clip_id=cid, source=cid, source_kind="youtube", start=s, end=e, dataset="audioset",
                    split="eval", origin_file="bench.csv", origin_line=i + 1)
               for i, (cid, _, s, e) in enumerate(specs)]
    clips = WORK / "clips.parquet"
    write_clips(clips_from_records(records), clips)
    return clips


def planned_clips() -> list[tuple[str, str, float, float]]:
    from avdata.extract.plan import plan_clips
    out = []
    for cid, duration, s, e in corpus_specs():
        for c in plan_clips(s, e, duration):
            out.append((cid, c.name, c.start, c.end))
    return out


# -- baseline: one ffmpeg process per operation -------------------------------------------------
def _ffmpeg() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def _baseline_video(args: tuple[str, str, float, float, str]) -> int:
    from avdata.extract.job import frame_timestamps
    from avdata.extract.plan import plan_clips
    ffmpeg, cid, start, end, out = args
    video = str(WORK / "videos" / f"{cid}.mp4")
    probe = subprocess.run([ffmpeg, "-hide_banner", "-i", video], capture_output=True, text=True)
    m = re.search(r"Duration: (\d+):(\d+):([\d.]+)", probe.stderr)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    ops = 0
    for c in plan_clips(start, end, duration):
        subprocess.run([ffmpeg, "-v", "error", "-y", "-i", video, "-vn", "-af",
                        f"atrim=start={c.start:.6f}:end={c.end:.6f},asetpts=PTS-STARTPTS",
                        "-c:a", "libmp3lame", "-b:a", MP3_BITRATE, f"{out}/{cid}.{c.name}.mp3"], check=True)
        for k, t in enumerate(frame_timestamps(c.start, c.end, FRAMES), start=1):
            t = min(t, duration - 0.05)          # at the very end ffmpeg -ss yields no frame: take the last
            subprocess.run([ffmpeg, "-v", "error", "-y", "-ss", f"{t:.6f}", "-i", video, "-frames:v", "1",
                            "-q:v", str(JPEG_Q), f"{out}/{cid}.{c.name}.{FRAMES}_{k:02d}.jpg"], check=True)
        ops += 1
    return ops


def run_baseline(workers: int, out: str) -> None:
    ffmpeg = _ffmpeg()
    jobs = [(ffmpeg, cid, s, e, out) for cid, _, s, e in corpus_specs()]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(_baseline_video, jobs))


# -- floor: PyAV spans, outputs encoded in memory -----------------------------------------------
def _floor_video(args: tuple[str, float, float]) -> int:
    from fractions import Fraction

    import av
    import numpy as np

    from avdata.extract.job import frame_timestamps
    from avdata.extract.plan import plan_clips
    from avdata.media.mp3 import encode_mp3
    cid, start, end = args
    done = 0
    with av.open(str(WORK / "videos" / f"{cid}.mp4")) as c:
        vs, as_ = c.streams.video[0], c.streams.audio[0]
        vs.thread_count = as_.thread_count = 1
        rate = as_.codec_context.sample_rate
        duration = c.duration / av.time_base
        for clip in plan_clips(start, end, duration):
            c.seek(int(max(0.0, clip.start - 0.5) / vs.time_base), stream=vs, backward=True)
            vs.codec_context.flush_buffers()
            as_.codec_context.flush_buffers()
            times = frame_timestamps(clip.start, clip.end, FRAMES)
            picked: list = [None] * FRAMES
            last = None
            pcm = []
            s0, s1 = round(clip.start * rate), round(clip.end * rate)
            vdone = adone = False
            for packet in c.demux(vs, as_):
                if packet.stream is as_ and not adone:
                    for f in as_.codec_context.decode(packet):
                        p = int(f.pts)
                        if p + f.samples > s0 and p < s1:
                            pcm.append(f.to_ndarray()[:, max(0, s0 - p): s1 - p])
                        adone = p + f.samples >= s1
                elif packet.stream is vs and not vdone:
                    for f in vs.codec_context.decode(packet):
                        last = f
                        for i, t in enumerate(times):
                            if picked[i] is None and f.time >= t - 1e-6:
                                picked[i] = f
                        vdone = all(p is not None for p in picked)
                if vdone and adone:
                    break
            picked = [p or last for p in picked]
            encode_mp3(np.concatenate(pcm, axis=1), rate, 128_000)     # LAME's default quality, as avdata
            for f in picked:
                ctx = av.CodecContext.create("mjpeg", "w")
                ctx.width, ctx.height, ctx.pix_fmt = f.width, f.height, "yuvj420p"
                ctx.time_base, ctx.thread_count = Fraction(1, 25), 1
                ctx.qscale, ctx.global_quality, ctx.qmin, ctx.qmax = True, JPEG_Q * 118, JPEG_Q, JPEG_Q
                y = f.reformat(format="yuvj420p")
                y.pts, y.time_base = 0, Fraction(1, 25)
                bytes(ctx.encode(y)[0])
            done += 1
    return done


def run_floor(workers: int) -> None:
    with Pool(workers) as pool:
        pool.map(_floor_video, [(cid, s, e) for cid, _, s, e in corpus_specs()], chunksize=1)


# -- measuring ------------------------------------------------------------------------------------
def measure(name: str, cmd: list[str], clips: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"name": name, "wall": wall, "cpu": cpu, "rss_mb": after.ru_maxrss / 1024, "clips": clips,
            "clips_s": clips / wall, "frames_s": clips * FRAMES / wall, "cpu_per_clip": cpu / clips}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--skip-variants", action="store_true")
    args = ap.parse_args()
    if args.only == "baseline":
        return run_baseline(args.workers, args.out)
    if args.only == "floor":
        return run_floor(args.workers)

    clips_table = make_corpus(args.workers)
    n_clips = len(planned_clips())
    print(f"corpus: {N_VIDEOS} videos, {n_clips} clips (p0 + negatives), {n_clips * FRAMES} frames; "
          f"{args.workers} workers", flush=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    env_py = [sys.executable, "-m", "avdata", "extract", str(clips_table), "--videos", str(WORK / "videos"),
              "--workers", str(args.workers), "--no-progress", "--bitrate", "128", "--jpeg-quality", str(JPEG_Q)]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])

    def fresh(name: str) -> str:
        d = WORK / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return str(d)

    results = [
        measure("baseline (ffmpeg per op)", me + ["--only", "baseline", "--workers", str(args.workers),
                                                   "--out", fresh("out_baseline")], n_clips),
        measure("floor (PyAV, in memory)", me + ["--only", "floor", "--workers", str(args.workers)], n_clips),
        measure("avdata", env_py + ["--out", fresh("out_avdata")], n_clips),
    ]
    if not args.skip_variants:
        results += [
            measure("avdata --mp3-quality 7", env_py + ["--out", fresh("out_q7"), "--mp3-quality", "7"], n_clips),
            measure("avdata --audio-format flac", env_py + ["--out", fresh("out_flac"), "--audio-format", "flac"],
                    n_clips),
            measure("avdata 16 kHz mono mp3", env_py + ["--out", fresh("out_16k"), "--sample-rate", "16000",
                                                        "--mono"], n_clips),
        ]
    base, floor, ours = results[0], results[1], results[2]
    print(f"{'method':28s} {'wall s':>7s} {'clips/s':>8s} {'frames/s':>9s} {'CPU s':>7s} {'CPU s/clip':>10s} "
          f"{'peak RSS MB':>11s}")
    for r in results:
        print(f"{r['name']:28s} {r['wall']:7.2f} {r['clips_s']:8.2f} {r['frames_s']:9.1f} {r['cpu']:7.1f} "
              f"{r['cpu_per_clip']:10.3f} {r['rss_mb']:11.0f}")
    print(f"avdata vs baseline: {ours['clips_s'] / base['clips_s']:.2f}x clips/s, "
          f"{base['cpu'] / ours['cpu']:.2f}x less CPU")
    print(f"avdata vs floor:    {floor['wall'] / ours['wall']:.2f}x the floor's clips/s "
          f"(avdata wall / floor wall = {ours['wall'] / floor['wall']:.2f}), "
          f"{ours['cpu'] / floor['cpu']:.2f}x the floor's CPU")
    for r in results[3:]:
        print(f"{r['name']}: {r['clips_s'] / ours['clips_s']:.2f}x avdata default clips/s, "
              f"{r['clips_s'] / base['clips_s']:.2f}x baseline")
    sizes = {}
    for name in ("out_baseline", "out_avdata"):
        jpgs = list((WORK / name).rglob("*.jpg"))
        mp3s = list((WORK / name).rglob("*.mp3"))
        sizes[name] = (len(mp3s), len(jpgs), sum(p.stat().st_size for p in jpgs) / max(1, len(jpgs)),
                       sum(p.stat().st_size for p in mp3s) / max(1, len(mp3s)))
        print(f"{name}: {sizes[name][0]} mp3 (mean {sizes[name][3] / 1024:.1f} KiB), "
              f"{sizes[name][1]} jpg (mean {sizes[name][2] / 1024:.1f} KiB)")
    (WORK / "bench_extract.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
