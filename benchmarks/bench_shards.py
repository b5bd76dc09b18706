"""Benchmark of ``avdata shards`` and ``ShardReader`` on local disk and on an S3 API on loopback.

The corpus is the labelled synthetic one of the tests (``tests/class_corpus.py``: ``--per-class``
clips of 4 classes, ``--seconds`` long) through extract and index. In one run, on the same lines:

- write: ``avdata shards`` (2 worker processes) to a local folder and to ``s3://`` on moto's S3
  server on loopback (the workers upload each tar whole): seconds, MB/s, samples/s;
- read: ``ShardReader`` over each shard list with a DataLoader of 0 and 2 workers, the samples
  read but not decoded (``outputs=("labels",)``: the I/O path) and decoded (fbank + image).

Loopback S3 is moto in this process's threads: it measures avdata's side of the protocol (request
pattern, streaming, uploads), not a real store's bandwidth.
``--ray`` adds the write with ``--executor ray`` (a local Ray instance; its workers upload).
Run: python benchmarks/bench_shards.py [--per-class 50] [--seconds 10] [--ray]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})

from class_corpus import build_corpus  # noqa: E402

BUCKET = "bench-shards"


def write(index: Path, media: Path, out: str, endpoint: str | None, state: Path, executor: str = "local") -> float:
    cmd = [sys.executable, "-m", "avdata", "shards", str(index), "--media", str(media), "--out", out,
           "--target-size", "8MB", "--workers", "2", "--state", str(state), "--executor", executor]
    if endpoint:
        cmd += ["--storage-option", f"endpoint_url={endpoint}"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    return time.perf_counter() - t0


def read(shard_list: str, media: Path, workers: int, decode: bool, endpoint: str | None) -> tuple[float, int]:
    import torch

    from avdata.loaders import DatasetOptions, ShardReader, collate

    opts = DatasetOptions(media=str(media), outputs=("fbank", "image", "labels") if decode else ("labels",))
    reader = ShardReader(shard_list, opts, storage_options={"endpoint_url": endpoint} if endpoint else None)
    loader = torch.utils.data.DataLoader(reader, batch_size=8, num_workers=workers, collate_fn=collate)
    t0 = time.perf_counter()
    n = sum(len(b["index"]) for b in loader)
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--ray", action="store_true", help="also write to S3 with --executor ray (a local Ray)")
    args = ap.parse_args()
    import logging

    import boto3
    import moto.server as moto_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)      # moto's server logs every request

    tmp = Path(tempfile.mkdtemp(prefix="bench_shards_"))
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    try:
        corpus = build_corpus(tmp / "corpus", per_class=args.per_class, seconds=args.seconds, workers=2)
        index, media = corpus.index, corpus.media
        n = len(corpus.ids)
        local = tmp / "shards"
        s_local = write(index, media, str(local), None, tmp / "state_local")
        s_s3 = write(index, media, f"s3://{BUCKET}/shards", endpoint, tmp / "state_s3")
        s_ray = write(index, media, f"s3://{BUCKET}/ray", endpoint, tmp / "state_ray", "ray") if args.ray else None
        size = sum(p.stat().st_size for p in local.glob("*.tar")) / 1e6
        print(f"{n} samples of {args.seconds:g} s, {size:.1f} MB of shards ({len(list(local.glob('*.tar')))} tars)")
        for where, s in (("local disk", s_local), ("S3 (loopback)", s_s3), ("S3 from Ray", s_ray)):
            if s is not None:
                print(f"  write to {where:14s} {s:6.2f} s  {size / s:7.1f} MB/s  {n / s:8.1f} samples/s"
                      + ("  (a local Ray instance started inside)" if where == "S3 from Ray" else ""))
        lists = {"local disk": (str(local / f"{index.stem}.shards.json"), None),
                 "S3 (loopback)": (f"s3://{BUCKET}/shards/{index.stem}.shards.json", endpoint)}
        for decode in (False, True):
            for workers in (0, 2):
                for where, (url, ep) in lists.items():
                    s, got = read(url, media, workers, decode, ep)
                    assert got == n, (got, n)
                    what = "decoded" if decode else "read   "
                    print(f"  read {what} {where:14s} {workers} workers  {s:6.2f} s  {size / s:7.1f} MB/s  "
                          f"{n / s:8.1f} samples/s")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
