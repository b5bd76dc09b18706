"""Benchmark: fetch ``dir:``, extract and index of a multi-million-row list (issue 13).

Builds a clip table of ``--rows`` rows (default 2,000,000 AudioSet-style YouTube ids; ``--paths``,
the default from 5,000,000 rows, AudioScope-style YFCC paths) and a video folder holding only
``--present`` of its videos (hard links of one real synthetic video), then runs each stage through
the CLI in its own child process (peak memory from ``os.wait4``) and a rerun of each, which must
do nothing. Prints seconds, items/s and peak memory per stage and the files in each manifest,
and times reading a manifest's latest rows. ``--baseline-src DIR`` also runs fetch and extract
with another checkout's ``src`` (e.g. ``/work/main/src``), each stopped after ``--baseline-limit``
seconds, and reports its rate from the rows it recorded: the baseline measured in the same run.
Today's figures (issue 13, 2,000,000 rows, before this work) are printed beside for reference.

    python benchmarks/bench_scale.py [--rows 2000000] [--present 200] [--workers 2] [--keep DIR]
                                     [--stages fetch,extract,index,index-media] [--media-check] [--reuse]
                                     [--baseline-src /work/main/src --baseline-limit 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS  # noqa: E402
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA  # noqa: E402
from avdata.index.build import CHECKS_SCHEMA  # noqa: E402
from avdata.manifest import latest, read_latest, read_manifest  # noqa: E402
from avdata.media.synth import SynthSpec, make_video  # noqa: E402
from avdata.table import CLIP_SCHEMA, write_clips  # noqa: E402

TODAY = {"fetch": "~400 items/s, >10 min (244,736 rows in 10 min), 2.8 GB, 3,824 files",
         "extract": "213 s, 3.45 GB, 7,813 files (all videos missing)",
         "index": "29.6 s, 795 MiB; rerun 22.1 s"}


def build_table(rows: int, paths: bool) -> pa.Table:
    """``rows`` clips, one per source; ids/paths derived from the row number."""
    i = np.arange(rows, dtype=np.uint64)
    if paths:
        h = (i * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(0xD1B54A32D192ED03)
        hexes = [f"{int(x):016x}{int(y):016x}" for x, y in zip(h, i)]
        sources = [f"data/videos/mp4/{x[:3]}/{x[3:6]}/{x}.mp4" for x in hexes]
        kind, dataset, split = "path", "audioscope", "train"
    else:
        sources = [f"Y{int(x):010d}" for x in i]
        kind, dataset, split = "youtube", "audioset", "unbalanced_train"
    src = pa.array(sources, pa.string())
    starts = (i % 200).astype(np.float64) + 30.0
    labels = pa.ListArray.from_arrays(pa.array(np.arange(rows + 1, dtype=np.int32)),
                                      pa.array(["/m/09x0r"] * rows, pa.string()))
    empty = pa.ListArray.from_arrays(pa.array(np.zeros(rows + 1, dtype=np.int32)), pa.array([], pa.string()))
    cols = {"clip_id": pa.array([f"c{x}" for x in i], pa.string()) if paths else src, "source": src,
            "source_kind": pa.array([kind] * rows), "start": starts, "end": starts + 10.0, "labels": labels,
            "captions": empty, "dataset": pa.array([dataset] * rows), "split": pa.array([split] * rows),
            "origin_file": pa.array(["list.csv"] * rows), "origin_line": pa.array(i.astype(np.int64) + 1)}
    return pa.Table.from_arrays([cols[f.name] if f.name in cols else pa.nulls(rows, f.type) for f in CLIP_SCHEMA],
                                schema=CLIP_SCHEMA)


def make_videos(table: pa.Table, present: int, folder: Path) -> None:
    """Hard links of one real 40 s video under ``present`` of the table's sources, spread evenly."""
    real = folder.parent / "real.mp4"
    make_video(real, SynthSpec(duration=40.0, width=96, height=64, fps=10, channels=1, sample_rate=16000))
    step = max(1, table.num_rows // max(1, present))
    kinds = table.column("source_kind")
    for k in range(0, table.num_rows, step)[:present]:
        src = table.column("source")[k].as_py()
        dest = folder / (f"{src}.mp4" if kinds[k].as_py() == "youtube" else src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(real, dest)


# The stage runs as the child of a small launcher, which reports the stage's own peak memory: a
# child's ru_maxrss on Linux keeps the high-water mark of the process it was forked from (this
# benchmark, holding the whole list), so measured directly it would count the benchmark's memory.
_LAUNCHER = ("import resource, subprocess, sys\n"
             "rc = subprocess.call(sys.argv[1:])\n"
             "sys.stderr.write(f'\\n@peak_kib {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n')\n"
             "sys.exit(rc)\n")


def run(cmd: list[str], src: Path, limit: float | None = None) -> tuple[float, float, int, bool]:
    """(wall seconds, peak RSS MiB, exit code, stopped at the limit) of one child."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *cmd], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    stopped = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if limit is not None and time.monotonic() - t0 > limit:
            os.killpg(proc.pid, signal.SIGKILL)
            stopped = True
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    peaks = [line.split()[1] for line in err.splitlines() if line.startswith("@peak_kib ")]
    if proc.returncode not in (0, 1) and not stopped:
        print(f"    ! {' '.join(cmd[3:5])} exited {proc.returncode}: {err.strip()[-400:]}")
    # a stage stopped at the limit reports no peak: the launcher's figure is an upper bound then
    peak_kib = float(peaks[-1]) if peaks else float(usage.ru_maxrss)
    return time.monotonic() - t0, peak_kib / 1024, proc.returncode, stopped


def files(d: Path) -> int:
    return len(list(d.iterdir())) if d.is_dir() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--present", type=int, default=200, help="videos present in the folder (real work)")
    ap.add_argument("--paths", action="store_true", help="AudioScope paths (default from 5,000,000 rows)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--media-check", action="store_true",
                    help="also index with media checks (stage index-media; only decodes go to the workers)")
    ap.add_argument("--keep", type=Path, help="work here and keep the files")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: reuse the list and videos already there (e.g. to time index alone)")
    ap.add_argument("--stages", default="fetch,extract,index", help="which stages to run (in order)")
    ap.add_argument("--baseline-src", type=Path, help="another checkout's src/ to run fetch and extract with")
    ap.add_argument("--baseline-limit", type=float, default=60.0)
    args = ap.parse_args()
    paths = args.paths or args.rows >= 5_000_000
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.monotonic()
        clips, videos = work / "clips.parquet", work / "videos"
        built = work / "built.txt"    # written last: the list and videos are complete
        if args.reuse and built.is_file():
            n_sources = int(built.read_text().split()[0])
            if n_sources != args.rows:
                sys.exit(f"{work} holds a list of {n_sources:,} rows, not {args.rows:,}")
            print(f"list: {n_sources:,} rows reused from {work}")
        else:
            table = build_table(args.rows, paths)
            write_clips(table, clips)
            shutil.rmtree(videos, ignore_errors=True)
            videos.mkdir()
            make_videos(table, args.present, videos)
            n_sources = table.num_rows
            del table
            built.write_text(f"{n_sources} rows\n")
            print(f"list: {args.rows:,} rows ({'AudioScope paths' if paths else 'AudioSet ids'}), "
                  f"{args.present} videos present; built in {time.monotonic() - t0:.1f} s")
        py = [sys.executable, "-m", "avdata"]
        fetched, media, index = work / "fetched", work / "media", work / "index"
        fm, em = fetched / "fetch_manifest.parquet", media / "extract_manifest.parquet"
        fetch_cmd = py + ["fetch", str(clips), "--source", f"dir:{videos}", "--out", str(fetched),
                          "--workers", str(args.workers), "--no-progress"]
        extract_cmd = py + ["extract", str(clips), "--videos", str(fetched), "--fetch-manifest", str(fm),
                            "--out", str(media), "--workers", str(args.workers), "--no-progress"]
        index_cmd = py + ["index", str(clips), "--manifest", str(em), "--media", str(media), "--out", str(index),
                          "--workers", str(args.workers), "--no-media-check"]
        checked = work / "index_media"
        media_cmd = [*index_cmd[:index_cmd.index("--out") + 1], str(checked), "--workers", str(args.workers)]
        shutil.rmtree(checked, ignore_errors=True)   # a first run, then its rerun
        stages = args.stages.split(",") + (["index-media"] if args.media_check else [])
        print(f"{'stage':<18}{'seconds':>9}{'items/s':>12}{'peak MiB':>10}{'files':>7}  exit")
        for name, stage, cmd, items, folder in [
                ("fetch dir:", "fetch", fetch_cmd, n_sources, fm), ("fetch rerun", "fetch", fetch_cmd, n_sources, fm),
                ("extract", "extract", extract_cmd, args.rows, em), ("extract rerun", "extract", extract_cmd, args.rows, em),
                ("index", "index", index_cmd, args.rows, index / "index_checks.parquet"),
                ("index rerun", "index", index_cmd, args.rows, index / "index_checks.parquet"),
                ("index media", "index-media", media_cmd, args.rows, checked / "index_checks.parquet"),
                ("index media rerun", "index-media", media_cmd, args.rows, checked / "index_checks.parquet")]:
            if stage not in stages:
                continue
            secs, mib, code, _ = run(cmd, SRC)
            print(f"{name:<18}{secs:>9.1f}{items / secs:>12,.0f}{mib:>10,.0f}{files(folder):>7}  {code}")
        for name, d, schema, keys in [("fetch", fm, FETCH_MANIFEST_SCHEMA, ["source"]),
                                      ("extract", em, EXTRACT_MANIFEST_SCHEMA, list(MANIFEST_KEYS))]:
            if name not in args.stages.split(","):
                continue
            t1 = time.monotonic()
            rows = latest(read_manifest(d, schema), keys).num_rows
            t2 = time.monotonic()
            fast = read_latest(d, schema, keys).num_rows
            print(f"latest rows of the {name} manifest, all columns: {rows:,} rows; "
                  f"latest(read_manifest(...)) {t2 - t1:.2f} s, read_latest {time.monotonic() - t2:.2f} s ({fast:,})")
        print("today's figures (issue 13, 2,000,000 rows): fetch dir: " + TODAY["fetch"] + "; extract: "
              + TODAY["extract"])
        print("today's index (issue 13 note, 2,000,000 rows, --no-media-check): " + TODAY["index"])
        if args.baseline_src and "index" in stages:
            bout = work / "baseline" / "index"
            shutil.rmtree(bout, ignore_errors=True)
            bcmd = [*index_cmd[:index_cmd.index("--out") + 1], str(bout), *index_cmd[index_cmd.index("--out") + 2:]]
            secs, mib, code, stopped = run(bcmd, args.baseline_src, max(args.baseline_limit, 300.0))
            print(f"baseline index ({args.baseline_src}): {secs:.1f} s{' (stopped)' if stopped else ''}, "
                  f"{args.rows / secs:,.0f} items/s, {mib:,.0f} MiB, exit {code}")
        if args.baseline_src and "index-media" in stages:
            bout = work / "baseline" / "index_media"
            shutil.rmtree(bout, ignore_errors=True)
            bcmd = [*media_cmd[:media_cmd.index("--out") + 1], str(bout), "--workers", str(args.workers)]
            secs, mib, code, stopped = run(bcmd, args.baseline_src, args.baseline_limit)
            got = sum(read_manifest(d, CHECKS_SCHEMA, ["clip_id"]).num_rows
                      for d in [bout / "index_checks.parquet", *bout.glob(".tmp-*-index_checks.parquet")])
            print(f"baseline index media ({args.baseline_src}): {got:,} segments checked in {secs:.1f} s "
                  f"({got / secs:,.0f} items/s){' (stopped)' if stopped else ''}, {mib:,.0f} MiB")
        if args.baseline_src and {"fetch", "extract"} & set(stages):
            base = work / "baseline"
            bfm = base / "fetched" / "fetch_manifest.parquet"
            bcmd = py + ["fetch", str(clips), "--source", f"dir:{videos}", "--out", str(base / "fetched"),
                         "--workers", str(args.workers), "--no-progress"]
            secs, mib, code, stopped = run(bcmd, args.baseline_src, args.baseline_limit)
            got = read_manifest(bfm, FETCH_MANIFEST_SCHEMA, ["source"]).num_rows
            print(f"baseline fetch dir: ({args.baseline_src}): {got:,} rows in {secs:.1f} s "
                  f"({got / secs:,.0f} items/s){' (stopped)' if stopped else ''}, {mib:,.0f} MiB, {files(bfm)} files")
            ecmd = py + ["extract", str(clips), "--videos", str(videos), "--out", str(base / "media"),
                         "--workers", str(args.workers), "--no-progress"]
            secs, mib, code, stopped = run(ecmd, args.baseline_src, args.baseline_limit)
            bem = base / "media" / "extract_manifest.parquet"
            got = read_manifest(bem, EXTRACT_MANIFEST_SCHEMA, ["clip_id"]).num_rows
            print(f"baseline extract ({args.baseline_src}): {got:,} rows in {secs:.1f} s"
                  f"{' (stopped)' if stopped else ''}, {mib:,.0f} MiB, {files(bem)} files")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
