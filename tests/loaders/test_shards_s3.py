"""issue 26: shards written to and streamed from an object store: moto's S3 server on loopback (a
real S3 API). Every shard object equals a local run's tar byte for byte; a killed run leaves no
object that looks finished and a rerun completes it; ShardReader streams the shards by URL with 2
workers and 2 ranks (every sample once) and resumes mid-epoch; an unreachable store is one line
before any work; a failing upload is retried."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fetch"))   # the S3 proxy of the fetch tests

from kill_loop import kill_after_progress  # noqa: E402
from s3_loopback import S3Proxy  # noqa: E402

from avdata.loaders import DatasetOptions, ShardReader, collate  # noqa: E402

pytestmark = pytest.mark.slow
BUCKET = "avdata-shards"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    old = {k: os.environ.get(k) for k in CREDS}
    os.environ.update(CREDS)          # credentials from the environment, as a user's would be
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _client(endpoint: str):  # noqa: ANN202
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3: str) -> str:
    client = _client(s3)
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return s3


def _keys(endpoint: str, prefix: str = "") -> list[str]:
    return [o["Key"] for o in _client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def _objects(endpoint: str, prefix: str = "") -> dict[str, bytes]:
    client = _client(endpoint)
    out = {}
    for k in _keys(endpoint, prefix):
        try:
            out[k] = client.get_object(Bucket=BUCKET, Key=k)["Body"].read()
        except client.exceptions.NoSuchKey:       # a run's write probe, removed between list and get
            pass
    return out


def _shards(demo_dir: Path, out: str, *extra: str, endpoint: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "avdata", "shards", str(demo_dir / "index" / "src_train_segments.csv"),
           "--media", str(demo_dir / "media"), "--out", out, "--target-size", "1.2MB", "--workers", "2", *extra]
    return cmd + (["--storage-option", f"endpoint_url={endpoint}"] if endpoint else [])


@pytest.fixture(scope="module")
def local_tars(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("local_shards")
    r = subprocess.run(_shards(demo_dir, str(out)), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.tar"))}


def test_shards_on_s3_equal_a_local_run_and_nothing_else_is_left(demo_dir: Path, bucket: str, tmp_path: Path,
                                                                local_tars: dict[str, str]) -> None:
    r = subprocess.run(_shards(demo_dir, f"s3://{BUCKET}/run1", "--state", str(tmp_path / "state"),
                               endpoint=bucket), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    objects = _objects(bucket, "run1/")
    tars = {k.split("/")[-1]: hashlib.sha256(v).hexdigest() for k, v in objects.items() if k.endswith(".tar")}
    assert tars == local_tars and len(tars) >= 4
    others = sorted(k for k in objects if not k.endswith(".tar"))
    assert "run1/src_train_segments.shards.json" in others
    assert all(k == "run1/src_train_segments.shards.json" or k.startswith("run1/shards_manifest.parquet/")
               for k in others), others           # no probe, no temporary object
    assert f"s3://{BUCKET}/run1/src_train_segments.shards.json" in r.stdout


def test_a_killed_run_leaves_no_partial_object_and_a_rerun_finishes(demo_dir: Path, bucket: str, tmp_path: Path,
                                                                    local_tars: dict[str, str]) -> None:
    cmd = _shards(demo_dir, f"s3://{BUCKET}/run2", "--state", str(tmp_path / "state"), "--workers", "1",
                  endpoint=bucket)
    killed = kill_after_progress(cmd, lambda: sum(k.endswith(".tar") for k in _keys(bucket, "run2/")),
                                 np.random.default_rng(1), window=(0.2, 0.6), settle=0.05)
    after_kill = _objects(bucket, "run2/")
    for key, body in after_kill.items():          # whatever is there is whole: a finished tar, never a part
        if key.endswith(".tar"):
            assert hashlib.sha256(body).hexdigest() == local_tars[key.split("/")[-1]]
    if killed:
        assert "run2/src_train_segments.shards.json" not in after_kill
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    tars = {k.split("/")[-1]: hashlib.sha256(v).hexdigest() for k, v in _objects(bucket, "run2/").items()
            if k.endswith(".tar")}
    assert tars == local_tars
    assert "already complete" in r.stdout


def test_shard_reader_streams_from_s3_every_sample_once_and_resumes(demo_dir: Path, bucket: str,
                                                                   tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    stateful = pytest.importorskip("torchdata.stateful_dataloader")
    r = subprocess.run(_shards(demo_dir, f"s3://{BUCKET}/run3", "--state", str(tmp_path / "state"),
                               endpoint=bucket), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    url = f"s3://{BUCKET}/run3/src_train_segments.shards.json"
    so = {"endpoint_url": bucket}
    opts = DatasetOptions(media=str(demo_dir / "media"), outputs=("labels", "image"))
    seen = []
    for rank in (0, 1):
        reader = ShardReader(url, opts, rank=rank, world_size=2, storage_options=so)
        loader = torch.utils.data.DataLoader(reader, batch_size=1, num_workers=2, collate_fn=collate)
        batches = list(loader)
        assert all(b["image"].shape == (1, 3, 224, 224) for b in batches)
        seen += [int(b["index"][0]) for b in batches]
    assert sorted(seen) == list(range(12))

    def make():  # noqa: ANN202
        return stateful.StatefulDataLoader(ShardReader(url, opts, rank=0, world_size=2, storage_options=so),
                                           batch_size=1, num_workers=2, collate_fn=collate)

    full = [int(b["index"][0]) for b in make()]
    first = make()
    it = iter(first)
    head = [int(next(it)["index"][0]) for _ in range(2)]
    state = first.state_dict()
    del it, first
    again = make()
    again.load_state_dict(state)
    assert head + [int(b["index"][0]) for b in again] == full


def test_an_unreachable_store_is_one_line_before_any_work(demo_dir: Path, tmp_path: Path, bucket: str) -> None:
    state = tmp_path / "state"
    r = subprocess.run(_shards(demo_dir, "s3://no-such-bucket-here/x", "--state", str(state), endpoint=bucket),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 3 and "cannot write to s3://no-such-bucket-here/x" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not state.exists()
    r = subprocess.run(_shards(demo_dir, f"s3://{BUCKET}/y", "--state", str(state), endpoint="http://127.0.0.1:9"),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1 and not state.exists()


def test_a_failing_upload_is_retried_and_the_object_is_whole(demo_dir: Path, bucket: str, tmp_path: Path,
                                                             local_tars: dict[str, str]) -> None:
    host, port = bucket.removeprefix("http://").split(":")
    with S3Proxy((host, int(port))) as proxy:
        key = "run4/src_train_segments-000001.tar"
        proxy.slow_first[key] = 12          # more 503s than botocore retries by itself
        r = subprocess.run(_shards(demo_dir, f"s3://{BUCKET}/run4", "--state", str(tmp_path / "state"),
                                   endpoint=proxy.url), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert proxy.requests[key] > 12
    body = _objects(bucket, "run4/")[key]
    assert hashlib.sha256(body).hexdigest() == local_tars["src_train_segments-000001.tar"]


def test_the_ray_workers_upload_the_shards_themselves(demo_dir: Path, bucket: str, tmp_path: Path,
                                                      local_tars: dict[str, str], ray_session: None) -> None:
    """The chain's last step on Ray: workers write and upload the tars (the driver keeps only the
    manifest); the objects equal a local run's."""
    from avdata.loaders.shards import ShardOptions, write_shards

    so = (("endpoint_url", bucket), ("key", CREDS["AWS_ACCESS_KEY_ID"]), ("secret", CREDS["AWS_SECRET_ACCESS_KEY"]))
    res = write_shards(ShardOptions(index=str(demo_dir / "index" / "src_train_segments.csv"),
                                    media=str(demo_dir / "media"), out=f"s3://{BUCKET}/ray", target_size=1_200_000,
                                    executor="ray", workers=2, storage_options=so, state=str(tmp_path / "state"),
                                    show_progress=False))
    assert not res.failed and res.written == len(local_tars)
    tars = {k.split("/")[-1]: hashlib.sha256(v).hexdigest() for k, v in _objects(bucket, "ray/").items()
            if k.endswith(".tar")}
    assert tars == local_tars
    assert not list((tmp_path / "state").glob("*.tar"))          # nothing went through the driver's disk
