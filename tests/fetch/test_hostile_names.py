"""Ids and paths are data: leading '-', spaces, quotes, '..', absolute paths never escape the output
directory, never become options, never reach a shell."""

from __future__ import annotations

from pathlib import Path

from avdata.fetch import FetchOptions, fetch
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from fetch_tables import clip_table
from loopback import LoopbackServer

HOSTILE_PATHS = ["../escape.mp4", "a/../../escape.mp4", "/etc/passwd", "/tmp/abs.mp4", "a\\..\\b.mp4", ""]
ODD_BUT_FINE = ["with space/it's \"quoted\".mp4", "-rf.mp4", "--output=x.mp4", "a;b|c$(touch pwned).mp4"]


def _files_outside(root: Path, out: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and out not in p.parents and p.parent != root]


def _rows(opts: FetchOptions) -> dict[str, dict]:
    return {r["source"]: r for r in latest(read_manifest(opts.manifest_path(), FETCH_MANIFEST_SCHEMA),
                                           ["source"]).to_pylist()}


def test_url_backend_with_hostile_paths(tmp_path: Path, server: LoopbackServer, small_video: bytes) -> None:
    for rel in ODD_BUT_FINE:
        server.files["/store/" + rel] = small_video
    server.files["/escape.mp4"] = b"should never be requested"
    sources = [(p, "path") for p in HOSTILE_PATHS if p] + [(p, "path") for p in ODD_BUT_FINE]
    clips = clip_table(tmp_path / "clips.parquet", sources)
    out = tmp_path / "work" / "out"
    opts = FetchOptions(source=server.url + "/store/{path}", out=out, workers=2, backoff=0.01,
                        min_free_bytes=0, progress=False)
    fetch(clips, opts)
    rows = _rows(opts)
    for p in HOSTILE_PATHS:
        if p:
            assert rows[p]["status"] == "unsafe_path" and rows[p]["attempts"] == 1
    for p in ODD_BUT_FINE:
        assert rows[p]["status"] == "ok", rows[p]
        assert (out / p).read_bytes() == small_video and (out / p).resolve().is_relative_to(out.resolve())
    assert "/escape.mp4" not in server.gets
    assert not (tmp_path / "work" / "escape.mp4").exists() and not Path("/tmp/abs.mp4").exists()
    assert not (Path.cwd() / "pwned").exists()


def test_youtube_ids_beginning_with_dash_stay_data(tmp_path: Path, server: LoopbackServer,
                                                   small_video: bytes) -> None:
    ids = ["-rf_aaaaaaa", "--version12", "-o_evilxxxx"]
    for vid in ids:
        server.files[f"/v/{vid}.mp4"] = small_video
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids] +
                       [("../../etc/x", "youtube"), ("a b'c\"d", "youtube")])
    for source in (server.url + "/v/{id}.mp4", f"ytdlp:{server.url}/v/{{id}}.mp4"):
        out = tmp_path / source.partition(":")[0]
        opts = FetchOptions(source=source, out=out, workers=2, backoff=0.01, min_free_bytes=0,
                            sections=False, progress=False)
        fetch(clips, opts)
        rows = _rows(opts)
        for vid in ids:
            assert rows[vid]["status"] == "ok" and (out / f"{vid}.mp4").read_bytes() == small_video
        assert rows["../../etc/x"]["status"] in ("unsafe_path", "bad_source")
        assert rows["a b'c\"d"]["status"] in ("unsafe_path", "bad_source")
        assert sorted(p.name for p in out.iterdir() if p.suffix == ".mp4") == sorted(f"{v}.mp4" for v in ids)


def test_dir_backend_refuses_paths_out_of_the_tree_follows_the_users_links(tmp_path: Path,
                                                                          small_video: bytes) -> None:
    """The link rule (avdata.paths): data never climbs out of the tree; the user's links are followed,
    and what a link out of the tree leads to must be media."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "ok video.mp4").write_bytes(small_video)
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"secret")
    (tree / "sneaky.mp4").symlink_to(secret)        # a link inside the tree pointing out of it, not media
    disk2 = tmp_path / "disk2"
    disk2.mkdir()
    (disk2 / "far.mp4").write_bytes(small_video)
    (tree / "other").symlink_to(disk2)              # a user's folder on another disk
    clips = clip_table(tmp_path / "clips.parquet",
                       [("sub/ok video.mp4", "path"), ("../secret.mp4", "path"), ("sneaky.mp4", "path"),
                        (str(secret), "path"), ("other/far.mp4", "path")])
    opts = FetchOptions(source=f"dir:{tree}", out=tmp_path / "out", link=True, min_free_bytes=0, progress=False)
    fetch(clips, opts)
    rows = _rows(opts)
    assert rows["sub/ok video.mp4"]["status"] == "ok"
    assert (opts.out / "sub" / "ok video.mp4").read_bytes() == small_video
    assert {rows[s]["status"] for s in ("../secret.mp4", str(secret))} == {"unsafe_path"}
    assert rows["sneaky.mp4"]["status"] == "not_media"
    assert rows["other/far.mp4"]["status"] == "ok"
    assert (opts.out / "other" / "far.mp4").read_bytes() == small_video
    assert sorted(p.name for p in opts.out.rglob("*.mp4")) == ["far.mp4", "ok video.mp4"]
