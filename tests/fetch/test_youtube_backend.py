"""yt-dlp as a library: its generic extractor pointed at the loopback server (direct media URLs),
whole and section downloads, the fallback to whole videos, and error classes."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from avdata.fetch import FetchOptions, fetch
from avdata.fetch.classify import classify_message
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from avdata.media.synth import read_frame_time_ms
from fetch_tables import clip_table
from loopback import Behaviour, LoopbackServer


def _opts(tmp_path: Path, server: LoopbackServer, **kw) -> FetchOptions:
    base = dict(source=f"ytdlp:{server.url}/yt/{{id}}.mp4", out=tmp_path / "out", workers=2, max_attempts=2,
                backoff=0.01, max_backoff=0.02, min_free_bytes=0, timeout=10.0, progress=False)
    base.update(kw)
    return FetchOptions(**base)


def _rows(opts: FetchOptions) -> dict[str, dict]:
    t = latest(read_manifest(opts.manifest_path(), FETCH_MANIFEST_SCHEMA), ["source"])
    return {r["source"]: r for r in t.to_pylist()}


def _frame_times(path: Path, n: int = 3) -> list[tuple[float, float]]:
    """(local time, source time shown in the frame) of the first ``n`` frames and one 10 s later."""
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if len(out) < n or (frame.time >= 10.0 and len(out) == n):
                out.append((float(frame.time), read_frame_time_ms(frame.to_ndarray(format="rgb24")) / 1000))
            if len(out) > n:
                break
    return out


def test_whole_and_section_downloads_record_true_offsets(tmp_path: Path, server: LoopbackServer,
                                                         long_video: bytes) -> None:
    server.files["/yt/-wholevideo.mp4"] = long_video     # an id that looks like an option
    server.files["/yt/sectionvid1.mp4"] = long_video
    clips = tmp_path / "clips.parquet"
    clip_table(clips, [("-wholevideo", "youtube")], start=20.0, end=25.0)
    whole = _opts(tmp_path, server, sections=False)
    assert fetch(clips, whole).counts == {"ok": 1}
    row = _rows(whole)["-wholevideo"]
    assert row["path"] == "-wholevideo.mp4" and row["offset"] == 0.0 and row["section_end"] is None
    assert (whole.out / "-wholevideo.mp4").read_bytes() == long_video
    assert row["backend"] == "ytdlp" and row["url"].endswith("/yt/-wholevideo.mp4")

    clip_table(clips, [("sectionvid1", "youtube")], start=20.0, end=25.0)
    sect = _opts(tmp_path, server)
    assert fetch(clips, sect).counts == {"ok": 1}
    row = _rows(sect)["sectionvid1"]
    assert (row["offset"], row["section_end"]) == (7.0, 38.0)     # [20 - 13, 25 + 13]
    local = sect.out / row["path"]
    assert row["bytes"] == local.stat().st_size < len(long_video)
    for local_t, source_t in _frame_times(local):
        # the frame shown at local time t is the source frame at offset + t (to within one frame)
        assert abs(source_t - (row["offset"] + local_t)) <= 0.1 + 1e-6, (local_t, source_t)
    with av.open(str(local)) as c:
        assert 30.0 <= c.duration / 1e6 <= 32.0


def test_server_without_range_support_still_gives_true_offsets(tmp_path: Path, server: LoopbackServer,
                                                               long_video: bytes) -> None:
    server.files["/yt/norangesvid.mp4"] = long_video
    server.behaviours["/yt/norangesvid.mp4"] = Behaviour(ranges=False)
    clips = clip_table(tmp_path / "clips.parquet", [("norangesvid", "youtube")], start=20.0, end=25.0)
    opts = _opts(tmp_path, server)
    assert fetch(clips, opts).counts == {"ok": 1}
    row = _rows(opts)["norangesvid"]
    for local_t, source_t in _frame_times(opts.out / row["path"]):
        assert abs(source_t - (row["offset"] + local_t)) <= 0.1 + 1e-6
    assert not [p for p in opts.out.iterdir() if p.name.startswith(".avdata~tmp-")]


def test_section_falls_back_to_whole_video_when_ffmpeg_cannot_cut(tmp_path: Path, server: LoopbackServer,
                                                                  long_video: bytes) -> None:
    server.files["/yt/fallbackvid.mp4"] = long_video
    clips = clip_table(tmp_path / "clips.parquet", [("fallbackvid", "youtube")], start=20.0, end=25.0)
    opts = _opts(tmp_path, server, ffmpeg=Path("/bin/false"))    # an "ffmpeg" that fails
    assert fetch(clips, opts).counts == {"ok": 1}
    row = _rows(opts)["fallbackvid"]
    assert row["offset"] == 0.0 and row["section_end"] is None
    assert (opts.out / row["path"]).read_bytes() == long_video
    assert not [p for p in opts.out.iterdir() if p.name.startswith(".avdata~tmp-")]


def test_missing_video_is_permanent_and_asked_once(tmp_path: Path, server: LoopbackServer) -> None:
    clips = clip_table(tmp_path / "clips.parquet", [("gonevideo01", "youtube")])
    opts = _opts(tmp_path, server, max_attempts=3)
    assert fetch(clips, opts).counts == {"not_found": 1}
    row = _rows(opts)["gonevideo01"]
    assert row["attempts"] == 1 and row["transient"] is False and "404" in row["message"]


def test_youtube_backend_refuses_non_ids_without_any_request(tmp_path: Path) -> None:
    clips = clip_table(tmp_path / "clips.parquet", [("--exec=rm", "youtube"), ("a/b.mp4", "path")])
    opts = FetchOptions(source="youtube", out=tmp_path / "out", min_free_bytes=0, progress=False)
    summary = fetch(clips, opts)
    assert summary.counts == {"bad_source": 2}


@pytest.mark.parametrize("message,cls,transient", [
    ("ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader", "removed", False),
    ("ERROR: [youtube] abc: Private video. Sign in if you've been granted access", "private", False),
    ("ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate", "age_restricted", False),
    ("ERROR: [youtube] abc: The uploader has not made this video available in your country", "geo_blocked", False),
    ("ERROR: [youtube] abc: Video unavailable", "unavailable", False),
    ("ERROR: [youtube] abc: Sign in to confirm you're not a bot", "rate_limited", True),
    ("ERROR: unable to download video data: HTTP Error 503: Service Unavailable", "server_error", True),
    ("ERROR: unable to download video data: <urlopen error timed out>", "timeout", True),
    ("ERROR: [Errno 104] Connection reset by peer", "connection", True),
])
def test_ytdlp_messages_map_to_error_classes(message: str, cls: str, transient: bool) -> None:
    err = classify_message(message)
    assert (err.error_class, err.transient) == (cls, transient)
