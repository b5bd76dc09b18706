"""Benchmark the ``local`` and ``ray`` executors on the extraction benchmark's corpus, in one run.

For each executor, with the same number of CPUs (``--workers``, default 2):
  start-up      ray: ``ray.init`` of a local instance; both: the first no-op item through a fresh
                pool (process or actor start)
  overhead      per-item cost of the executor itself: ``--noop`` trivial items, wall time / item
  extract       ``run_extract`` of the corpus (24 videos, 71 clips; files, manifest, everything),
                clips/s; Ray's cluster is already up (its figure is "once started")

Run: ``python benchmarks/bench_executors.py [--workers 2] [--noop 2000]`` (needs the ``ray`` extra;
the corpus is generated once under benchmarks/_work/ by ``bench_extract.py``'s generator).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))


def _noop(x: int) -> int:
    return x


def overhead(name: str, workers: int, n: int) -> tuple[float, float]:
    """(seconds to the first result of a fresh pool, seconds per item over ``n`` items)."""
    from avdata.executors import ExecutorSpec, build_executor

    ex = build_executor(ExecutorSpec(name, workers))
    t0 = time.perf_counter()
    it = ex.map_unordered(_noop, range(n))
    next(it)
    first = time.perf_counter() - t0
    rest = sum(1 for _ in it)
    total = time.perf_counter() - t0
    assert rest == n - 1
    return first, (total - first) / max(1, n - 1)


def extract(name: str, workers: int, clips: Path, videos: Path, out: Path) -> tuple[float, int]:
    from avdata.extract.run import ExtractOptions, run_extract

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_extract(clips, ExtractOptions(videos=str(videos), out=str(out), workers=workers, executor=name,
                                          show_progress=False))
    if s.failed:
        raise SystemExit(f"{name}: clips failed: {s.failed}")
    return time.perf_counter() - t0, s.clips_ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--noop", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from bench_extract import WORK, make_corpus

    from avdata.executors.ray import ensure_ray

    clips = make_corpus(args.workers)
    videos = WORK / "videos"
    t0 = time.perf_counter()
    ensure_ray(None, args.workers)
    ray_init = time.perf_counter() - t0
    print(f"ray.init (local instance, {args.workers} CPUs): {ray_init:.2f} s")
    print(f"{'executor':8} {'first item':>11} {'per item':>10} {'extract':>9} {'clips/s':>8} {'started':>8}"
          f"  (best of {args.repeat}; 'started': clips/s without the pool's start, i.e. the first item's wait)")
    rates: dict[str, float] = {}
    started: dict[str, float] = {}
    for name in ("local", "ray"):
        first, per_item = overhead(name, args.workers, args.noop)
        runs = [extract(name, args.workers, clips, videos, WORK / f"exec-{name}") for _ in range(args.repeat)]
        secs, n = min(runs)
        rates[name] = n / secs
        started[name] = n / max(1e-9, secs - first)
        print(f"{name:8} {first:10.2f}s {per_item * 1e6:8.0f}us {secs:8.2f}s {rates[name]:8.2f} {started[name]:8.2f}")
    print(f"ray / local throughput: {rates['ray'] / rates['local']:.3f} with start-up, "
          f"{started['ray'] / started['local']:.3f} once started (goal >= 0.90)")


if __name__ == "__main__":
    main()
