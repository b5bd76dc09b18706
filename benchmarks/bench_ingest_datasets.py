"""Benchmark of ``avdata ingest`` for the datasets of issue 21 against a plain ``csv`` reader.

Writes, in the published layouts:
- VGGSound: ``--vgg-rows`` rows (default 200,000, VGGSound's size), CRLF, some labels quoted;
- AudioSet-Strong: ``--strong-events`` events (default 1,000,000, about the train file's
  934,821), 10 events per segment, 3-decimal times;
- Epic-Sounds: ``--epic-rows`` rows (default 200,000) of the 10-column layout;
then, each in a fresh process (peak memory its own): the baseline ``csv.reader`` over every row
(nothing kept), ``avdata ingest FORMAT`` (parse, checks, the clip table written) and ``avdata
export`` back (checked byte-identical). Prints seconds, rows/s and peak RSS.
Run: python benchmarks/bench_ingest_datasets.py
"""

from __future__ import annotations

import argparse
import random
import shutil
import string
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import ingest_export_round, timed  # noqa: E402

sys.path.insert(0, str(ROOT / "src"))
ALPHABET = string.ascii_letters + string.digits + "-_"

BASELINE = """
import csv, resource, sys, time
t0 = time.perf_counter()
n = 0
with open(sys.argv[1], newline="", encoding="utf-8") as fh:
    for row in csv.reader(fh, delimiter=sys.argv[2]):
        n += 1
print(n, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""



def _id(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(11))


def write_vggsound(path: Path, rows: int, rng: random.Random) -> None:
    labels = ["people marching", '"female speech, woman speaking"', "police car (siren)", "dog barking",
              "playing acoustic guitar", '"railroad car, train wagon"']
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("".join(f"{_id(rng)},{rng.randrange(0, 600)},{rng.choice(labels)},"
                         f"{'test' if rng.random() < 0.08 else 'train'}\r\n" for _ in range(rows)))


def write_strong(path: Path, events: int, rng: random.Random) -> None:
    from avdata.sources.audioset_strong import vocabulary

    mids = list(vocabulary())
    out = ["segment_id\tstart_time_seconds\tend_time_seconds\tlabel"]
    for _ in range(events // 10):
        seg = f"{_id(rng)}_{rng.randrange(0, 300) * 1000}"
        for _ in range(10):
            a = rng.randrange(0, 9000)
            out.append(f"{seg}\t{a / 1000:.3f}\t{(a + rng.randrange(1, 1000)) / 1000:.3f}\t{rng.choice(mids)}")
    path.write_text("\n".join(out) + "\n")


def write_epic(path: Path, rows: int, rng: random.Random) -> None:
    out = ["annotation_id,participant_id,video_id,start_timestamp,stop_timestamp,start_sample,stop_sample,"
           "description,class,class_id"]
    for i in range(rows):
        p, v = rng.randrange(1, 38), rng.randrange(1, 200)
        a = rng.randrange(0, 3_600_000)
        b = a + rng.randrange(100, 5000)
        ts = [f"{t // 3600000:02d}:{t // 60000 % 60:02d}:{t // 1000 % 60:02d}.{t % 1000:03d}" for t in (a, b)]
        out.append(f"P{p:02d}_{v:02d}_{i},P{p:02d},P{p:02d}_{v:02d},{ts[0]},{ts[1]},{a * 24},{b * 24},"
                   f"paper rustle,rustle,{rng.randrange(44)}")
    path.write_text("\n".join(out) + "\n")




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vgg-rows", type=int, default=200_000)
    ap.add_argument("--strong-events", type=int, default=1_000_000)
    ap.add_argument("--epic-rows", type=int, default=200_000)
    args = ap.parse_args()
    rng = random.Random(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_datasets_"))
    try:
        cases = [("vggsound", tmp / "vggsound.csv", args.vgg_rows, ",", write_vggsound),
                 ("audioset-strong", tmp / "audioset_train_strong.tsv", args.strong_events, "\t", write_strong),
                 ("epic-sounds", tmp / "EPIC_Sounds_train.csv", args.epic_rows, ",", write_epic)]
        for fmt, path, n, delimiter, writer in cases:
            writer(path, n, rng)
            print(f"{fmt}: {n:,} rows ({path.stat().st_size / 1e6:.0f} MB)")
            s0, m0 = timed(BASELINE, str(path), delimiter)
            print(f"  csv.reader, nothing kept:  {s0:6.1f} s  {n / s0:10,.0f} rows/s  peak {m0:6.0f} MB")
            ingest_export_round(fmt, path, n, tmp, s0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
