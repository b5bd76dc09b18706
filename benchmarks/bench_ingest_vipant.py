"""Benchmark of ``avdata ingest vipant`` on an index file in VIP-ANT's published layout.

Writes ``--lines`` lines (default 2,000,000: the size of ``src_full_unbalanced_train_segments.csv``)
like the published ones (dir chunks of 35,000, p0 with 4 frames, features, 1-4 labels), then, each in
a fresh process so that peak memory is its own:

- baseline: ``json.loads`` of every line (reading the file line by line, nothing kept);
- ``avdata ingest vipant FILE -o clips.parquet`` (the whole stage: parse, the clip table with the
  published lines' bytes, unique ids, Parquet written block by block);
- ``avdata export vipant`` back, checked byte-identical.

Prints seconds, lines/s and peak RSS of each. Run: python benchmarks/bench_ingest_vipant.py [--lines N]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import ingest_export_round, timed  # noqa: E402

LABELS = ["/m/09x0r", "/m/04rlf", "/m/0jbk", "/m/07q6cd_", "/m/03l9g", "/m/01b_21", "/t/dd00004", "/m/068hy"]
ALPHABET = string.ascii_letters + string.digits + "-_"

BASELINE = """
import json, resource, sys, time
t0 = time.perf_counter()
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        json.loads(line)
        n += 1
print(n, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""



def write_file(path: Path, lines: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        block = []
        for k in range(lines):
            first = (k // 35_000) * 35_000
            bos = rng.randrange(0, 300) / 1.0
            block.append(json.dumps({
                "dir": f"all_{first}_{first + 35_000}", "aclip": ["p0.mp3"],
                "frame": [f"p0.4_{j:02d}.jpg" for j in range(1, 5)], "aclip_128": "p0.npz", "frame_224": "p0.npz",
                "id": "".join(rng.choice(ALPHABET) for _ in range(11)), "bos": f"{bos:.3f}",
                "eos": f"{bos + 10:.3f}", "labels": rng.sample(LABELS, rng.randint(1, 4))}))
            if len(block) == 10_000:
                fh.write("\n".join(block) + "\n")
                block = []
        if block:
            fh.write("\n".join(block) + "\n")




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_vipant_"))
    try:
        src = tmp / "src_full_unbalanced_train_segments.csv"
        t0 = time.perf_counter()
        write_file(src, args.lines)
        size = src.stat().st_size / 1e6
        took = time.perf_counter() - t0
        print(f"{args.lines:,} lines in the published layout ({size:.0f} MB, written in {took:.0f} s)")
        base_s, base_mb = timed(BASELINE, str(src))
        print(f"  baseline json.loads per line:  {base_s:7.1f} s  {args.lines / base_s:10,.0f} lines/s  "
              f"peak {base_mb:6.0f} MB")
        ingest_export_round("vipant", src, args.lines, tmp, base_s, unit="lines")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
