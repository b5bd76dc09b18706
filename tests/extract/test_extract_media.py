"""Extraction correct to the sample and to the frame: decode what was written and check it against
the synthetic source (frames show their own time, audio is a known signal)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avdata.extract.job import MediaOptions
from avdata.extract.plan import PlanOptions
from avdata.extract.run import ExtractOptions, run_extract
from avdata.manifest import ManifestWriter, latest, read_manifest
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.media.encode import AudioOptions, FrameOptions
from avdata.media.synth import SynthSpec, make_video, read_frame_time_ms, reference_audio, truncate_file
from avdata.table import clips_from_records

SMALL = dict(width=192, height=108)
VIDEOS = {
    "h264.mp4": SynthSpec(duration=14, keyint_seconds=2, **SMALL),
    "vp9.webm": SynthSpec(duration=9, video_codec="libvpx-vp9", audio_codec="libopus", sample_rate=48000, **SMALL),
    "silent.mp4": SynthSpec(duration=6, audio_codec=None, **SMALL),
    "audio.m4a": SynthSpec(duration=6, video_codec=None),
    "vfr.mp4": SynthSpec(duration=7, vfr=True, **SMALL),
    "short.mp4": SynthSpec(duration=6, **SMALL),
    "cut.mkv": SynthSpec(duration=10, **SMALL),
    "cut.mp4": SynthSpec(duration=4, **SMALL),
}


def _truncate_at_time(path: Path, seconds: float) -> None:
    """Cut a file at the byte position of its first packet at or after ``seconds`` (a dead download)."""
    with av.open(str(path)) as c:
        pos = min(p.pos for p in c.demux() if p.pts is not None and p.pos is not None and p.pos > 0
                  and p.time_base is not None and float(p.pts * p.time_base) >= seconds)
    path.write_bytes(path.read_bytes()[:pos])


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for name, spec in VIDEOS.items():
        make_video(root / name, spec)
    _truncate_at_time(root / "cut.mkv", 5.5)  # data ends at 5.5 s; the header still says 10 s
    truncate_file(root / "cut.mp4", 0.6)     # moov atom at the end: nothing readable
    (root / "zero.mp4").write_bytes(b"")
    return root


def seg(clip_id: str, source: str, start: float, end: float, i: int) -> dict:
    return dict(clip_id=clip_id, source=source, source_kind="path", start=start, end=end,
                dataset="audioscope", split="test", origin_file="t.csv", origin_line=i + 1)


def run(videos: Path, out: Path, segments: list[tuple], **media) -> dict[tuple[str, str], dict]:
    table = clips_from_records([seg(*s, i) for i, s in enumerate(segments)])
    opts = ExtractOptions(videos=str(videos), out=str(out), executor="inline",
                          media=MediaOptions(**media), show_progress=False)
    run_extract(table, opts)
    rows = latest(read_manifest(opts.manifest_path(), EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS))
    return {(r["clip_id"], r["clip"]): r for r in rows.to_pylist()}


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        frames = [f.to_ndarray(format="fltp") if False else f for f in c.decode(audio=0)]
        chans = frames[0].layout.nb_channels
        data = []
        for f in frames:
            a = f.to_ndarray()
            data.append(a.reshape(-1, chans).T if f.format.is_packed else a)
    a = np.concatenate(data, axis=1)
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768
    return a, rate


def lag_against_reference(got: np.ndarray, start_sample: int, rate: int) -> int:
    """Offset (samples) of ``got`` against the synthetic signal starting at ``start_sample``,
    from where its clicks (every 0.5 s of the source) start."""
    loud = np.nonzero(np.abs(got[0]) > 0.6)[0]
    assert loud.size, "no clicks in the extracted audio"
    onsets = loud[np.insert(np.diff(loud) > rate // 10, 0, True)]
    period = rate // 2                     # 0.5 s, exactly, at the rates used here
    lags = [((o + start_sample + period // 2) % period) - period // 2 for o in onsets]
    return int(np.median(lags))


def source_frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return sorted(float(f.time) for f in c.decode(video=0))


def expected_frame(times: list[float], t: float) -> float:
    later = [x for x in times if x >= t - 1e-6]
    return later[0] if later else times[-1]


def jpeg_time(path: Path) -> float:
    return read_frame_time_ms(np.asarray(Image.open(path).convert("RGB"))) / 1000


def check_frames(out: Path, row: dict, source: Path, count: int = 4) -> None:
    times = source_frame_times(source)
    want = [row["start"] + i * (row["end"] - row["start"]) / (count - 1) for i in range(count)]
    assert len(row["frame_files"]) == count
    for k, (rel, t, taken) in enumerate(zip(row["frame_files"], want, row["frame_times"]), start=1):
        assert rel.endswith(f".{row['clip']}.{count}_{k:02d}.jpg")
        shown = jpeg_time(out / rel)
        assert shown == pytest.approx(expected_frame(times, t), abs=0.0015), (rel, t)
        assert taken == pytest.approx(shown, abs=0.0015)


@pytest.mark.parametrize("name", ["h264.mp4", "vp9.webm", "vfr.mp4"])
def test_audio_exact_and_frames_right_for_each_clip(videos: Path, tmp_path: Path, name: str) -> None:
    spec = VIDEOS[name]
    start = 3.3 if spec.duration > 10 else 1.23
    end = start + (5.0 if spec.duration > 10 else 3.77)
    rows = run(videos, tmp_path, [("vid", name, start, end)], audio=AudioOptions(format="wav"),
               plan=PlanOptions(max_length=3, min_length=1, margin=0.5))
    assert {clip for _, clip in rows} >= {"p0", "n0"}
    for row in rows.values():
        assert row["status"] == "ok", row["message"]
        rate = spec.sample_rate
        audio, got_rate = decode_audio(tmp_path / row["audio_file"])
        assert got_rate == rate == row["sample_rate"] and audio.shape[0] == 2 == row["channels"]
        assert audio.shape[1] == round((row["end"] - row["start"]) * rate) == row["audio_samples"]
        lag = lag_against_reference(audio, round(row["start"] * rate), rate)
        assert abs(lag) <= rate // 1000, f"{row['clip']}: audio starts {lag} samples off"
        check_frames(tmp_path, row, videos / name)


def test_mp3_flac_opus_and_resampled_outputs(videos: Path, tmp_path: Path) -> None:
    rate = 44100
    for fmt, extra, out_rate, channels in [("mp3", {}, rate, 2), ("flac", {}, rate, 2),
                                           ("opus", {}, 48000, 2),
                                           ("wav", {"sample_rate": 16000, "mono": True}, 16000, 1),
                                           ("mp3", {"sample_rate": 16000, "mono": True, "mp3_quality": 7}, 16000, 1)]:
        out = tmp_path / f"{fmt}{len(extra)}"
        rows = run(videos, out, [("vid", "h264.mp4", 4.0, 6.5)], audio=AudioOptions(format=fmt, **extra),
                   frames=FrameOptions(count=0), plan=PlanOptions(max_negatives=0))
        row = rows[("vid", "p0")]
        assert row["status"] == "ok" and row["audio_file"].endswith(f"vid.p0.{fmt}")
        audio, got_rate = decode_audio(out / row["audio_file"])
        # the mp3 decoder trims LAME's encoder delay and padding, so counts are exact there too
        assert (got_rate, audio.shape) == (out_rate, (channels, round(2.5 * out_rate)))
        assert row["audio_samples"] == audio.shape[1] and row["frame_files"] == []
        if fmt in ("flac", "wav", "mp3"):
            lag = lag_against_reference(audio, round(4.0 * out_rate), out_rate)
            assert abs(lag) <= out_rate // 1000


def test_jpeg_quality_and_resize(videos: Path, tmp_path: Path) -> None:
    sizes = {}
    for q in (2, 20):
        rows = run(videos, tmp_path / f"q{q}", [("vid", "h264.mp4", 1.0, 2.0)], plan=PlanOptions(max_negatives=0),
                   frames=FrameOptions(count=2, jpeg_quality=q, short_side=54))
        files = [tmp_path / f"q{q}" / f for f in rows[("vid", "p0")]["frame_files"]]
        assert [Image.open(f).size for f in files] == [(96, 54)] * 2
        assert [jpeg_time(f) for f in files] == [1.0, 2.0]
        sizes[q] = sum(f.stat().st_size for f in files)
    assert sizes[20] < sizes[2]


def test_streamless_broken_and_short_videos(videos: Path, tmp_path: Path) -> None:
    rows = run(videos, tmp_path, [
        ("silent", "silent.mp4", 1.0, 4.0), ("audio", "audio.m4a", 1.0, 4.0),
        ("cutmkv", "cut.mkv", 1.0, 4.0), ("cutmkv2", "cut.mkv", 7.0, 9.5), ("cutmp4", "cut.mp4", 0.0, 2.0),
        ("zero", "zero.mp4", 0.0, 2.0), ("short", "short.mp4", 2.0, 12.0), ("outside", "short.mp4", 8.0, 18.0),
        ("gone", "nothere.mp4", 0.0, 1.0), ("escape", "../h264.mp4", 0.0, 1.0),
    ], audio=AudioOptions(format="wav"), plan=PlanOptions(max_negatives=0))
    status = {cid: r["status"] for (cid, _), r in rows.items()}
    assert status == {"silent": "no_audio_stream", "audio": "no_video_stream", "cutmkv": "ok",
                      "cutmkv2": "decode_error", "cutmp4": "unreadable", "zero": "unreadable", "short": "ok",
                      "outside": "segment_outside_video", "gone": "missing_video", "escape": "missing_video"}
    for cid, r in rows.items():
        assert r["message"] if r["status"] != "ok" else not r["message"]
        assert "\n" not in r["message"]
    silent = rows[("silent", "p0")]
    assert silent["audio_file"] is None
    check_frames(tmp_path, silent, videos / "silent.mp4")
    audio_only = rows[("audio", "p0")]
    assert audio_only["frame_files"] == []
    audio, rate = decode_audio(tmp_path / audio_only["audio_file"])
    assert audio.shape[1] == 3 * rate and abs(lag_against_reference(audio, rate, rate)) <= rate // 1000
    # video shorter than its segment: the gold clip is clamped to the video, exact to the sample
    short = rows[("short", "p0")]
    assert (short["start"], short["end"]) == (2.0, 6.0)
    audio, rate = decode_audio(tmp_path / short["audio_file"])
    assert audio.shape[1] == 4 * rate
    check_frames(tmp_path, short, videos / "short.mp4")
    assert jpeg_time(tmp_path / short["frame_files"][-1]) == source_frame_times(videos / "short.mp4")[-1]
    # a truncated file: clips inside the surviving data are fine, clips beyond it are marked
    check_frames(tmp_path, rows[("cutmkv", "p0")], videos / "cut.mkv")
    assert rows[("cutmkv2", "p0")]["frame_files"] == []
    assert not list(tmp_path.rglob(".avdata~tmp-*"))


def test_fetch_manifest_offsets_map_source_time_to_file_time(videos: Path, tmp_path: Path) -> None:
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    (fetched / "sec").mkdir()
    (fetched / "sec" / "Y.mp4").write_bytes((videos / "h264.mp4").read_bytes())   # its 0 s is source 20 s
    import pyarrow as pa
    schema = pa.schema([("source", pa.string()), ("status", pa.string()), ("path", pa.string()),
                        ("offset", pa.float64())])
    with ManifestWriter(tmp_path / "fetch_manifest.parquet", schema) as w:
        w.write({"source": "dQw4w9WgXcQ", "status": "ok", "path": "sec/Y.mp4", "offset": 20.0})
        w.write({"source": "AAAAAAAAAAA", "status": "unavailable", "path": None, "offset": None})
    table = clips_from_records([
        dict(seg("dQw4w9WgXcQ", "dQw4w9WgXcQ", 28.0, 31.0, 0), source_kind="youtube"),
        dict(seg("AAAAAAAAAAA", "AAAAAAAAAAA", 0.0, 10.0, 1), source_kind="youtube")])
    opts = ExtractOptions(videos=str(fetched), out=str(tmp_path / "out"), executor="inline", show_progress=False,
                          fetch_manifest=str(tmp_path / "fetch_manifest.parquet"),
                          media=MediaOptions(audio=AudioOptions(format="flac"), plan=PlanOptions(max_negatives=1)))
    summary = run_extract(table, opts)
    assert summary.clips_ok == 2 and summary.failed == {"missing_video": 1}
    rows = {(r["clip_id"], r["clip"]): r for r in read_manifest(opts.manifest_path()).to_pylist()}
    p0 = rows[("dQw4w9WgXcQ", "p0")]
    assert (p0["start"], p0["end"]) == (28.0, 31.0)
    # planned in the file's timeline (the left negative stops at the file's 0 s), stored in source time
    assert (rows[("dQw4w9WgXcQ", "n0")]["start"], rows[("dQw4w9WgXcQ", "n0")]["end"]) == (20.0, 25.0)
    audio, rate = decode_audio(tmp_path / "out" / p0["audio_file"])
    assert audio.shape[1] == 3 * rate and abs(lag_against_reference(audio, 8 * rate, rate)) <= rate // 1000
    file_times = [t - 20.0 for t in p0["frame_times"]]
    assert [jpeg_time(tmp_path / "out" / f) for f in p0["frame_files"]] == pytest.approx(file_times, abs=0.0015)
    assert file_times[0] == pytest.approx(8.0)
    assert "unavailable" in rows[("AAAAAAAAAAA", "p0")]["message"]


def test_b_frames_right_frame_and_fewer_decodes_when_skipping_nonref(tmp_path: Path) -> None:
    from fractions import Fraction

    from avdata.media.reader import MediaReader
    from avdata.media.synth import draw_time_frame
    path = tmp_path / "bframes.mp4"
    with av.open(str(path), "w") as c:                   # x264 "medium" with B-frames, GOP 2 s
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.options = {"preset": "medium", "bf": "3", "g": "50", "keyint_min": "50", "sc_threshold": "0"}
        for i in range(150):
            f = av.VideoFrame.from_ndarray(draw_time_frame(i * 40, 160, 96), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with av.open(str(path)) as c:
        assert any(int(f.pict_type) == 3 for f in c.decode(video=0))   # AV_PICTURE_TYPE_B
    decoded = {}
    for skip in (True, False):
        with MediaReader(path) as r:
            decoded[skip] = 0
            for s0 in np.arange(0.0, 4.9, 0.43):
                ts = [s0, s0 + 0.13, s0 + 0.5, s0 + 1.01]
                span = r.read_span(s0, s0 + 1.01, ts, audio=False, skip_nonref=skip)
                decoded[skip] += span.frames_decoded
                for t, f, taken in zip(ts, span.frames, span.frame_times):
                    ms = read_frame_time_ms(f.to_ndarray(format="rgb24"))
                    assert ms == min(int(np.ceil(t * 25 - 1e-6)) * 40, 5960)
                    assert taken * 1000 == pytest.approx(ms, abs=1)
    assert decoded[True] < 0.8 * decoded[False]


def test_audio_decoded_from_preroll_matches_decoding_from_the_start(tmp_path: Path) -> None:
    """With a 10 s GOP the seek lands far before each clip; audio decoding starts AUDIO_PREROLL
    before the clip instead, and the samples still match a decode of the whole file (up to the
    AAC decoder's noise substitution, which depends on the decoding history)."""
    from avdata.media.reader import MediaReader
    path = make_video(tmp_path / "longgop.mp4", SynthSpec(duration=24, keyint_seconds=10, **SMALL))
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
        first = int(frames[0].pts)
        full = np.concatenate([f.to_ndarray() for f in frames], axis=1)
    rate = 44100
    with MediaReader(path) as r:
        for start in (8.7, 3.31, 17.05, 0.0):
            span = r.read_span(start, start + 2.5, [start + 1.0])
            s0 = round(start * rate)
            want = full[:, s0 - first: s0 - first + round(2.5 * rate)]
            assert span.audio_start_sample == s0 and span.audio.shape == want.shape
            assert np.abs(span.audio - want).max() < 2e-3, start
            assert read_frame_time_ms(span.frames[0].to_ndarray(format="rgb24")) == int(np.ceil((start + 1.0) * 25 - 1e-6)) * 40
