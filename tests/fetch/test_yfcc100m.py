"""``--source yfcc100m`` against a real S3 API on loopback (moto server mode): objects land
byte-identical, a missing one is permanent, throttling is transient and retried, a cut-short read
is retried, and the HTTPS fallback serves when S3 cannot be reached."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import moto.server as moto_server
import pytest

from avdata.errors import AvdataError
from avdata.fetch import FetchOptions, fetch
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.fetch.yfcc100m import DEFAULT_HTTPS, YfccSettings
from avdata.manifest import latest, read_manifest
from avdata.media.synth import SynthSpec, make_video
from avdata.table import clips_from_records, write_clips
from loopback import LoopbackServer
from s3_loopback import S3Proxy


BUCKET = "multimedia-commons"
KEYS = {
    "good": "data/videos/mp4/827/f6b/827f6b53467db2d5218ed8247418c4c.mp4",
    "slow": "data/videos/mp4/0a1/b2c/0a1b2c3d4e5f60718293a4b5c6d7e8f.mp4",
    "cut": "data/videos/mp4/fed/cba/fedcba9876543210fedcba98765432.mp4",
    "gone": "data/videos/mp4/000/000/00000000000000000000000000000.mp4",
}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[tuple[str, int]]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A third MP4, distinct from small_video and long_video (the object whose first read is cut)."""
    p = tmp_path_factory.mktemp("media") / "cut.mp4"
    make_video(p, SynthSpec(duration=3.0, width=80, height=48, fps=10, channels=1, sample_rate=16000,
                            audio_bitrate=32000, keyint_seconds=1.0))
    return p.read_bytes()


@pytest.fixture
def bucket(s3_server: tuple[str, int], small_video: bytes, long_video: bytes,
           cut_video: bytes) -> dict[str, bytes]:
    """The bucket with three media objects (distinct bytes), created afresh for each test."""
    client = boto3.client("s3", endpoint_url=f"http://{s3_server[0]}:{s3_server[1]}", region_name="us-west-2",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        client.create_bucket(Bucket=BUCKET, ACL="public-read",
                             CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    objects = {KEYS["good"]: small_video, KEYS["slow"]: long_video, KEYS["cut"]: cut_video}
    for key, body in objects.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body, ACL="public-read")   # public, as the real one
    return objects


def _clips(path: Path, keys: list[str]) -> Path:
    rows = [dict(clip_id=f"c{i}", source=k, source_kind="path", start=0.0, end=1.0, dataset="audioscope_v2",
                 split="test", origin_file="l.csv", origin_line=i + 1) for i, k in enumerate(keys)]
    write_clips(clips_from_records(rows), path)
    return path


def _options(tmp_path: Path, source: str, **kw) -> FetchOptions:
    base = dict(source=source, out=tmp_path / "out", workers=2, max_attempts=4, backoff=0.01, max_backoff=0.05,
                min_free_bytes=0, timeout=10.0, progress=False)
    base.update(kw)
    return FetchOptions(**base)


def _rows(opts: FetchOptions) -> dict[str, dict]:
    t = latest(read_manifest(opts.manifest_path(), FETCH_MANIFEST_SCHEMA), ["source"])
    return {r["source"]: r for r in t.to_pylist()}


@pytest.mark.slow
def test_s3_objects_throttling_cut_reads_and_missing(tmp_path: Path, s3_server: tuple[str, int],
                                                     bucket: dict[str, bytes]) -> None:
    with S3Proxy(s3_server) as proxy:
        proxy.slow_first[KEYS["slow"]] = 2          # two 503 SlowDown answers, then service
        proxy.cut_first[KEYS["cut"]] = 1            # the first GET body stops half way
        opts = _options(tmp_path, f"yfcc100m:endpoint={proxy.url}&https=none")
        summary = fetch(_clips(tmp_path / "c.parquet", list(KEYS.values())), opts)
        rows = _rows(opts)
        assert {k: rows[v]["status"] for k, v in KEYS.items()} == {
            "good": "ok", "slow": "ok", "cut": "ok", "gone": "not_found"}
        assert summary.counts == {"ok": 3, "not_found": 1}
        for key, body in bucket.items():
            got = (opts.out / key).read_bytes()
            assert got == body                                               # byte-identical
            assert rows[key]["checksum"] == f"md5:{hashlib.md5(body).hexdigest()}"   # the ETag was checked
            assert rows[key]["url"] == f"s3://{BUCKET}/{key}" and rows[key]["backend"] == "yfcc100m"
        assert rows[KEYS["good"]]["attempts"] == 1
        assert rows[KEYS["slow"]]["attempts"] == 3                           # throttled twice, retried
        assert rows[KEYS["cut"]]["attempts"] == 2                            # the cut read retried once
        gone = rows[KEYS["gone"]]
        assert gone["transient"] is False and gone["attempts"] == 1          # permanent: asked once
        # a rerun skips what is done and the known-missing object without asking the server
        requests_before = sum(proxy.requests.values())
        again = fetch(tmp_path / "c.parquet", opts)
        assert again.skipped_done == 3 and again.skipped_failed == 1
        assert sum(proxy.requests.values()) == requests_before


def test_throttled_until_attempts_run_out_is_transient(tmp_path: Path, s3_server: tuple[str, int],
                                                       bucket: dict[str, bytes]) -> None:
    with S3Proxy(s3_server) as proxy:
        proxy.slow_first[KEYS["good"]] = 100
        # without the circuit breaker a rate limit counts as an attempt (with it, the run would pause)
        opts = _options(tmp_path, f"yfcc100m:endpoint={proxy.url}&https=none", max_attempts=3,
                        breaker_threshold=0)
        fetch(_clips(tmp_path / "c.parquet", [KEYS["good"]]), opts)
        row = _rows(opts)[KEYS["good"]]
        assert row["status"] == "rate_limited" and row["transient"] is True and row["attempts"] == 3
        assert proxy.requests[KEYS["good"]] == 3                             # no hidden retries below us
        assert not (opts.out / KEYS["good"]).exists()


def test_https_fallback_when_s3_is_unreachable(tmp_path: Path, bucket: dict[str, bytes]) -> None:
    with socket.socket() as s:                   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with LoopbackServer({"/" + KEYS["good"]: bucket[KEYS["good"]]}) as web:
        opts = _options(tmp_path, f"yfcc100m:endpoint=http://127.0.0.1:{dead}&https={web.url}/{{path}}")
        fetch(_clips(tmp_path / "c.parquet", [KEYS["good"], KEYS["gone"]]), opts)
        rows = _rows(opts)
        assert rows[KEYS["good"]]["status"] == "ok" and rows[KEYS["good"]]["url"] == f"{web.url}/{KEYS['good']}"
        assert (opts.out / KEYS["good"]).read_bytes() == bucket[KEYS["good"]]
        assert rows[KEYS["gone"]]["status"] == "not_found"


def test_settings_from_uri() -> None:
    assert YfccSettings.from_uri("yfcc100m") == YfccSettings()
    assert YfccSettings().https == DEFAULT_HTTPS and YfccSettings().bucket == BUCKET
    s = YfccSettings.from_uri("yfcc100m:endpoint=http://127.0.0.1:9000&https=none&region=eu-west-1")
    assert (s.endpoint, s.https, s.region) == ("http://127.0.0.1:9000", None, "eu-west-1")
    with pytest.raises(AvdataError, match="unknown setting 'colour'"):
        YfccSettings.from_uri("yfcc100m:colour=red")


def test_without_s3fs(tmp_path: Path, bucket: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    import avdata.fetch.yfcc100m as yfcc
    from avdata.errors import MissingExtraError

    real = yfcc.importlib.util.find_spec
    monkeypatch.setattr(yfcc.importlib.util, "find_spec", lambda name, *a: None if name == "s3fs" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"avdata\[s3\]"):
        fetch(_clips(tmp_path / "c.parquet", [KEYS["good"]]), _options(tmp_path, "yfcc100m:https=none"))
    with LoopbackServer({"/" + KEYS["good"]: bucket[KEYS["good"]]}) as web:
        opts = _options(tmp_path, f"yfcc100m:https={web.url}/{{path}}")
        fetch(tmp_path / "c.parquet", opts)                       # HTTPS only, S3 never asked
        assert (opts.out / KEYS["good"]).read_bytes() == bucket[KEYS["good"]]
        assert _rows(opts)[KEYS["good"]]["url"].startswith(web.url)


def test_proxies_refused_up_front_for_s3(tmp_path: Path) -> None:
    proxies = tmp_path / "proxies.txt"
    proxies.write_text("http://127.0.0.1:9/\n")
    opts = _options(tmp_path, "yfcc100m:endpoint=http://127.0.0.1:9&https=none", proxies=proxies)
    with pytest.raises(AvdataError, match="s3:// sources are not fetched through proxies"):
        fetch(_clips(tmp_path / "c.parquet", [KEYS["good"]]), opts)
    assert not (opts.out / KEYS["good"]).exists()
