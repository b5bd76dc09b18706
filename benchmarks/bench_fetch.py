"""Fetch throughput on loopback: N files of SIZE bytes served by a local HTTP server, fetched by
``avdata.fetch`` (URL backend) with 1, 4 and 16 workers, beside curl (or wget) fetching the same
files one after another in one process. The server runs in a child process of its own, so that it
does not share the fetcher's interpreter lock. Prints MB/s for each.

    python benchmarks/bench_fetch.py [--files 200] [--mb 2] [--workers 1 4 16]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))   # run from a checkout, installed or not

from avdata.fetch import FetchOptions, fetch  # noqa: E402
from avdata.media.synth import SynthSpec, make_video  # noqa: E402
from avdata.table import clips_from_records  # noqa: E402


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 128    # the default listen backlog (5) drops connections from 16 workers
    daemon_threads = True


def _serve(root: Path) -> tuple[int, multiprocessing.Process]:
    """Serve ``root`` from a child process (its own GIL, as a real server would be): (port, process)."""
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    proc = multiprocessing.get_context("fork").Process(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                                       daemon=True)
    proc.start()
    httpd.socket.close()          # the child keeps serving its copy of the socket
    return httpd.server_port, proc


def _check(out: Path, names: list[str], size: int) -> None:
    bad = [n for n in names if not (out / n).is_file() or (out / n).stat().st_size != size]
    if bad:
        raise SystemExit(f"{len(bad)} files missing or wrong size in {out}, e.g. {bad[0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--mb", type=float, default=2.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    args = ap.parse_args()
    size = max(100_000, int(args.mb * 1_000_000))
    total_mb = args.files * size / 1e6
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench_fetch_") as tmp:
        tmp_path = Path(tmp)
        srv_root = tmp_path / "srv" / "v"
        srv_root.mkdir(parents=True)
        ids = [f"bench{i:06d}" for i in range(args.files)]
        video = tmp_path / "head.mp4"        # fetch probes every download: real media, random tail
        make_video(video, SynthSpec(duration=2.0, width=64, height=48, fps=10, channels=1, sample_rate=16000))
        head = video.read_bytes()
        for vid in ids:
            (srv_root / f"{vid}.mp4").write_bytes(head + rng.bytes(max(0, size - len(head))))
        names = [f"{vid}.mp4" for vid in ids]
        port, server = _serve(tmp_path / "srv")
        base = f"http://127.0.0.1:{port}/v"
        try:
            print(f"fetch benchmark: {args.files} files x {args.mb:g} MB = {total_mb:.0f} MB over loopback "
                  f"(python {sys.version.split()[0]})")
            clips = clips_from_records(
                dict(clip_id=v, source=v, source_kind="youtube", start=0.0, end=10.0, dataset="bench",
                     split="bench", origin_file="bench", origin_line=i + 1) for i, v in enumerate(ids))
            for workers in args.workers:
                out = tmp_path / f"out{workers}"
                opts = FetchOptions(source=base + "/{id}.mp4", out=out, workers=workers, progress=False)
                t0 = time.perf_counter()
                summary = fetch(clips, opts)
                dt = time.perf_counter() - t0
                if summary.counts.get("ok") != args.files:
                    raise SystemExit(f"avdata fetch failed: {dict(summary.counts)}")
                _check(out, names, size)
                print(f"  avdata fetch, {workers:>2} workers: {dt:7.2f} s  {total_mb / dt:8.1f} MB/s")
                shutil.rmtree(out)
            tool = shutil.which("curl") or shutil.which("wget")
            if tool:
                out = tmp_path / "tool"
                out.mkdir()
                if Path(tool).name == "curl":
                    cmd = [tool, "--silent", "--show-error", "--fail"]
                    for n in names:
                        cmd += ["-o", str(out / n), f"{base}/{n}"]
                else:
                    cmd = [tool, "--quiet", "--directory-prefix", str(out)] + [f"{base}/{n}" for n in names]
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True)
                dt = time.perf_counter() - t0
                _check(out, names, size)
                print(f"  {Path(tool).name} (sequential):     {dt:7.2f} s  {total_mb / dt:8.1f} MB/s")
            else:
                print("  neither curl nor wget found: no baseline")
        finally:
            server.terminate()
            server.join()


if __name__ == "__main__":
    main()
