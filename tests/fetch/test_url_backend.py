"""The fsspec URL backend against a real loopback HTTP server that misbehaves on purpose."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import av
import pytest

from avdata.fetch import FetchOptions, fetch, fetch_report
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from fetch_tables import clip_table
from loopback import Behaviour, LoopbackServer

IDS = {
    "good": "goodvideo01",
    "drop": "dropsonce01",
    "flaky": "error500a01",
    "gone": "notthere404",
    "wrong": "wronglength",
    "badsum": "badchecksum",
}


def _options(tmp_path: Path, server: LoopbackServer, **kw) -> FetchOptions:
    base = dict(source=server.url + "/v/{id}.mp4", out=tmp_path / "out", workers=3, max_attempts=3,
                backoff=0.01, max_backoff=0.05, min_free_bytes=0, timeout=10.0, progress=False)
    base.update(kw)
    return FetchOptions(**base)


def test_fetch_completes_what_it_can_and_classifies_the_rest(tmp_path: Path, server: LoopbackServer,
                                                               small_video: bytes) -> None:
    for key, vid in IDS.items():
        if key != "gone":
            server.files[f"/v/{vid}.mp4"] = small_video
    server.behaviours[f"/v/{IDS['drop']}.mp4"] = Behaviour(drop_first=1, drop_after=5000)
    server.behaviours[f"/v/{IDS['flaky']}.mp4"] = Behaviour(fail_first=1, fail_status=500)
    server.behaviours[f"/v/{IDS['wrong']}.mp4"] = Behaviour(wrong_length=777)
    wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    right_md5 = base64.b64encode(hashlib.md5(small_video).digest()).decode()
    server.behaviours[f"/v/{IDS['badsum']}.mp4"] = Behaviour(extra_headers={"Content-MD5": wrong_md5})
    server.behaviours[f"/v/{IDS['good']}.mp4"] = Behaviour(extra_headers={"Content-MD5": right_md5})
    # two clips share a source: it is fetched once
    clips = clip_table(tmp_path / "clips.parquet",
                       [(v, "youtube") for v in IDS.values()] + [(IDS["good"], "youtube")])
    opts = _options(tmp_path, server)

    summary = fetch(clips, opts)

    rows = {r["source"]: r for r in latest(read_manifest(opts.manifest_path(), FETCH_MANIFEST_SCHEMA),
                                           ["source"]).to_pylist()}
    assert {k: rows[v]["status"] for k, v in IDS.items()} == {
        "good": "ok", "drop": "ok", "flaky": "ok", "gone": "not_found",
        "wrong": "size_mismatch", "badsum": "checksum_mismatch"}
    assert summary.counts == {"ok": 3, "not_found": 1, "size_mismatch": 1, "checksum_mismatch": 1}
    # transient ones retried until they worked or ran out of attempts; the 404 asked once
    assert rows[IDS["good"]]["attempts"] == 1 and server.gets[f"/v/{IDS['good']}.mp4"] == 1
    assert rows[IDS["drop"]]["attempts"] == 2 and server.gets[f"/v/{IDS['drop']}.mp4"] == 2
    assert rows[IDS["flaky"]]["attempts"] == 2
    assert rows[IDS["wrong"]]["attempts"] == 3 and rows[IDS["wrong"]]["transient"] is True
    assert rows[IDS["gone"]]["attempts"] == 1 and rows[IDS["gone"]]["transient"] is False
    assert rows[IDS["good"]]["checksum"] == "md5:" + hashlib.md5(small_video).hexdigest()
    # the completed files are byte-identical and decode; failed ones left nothing behind
    out = opts.out
    for key in ("good", "drop", "flaky"):
        row = rows[IDS[key]]
        assert row["path"] == f"{IDS[key]}.mp4" and row["offset"] == 0.0
        assert (out / row["path"]).read_bytes() == small_video
        with av.open(str(out / row["path"])) as c:
            assert sum(1 for _ in c.decode(video=0)) == 20
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{IDS[k]}.mp4" for k in ("good", "drop", "flaky")]
                           + ["fetch_archive.jsonl", "fetch_manifest.parquet"])

    # the report counts per class and the fraction available
    report = fetch_report(opts.manifest_path(), clips)
    assert report.sources == 6 and report.available == 3 and report.fraction == pytest.approx(0.5)
    assert report.clips == 7 and report.clips_available == 4
    assert "not_found" in report.format() and "50.00%" in report.format()

    # a rerun fetches nothing that is done, skips the permanent 404, retries the transient failures
    before = dict(server.gets)
    again = fetch(clips, opts)
    assert again.skipped_done == 3 and again.skipped_failed == 1
    assert server.gets[f"/v/{IDS['good']}.mp4"] == before[f"/v/{IDS['good']}.mp4"]
    assert server.gets[f"/v/{IDS['gone']}.mp4"] == before[f"/v/{IDS['gone']}.mp4"]
    assert server.gets[f"/v/{IDS['wrong']}.mp4"] == before[f"/v/{IDS['wrong']}.mp4"] + 3
    # unless asked to retry permanent failures too
    fetch(clips, _options(tmp_path, server, retry_permanent=True))
    assert server.heads[f"/v/{IDS['gone']}.mp4"] > 1


def test_file_url_template_with_paths_keeps_the_tree(tmp_path: Path, small_video: bytes) -> None:
    store = tmp_path / "store" / "data" / "videos" / "mp4"
    rel = "827/f6b/827f6b53467db2d5218ed8247418c4c.mp4"
    (store / rel).parent.mkdir(parents=True)
    (store / rel).write_bytes(small_video)
    clips = clip_table(tmp_path / "clips.parquet", [(rel, "path"), ("827/f6b/absent.mp4", "path")])
    opts = FetchOptions(source=f"file://{tmp_path}/store/data/videos/mp4/{{path}}", out=tmp_path / "out",
                        workers=2, backoff=0.01, min_free_bytes=0, progress=False)
    summary = fetch(clips, opts)
    assert summary.counts == {"ok": 1, "not_found": 1}
    assert (opts.out / rel).read_bytes() == small_video


def test_disk_full_stops_cleanly_and_keeps_completed_work(tmp_path: Path, server: LoopbackServer,
                                                          small_video: bytes) -> None:
    import shutil

    from avdata.errors import DiskFullError

    ids = [f"diskfull{i:03d}" for i in range(6)]
    for v in ids:
        server.files[f"/v/{v}.mp4"] = small_video
    first = clip_table(tmp_path / "a.parquet", [(v, "youtube") for v in ids[:2]])
    everything = clip_table(tmp_path / "b.parquet", [(v, "youtube") for v in ids])
    opts = _options(tmp_path, server)
    assert fetch(first, opts).counts == {"ok": 2}
    free = shutil.disk_usage(tmp_path).free
    full = _options(tmp_path, server, min_free_bytes=free * 4)    # more than this disk can ever have
    with pytest.raises(DiskFullError, match="bytes free") as info:
        fetch(everything, full)
    assert info.value.summary.skipped_done == 2
    rows = latest(read_manifest(opts.manifest_path(), FETCH_MANIFEST_SCHEMA), ["source"]).to_pylist()
    assert sorted(r["source"] for r in rows) == ids[:2]      # no verdict recorded for the stopped ones
    assert all((opts.out / f"{v}.mp4").read_bytes() == small_video for v in ids[:2])
    assert not [p for p in opts.out.iterdir() if p.name.startswith(".avdata~tmp-")]
    assert fetch(everything, opts).counts == {"ok": 4}        # the rerun with room finishes the job


class _FillingDisk:
    """Files opened for writing share ``budget`` bytes; the write that overflows it fails with
    ENOSPC, as a real disk filling up mid-download does."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def open(self, path, mode="r", *args, **kwargs):  # noqa: ANN001, ANN201
        fh = open(path, mode, *args, **kwargs)
        if "w" not in mode:
            return fh
        disk = self

        class Writer:
            def __enter__(self):  # noqa: ANN204
                return self

            def __exit__(self, *exc):  # noqa: ANN002, ANN204
                fh.close()

            def write(self, data: bytes) -> int:
                import errno

                if len(data) > disk.budget:
                    raise OSError(errno.ENOSPC, "No space left on device", str(path))
                disk.budget -= len(data)
                return fh.write(data)

        return Writer()


def test_disk_filling_up_mid_download_stops_cleanly(tmp_path: Path, server: LoopbackServer,
                                                    small_video: bytes, monkeypatch) -> None:
    """ENOSPC in the middle of a body (not caught by the free-space check before it): the run stops
    with DiskFullError, the partial file is gone, finished videos stay recorded, the rerun finishes."""
    from avdata.errors import DiskFullError
    from avdata.fetch import url as url_backend

    ids = [f"filling{i:04d}" for i in range(5)]
    for v in ids:
        server.files[f"/v/{v}.mp4"] = small_video
    clips = clip_table(tmp_path / "c.parquet", [(v, "youtube") for v in ids])
    opts = _options(tmp_path, server, workers=1, chunk_bytes=max(1, len(small_video) // 4))
    disk = _FillingDisk(budget=2 * len(small_video) + len(small_video) // 2)   # room for 2.5 videos
    monkeypatch.setattr(url_backend, "open", disk.open, raising=False)
    with pytest.raises(DiskFullError, match="disk full") as info:
        fetch(clips, opts)
    assert info.value.summary.counts == {"ok": 2}
    rows = latest(read_manifest(opts.manifest_path(), FETCH_MANIFEST_SCHEMA), ["source"]).to_pylist()
    assert sorted(r["source"] for r in rows) == ids[:2] and {r["status"] for r in rows} == {"ok"}
    assert sorted(p.name for p in opts.out.glob("*.mp4")) == [f"{v}.mp4" for v in ids[:2]]
    assert all((opts.out / f"{v}.mp4").read_bytes() == small_video for v in ids[:2])
    assert not [p for p in opts.out.iterdir() if p.name.startswith(".avdata~tmp-")]
    gets = dict(server.gets)
    assert gets[f"/v/{ids[2]}.mp4"] == 1 and f"/v/{ids[3]}.mp4" not in gets   # stopped at the third
    monkeypatch.undo()
    assert fetch(clips, opts).counts == {"ok": 3}               # room again: the rerun finishes
    assert all(server.gets[f"/v/{v}.mp4"] == gets[f"/v/{v}.mp4"] == 1 for v in ids[:2])
    assert all((opts.out / f"{v}.mp4").read_bytes() == small_video for v in ids)
