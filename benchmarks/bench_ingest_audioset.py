"""Benchmark: ``avdata ingest audioset`` on a 2,000,000-row segments file.

Builds the file by repeating the real balanced-train rows with perturbed ids and times, then runs,
each in its own child process (peak memory from ``os.wait4``'s rusage of that child):
  1. ``python -m avdata ingest audioset FILE -o clips.parquet`` (the real CLI path, Parquet included);
  2. a plain line-by-line ``str.split`` reader doing the same job (same columns, same Parquet file).
Both outputs are checked to hold the same rows (source, start, end, labels; row and label counts).
Each run prints wall time, CPU time of the child (user + sys, meaningful on a loaded machine), rows per
second and peak memory; after ``--repeat`` runs, the best and the median. Goal: >= 1,000,000 rows/s,
>= 3x the plain reader, peak memory < 1 GiB.

    python benchmarks/bench_ingest_audioset.py [--rows 2000000] [--repeat 3] [--source PATH] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "tests" / "data" / "balanced_train_segments.csv",
           ROOT.parent / "shared" / "data" / "audioset" / "balanced_train_segments.csv"]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

PLAIN_READER = r'''
import sys
import pyarrow as pa
import pyarrow.parquet as pq
src, out = sys.argv[1], sys.argv[2]
ids, starts, ends, labels, lines = [], [], [], [], []
with open(src, encoding="utf-8") as fh:
    for n, line in enumerate(fh, 1):
        if line.startswith("#") or not line.strip():
            continue
        ytid, start, end, labs = line.rstrip("\n").split(", ", 3)
        ids.append(ytid)
        starts.append(float(start))
        ends.append(float(end))
        labels.append(labs.strip('"').split(","))
        lines.append(n)
k = len(ids)
table = pa.table({
    "clip_id": ids, "source": ids, "source_kind": pa.repeat("youtube", k), "start": starts, "end": ends,
    "labels": pa.array(labels, pa.list_(pa.string())), "dataset": pa.repeat("audioset", k),
    "split": pa.repeat("balanced_train", k), "origin_file": pa.repeat(src, k), "origin_line": lines,
})
pq.write_table(table, out, compression="zstd")
print(k)
'''


def build_file(source: Path, rows: int, out: Path) -> int:
    """Write ``rows`` canonical rows: the real rows repeated, ids and times perturbed per repeat."""
    lines = source.read_text("utf-8").splitlines()
    header, body = lines[:3], [ln.split(", ", 3) for ln in lines[3:]]
    written = 0
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(header) + "\n")
        rep = 0
        while written < rows:
            tag = ALPHABET[rep % 64] + ALPHABET[(rep // 64) % 64]
            shift = (rep % 7) * 1.25
            chunk = []
            for ytid, start, end, labs in body[: rows - written]:
                chunk.append(f"{ytid[:9]}{tag}, {float(start) + shift:.3f}, {float(end) + shift:.3f}, {labs}\n")
            fh.write("".join(chunk))
            written += len(chunk)
            rep += 1
    return written


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run ``cmd``; return (wall seconds, CPU seconds, peak RSS bytes of that child, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0,):
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}): {err.strip()[-2000:]}")
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return wall, usage.ru_utime + usage.ru_stime, peak, out


def check_same_rows(ours: Path, plain: Path, n: int) -> None:
    """Both readers wrote the same rows (ids may differ only by avdata's suffixes for repeats)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    cols = ["source", "start", "end", "labels"]
    a, b = pq.read_table(ours, columns=cols), pq.read_table(plain, columns=cols)
    assert a.num_rows == b.num_rows == n, (a.num_rows, b.num_rows, n)
    n_labels = [pc.sum(pc.list_value_length(t.column("labels"))).as_py() for t in (a, b)]
    assert n_labels[0] == n_labels[1], n_labels
    for c in cols:
        assert a.column(c).equals(b.column(c)), f"column {c} differs"
    print(f"check: both wrote {n:,} rows and {n_labels[0]:,} labels; source, start, end, labels equal")


def _line(name: str, n: int, wall: float, cpu: float, peak: int) -> str:
    return (f"{name}: wall {wall:6.2f} s  cpu {cpu:6.2f} s  {n / wall:11,.0f} rows/s  "
            f"{n / cpu:11,.0f} rows/cpu-s  peak {peak / 2**20:7.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each reader (best and median reported)")
    ap.add_argument("--source", type=Path, default=next((p for p in SOURCES if p.exists()), SOURCES[0]))
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        src = work / "balanced_train_segments.csv"
        n = build_file(args.source, args.rows, src)
        size = src.stat().st_size
        print(f"input: {n:,} rows, {size / 2**20:.1f} MiB ({src.name}, built from {args.source})")
        ours_cmd = [sys.executable, "-m", "avdata", "ingest", "audioset", str(src), "-o", str(work / "clips.parquet")]
        plain_cmd = [sys.executable, "-c", PLAIN_READER, str(src), str(work / "plain.parquet")]
        runs: dict[str, list[tuple[float, float, int]]] = {"avdata": [], "plain": []}
        for i in range(args.repeat):
            for name, cmd in (("avdata", ours_cmd), ("plain", plain_cmd)):
                wall, cpu, peak, out = run_child(cmd, env)
                if name == "plain":
                    assert int(out.strip()) == n
                runs[name].append((wall, cpu, peak))
                print(_line(f"run {i + 1} {name:6s}", n, wall, cpu, peak))
        check_same_rows(work / "clips.parquet", work / "plain.parquet", n)
        for label, pick in (("best", min), ("median", statistics.median)):
            (w_a, c_a, m_a), (w_p, c_p, m_p) = (
                (pick(r[0] for r in runs[k]), pick(r[1] for r in runs[k]), pick(r[2] for r in runs[k]))
                for k in ("avdata", "plain"))
            print(f"{label}:")
            print(_line("  avdata ingest audioset", n, w_a, c_a, m_a))
            print(_line("  plain str.split reader", n, w_p, c_p, m_p))
            print(f"  speed-up: {w_p / w_a:.2f}x wall, {c_p / c_a:.2f}x cpu")
        print("goal: >= 1,000,000 rows/s, >= 3x, peak < 1024 MiB; times include interpreter start and the "
              "Parquet write")


if __name__ == "__main__":
    main()
