"""Benchmark of ``avdata audit`` and ``avdata lock`` against the plain way, and their memory at scale.

Part 1, throughput on real clips: the labelled synthetic corpus of the tests (``tests/class_corpus.py``)
through extract and index, ``--per-class`` clips of 4 classes, 10 s each (a 44.1 kHz MP3 and 4 JPEG
frames, as AudioSet clips), 2 workers everywhere:

- ``avdata audit`` (measures, fingerprints, duplicate search, outputs) against one ffmpeg call per
  clip decoding it for silence (``ffmpeg -i CLIP.mp3 -af volumedetect -f null -``, imageio-ffmpeg's
  binary, 2 at a time) -- which answers one of audit's questions only;
- ``avdata lock`` against ``sha256sum`` once per file (2 at a time);
- ``avdata lock --check`` on the same set.

Part 2, memory at ``--lines`` clips (200,000; ``--full``: 2,000,000), each in a fresh process:

- ``avdata diff`` of two locks of that many clips (written directly in the lock format);
- ``avdata lock`` streaming an index of that many lines whose media are absent (every line read,
  resolved, recorded; the hashing is part 1's figure);
- the duplicate search alone on that many fingerprint-sized vectors (FAISS IVF, as ``--ann auto``
  picks above 200,000), with 1,000 planted near-duplicate pairs: time, recall of the pairs, peak.

Run: python benchmarks/bench_audit.py [--per-class 25] [--lines 200000 | --full]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import RUN, timed, timed_fields  # noqa: E402
from class_corpus import build_corpus  # noqa: E402

from avdata.lock.format import FORMAT, HEADER_KEY, clip_digest, dumps, trailer  # noqa: E402

SEARCH = """
import resource, sys, time
import numpy as np
from avdata.audit.dupes import DupeOptions, vector_edges
from avdata.embed.fingerprint import AUDIO_DIM, DIM
n, pairs = int(sys.argv[1]), 1000
rng = np.random.default_rng(0)
x = rng.standard_normal((n, DIM), dtype=np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
src = rng.choice(n // 2, pairs, replace=False)
dst = n // 2 + rng.choice(n // 2, pairs, replace=False)
noise = rng.standard_normal((pairs, DIM), dtype=np.float32) * 0.012
x[dst] = x[src] + noise
t0 = time.perf_counter()
a, b, _ = vector_edges(x, np.ones(n, bool), DupeOptions(ann="ivf"), split=AUDIO_DIM)
took = time.perf_counter() - t0
found = set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))
recall = sum((int(s), int(d)) in found for s, d in zip(src, dst)) / pairs
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, recall, len(found))
"""




def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def per_item(cmd: list[str], items: list[Path], workers: int = 2) -> float:
    def one(p: Path) -> None:
        subprocess.run([c.replace("{}", str(p)) for c in cmd], capture_output=True, check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, items))
    return time.perf_counter() - t0


def part1(tmp: Path, per_class: int) -> None:
    t0 = time.perf_counter()
    corpus = build_corpus(tmp / "corpus", per_class=per_class, seconds=10.0, workers=2)
    n = len(corpus.ids)
    mp3s = sorted(corpus.media.rglob("*.mp3"))
    files = sorted(p for p in corpus.media.rglob("*") if p.suffix in (".mp3", ".jpg"))
    print(f"corpus: {n} clips of 10 s, {len(files)} files ({sum(p.stat().st_size for p in files) / 1e6:.1f} MB), "
          f"built in {time.perf_counter() - t0:.0f} s")
    base = per_item([ffmpeg(), "-nostdin", "-i", "{}", "-af", "volumedetect", "-f", "null", "-"], mp3s)
    s, _ = timed(RUN, "audit", str(corpus.index), "--media", str(corpus.media), "-o", str(tmp / "audit"),
                 "--workers", "2")
    print(f"  audit:  ffmpeg volumedetect per clip  {base:6.1f} s  {n / base:7.1f} clips/s   (silence only)")
    print(f"          avdata audit                  {s:6.1f} s  {n / s:7.1f} clips/s   "
          f"({base / s:.2f}x the baseline's speed; all flags, fingerprints and the duplicate search)")
    base = per_item(["sha256sum", "{}"], files)
    s, _ = timed(RUN, "lock", str(corpus.index), "--media", str(corpus.media), "-o", str(tmp / "a.lock"),
                 "--threads", "2")
    c, _ = timed(RUN, "lock", "--check", str(tmp / "a.lock"), "--media", str(corpus.media), "--threads", "2")
    print(f"  lock:   sha256sum per file            {base:6.1f} s  {n / base:7.1f} clips/s")
    print(f"          avdata lock                   {s:6.1f} s  {n / s:7.1f} clips/s   ({base / s:.2f}x the baseline's "
          f"speed)")
    print(f"          avdata lock --check           {c:6.1f} s  {n / c:7.1f} clips/s")


def write_lock(path: Path, n: int, changed_every: int = 0, skip_every: int = 0) -> None:
    head = {HEADER_KEY: FORMAT, "avdata_version": "bench", "media": "/m",
            "index": [{"file": "src_unbalanced_train_segments.csv", "split": "unbalanced_train", "lines": n,
                       "sha256": "0" * 64}], "lists": [], "coverage": {}}
    h = hashlib.sha256()
    clips = 0
    with open(path, "wb") as fh:
        for line in [dumps(head)]:
            fh.write(line)
            h.update(line)
        block = []
        for i in range(n):
            if skip_every and i % skip_every == 0:
                continue
            cid = f"{i:011d}"
            tag = "x" if changed_every and i % changed_every == 1 else ""
            files = [[f"all_0_35000/aclip/{cid}.p0.mp3", 160000, hashlib.sha256(f"{cid}{tag}".encode()).hexdigest()]]
            files += [[f"all_0_35000/frame/{cid}.p0.4_0{k}.jpg", 9000, "f" * 64] for k in range(1, 5)]
            block.append(dumps({"split": "unbalanced_train", "id": cid, "index_file": "x.csv", "line": i + 1,
                                "files": files, "digest": clip_digest(files)}))
            clips += 1
            if len(block) == 20000:
                data = b"".join(block)
                fh.write(data)
                h.update(data)
                block = []
        data = b"".join(block)
        fh.write(data)
        h.update(data)
        fh.write(dumps(trailer(clips, h.hexdigest())))


def part2(tmp: Path, lines: int) -> None:
    a, b = tmp / "a.lock", tmp / "b.lock"
    t0 = time.perf_counter()
    write_lock(a, lines)
    write_lock(b, lines, changed_every=1000, skip_every=997)
    print(f"{lines:,} clips: two locks of {a.stat().st_size / 1e6:.0f} MB written in {time.perf_counter() - t0:.0f} s")
    s, mb = timed(RUN, "diff", str(a), str(b), "--format", "json")
    print(f"  avdata diff:                     {s:7.1f} s  {lines / s:10,.0f} clips/s  peak {mb:6.0f} MB")
    index = tmp / "src_unbalanced_train_segments.csv"
    with open(index, "w") as fh:
        for i in range(lines):
            fh.write(json.dumps({"dir": "all_0_35000", "aclip": ["p0.mp3"],
                                 "frame": [f"p0.4_0{k}.jpg" for k in range(1, 5)], "id": f"{i:011d}",
                                 "bos": "0.000", "eos": "10.000", "labels": ["/m/09x0r"]}) + "\n")
    (tmp / "media").mkdir()
    s, mb = timed(RUN, "lock", str(index), "--media", str(tmp / "media"), "-o", str(tmp / "c.lock"))
    print(f"  avdata lock (media absent):      {s:7.1f} s  {lines / s:10,.0f} lines/s  peak {mb:6.0f} MB")
    s, kb, recall, found = map(float, timed_fields(SEARCH, str(lines)))
    print(f"  duplicate search (FAISS IVF):    {s:7.1f} s  {lines / s:10,.0f} clips/s  peak {kb / 1024:6.0f} MB  "
          f"recall of 1,000 planted pairs {recall:.3f} ({found:.0f} pairs found)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=25)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--full", action="store_true", help="part 2 at 2,000,000 clips")
    ap.add_argument("--skip-part1", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_audit_"))
    try:
        if not args.skip_part1:
            part1(tmp, args.per_class)
        part2(tmp, 2_000_000 if args.full else args.lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
