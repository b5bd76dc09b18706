"""Benchmark the ``local`` and ``ray`` executors on the extraction benchmark's corpus, in one run.

For each executor, with the same number of CPUs (``--workers``, default 2):
  start-up      ray: ``ray.init`` of a local instance; both: the first no-op item through a fresh
                pool (process or actor start)
  overhead      per-item cost of the executor itself: ``--noop`` trivial items, wall time / item
  extract       ``run_extract`` of the corpus (24 videos, 71 clips; files, manifest, everything),
                clips/s; Ray's cluster is already up (its figure is "once started")
  fetch         ``avdata fetch`` of ``--fetch`` small videos from a loopback HTTP server that waits
                ``--latency`` s before each body (a stand-in for a remote server), ``--fetch-workers``
                downloads in flight: the default threads vs ``--executor ray`` (each attempt a Ray
                task), videos/s, and the ideal ``fetch-workers / latency``

Run: ``python benchmarks/bench_executors.py [--workers 2] [--noop 2000] [--fetch 64 --latency 0.2]``
(needs the ``ray`` extra; the corpus is generated once under benchmarks/_work/ by ``bench_extract.py``'s
generator; ``--skip-extract``: the fetch figures only).
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


def _serve(files: dict[str, bytes], latency: float):  # noqa: ANN202  (server, thread)
    """A loopback HTTP server for ``files`` that sleeps ``latency`` s before each GET's body."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, body: bool) -> None:
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            if body:
                time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_HEAD(self) -> None:
            self._answer(False)

        def do_GET(self) -> None:
            self._answer(True)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


def fetch_rate(name: str, n: int, workers: int, latency: float) -> float:
    """Videos/s of ``avdata fetch`` with executor ``name`` over ``n`` loopback downloads."""
    from avdata.fetch import FetchOptions, fetch
    from avdata.media.synth import SynthSpec, make_video
    from avdata.table import clips_from_records, write_clips

    work = HERE / "_work" / "fetch"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    make_video(work / "v.mp4", SynthSpec(duration=1.0, width=64, height=48, fps=10, channels=1,
                                         sample_rate=16000, audio_bitrate=32000))
    video = (work / "v.mp4").read_bytes()
    ids = [f"bench{i:06d}" for i in range(n)]
    write_clips(clips_from_records([dict(clip_id=f"c{i}", source=v, source_kind="youtube", start=0.0, end=1.0,
                                         dataset="audioset", split="eval", origin_file="bench.csv",
                                         origin_line=i + 1) for i, v in enumerate(ids)]), work / "clips.parquet")
    httpd, thread = _serve({f"/v/{v}.mp4": video for v in ids}, latency)
    try:
        t0 = time.perf_counter()
        s = fetch(work / "clips.parquet", FetchOptions(source=f"http://127.0.0.1:{httpd.server_port}/v/{{id}}.mp4",
                                                       out=work / name, workers=workers, executor=name,
                                                       min_free_bytes=0, progress=False))
        secs = time.perf_counter() - t0
    finally:
        httpd.shutdown()
        httpd.server_close()
    if s.counts != {"ok": n}:
        raise SystemExit(f"fetch {name}: {dict(s.counts)}")
    return n / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--noop", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--fetch", type=int, default=64, help="videos for the fetch figures (0: skip)")
    ap.add_argument("--fetch-workers", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--skip-extract", action="store_true", help="only the fetch figures")
    args = ap.parse_args()
    from bench_extract import WORK, make_corpus

    from avdata.executors.ray import ensure_ray

    t0 = time.perf_counter()
    ensure_ray(None, args.workers)
    ray_init = time.perf_counter() - t0
    print(f"ray.init (local instance, {args.workers} CPUs): {ray_init:.2f} s")
    if args.fetch:
        ideal = args.fetch_workers / args.latency
        print(f"fetch of {args.fetch} videos, {args.fetch_workers} in flight, {args.latency:g} s latency each "
              f"(ideal {ideal:.1f} videos/s; ray's first run includes its workers' start):")
        best = {}
        for name in ("local", "ray"):
            rates = [fetch_rate(name, args.fetch, args.fetch_workers, args.latency) for _ in range(2)]
            best[name] = max(rates)
            print(f"  {'threads' if name == 'local' else name:8} " + "  ".join(f"{r:6.2f}" for r in rates)
                  + " videos/s (run 1, run 2)")
        print(f"  ray / threads: {best['ray'] / best['local']:.3f} (best runs)")
    if args.skip_extract:
        return
    clips = make_corpus(args.workers)
    videos = WORK / "videos"
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
