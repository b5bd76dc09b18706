"""Hostile media and options for ``avdata extract`` (issue 8, defects 11-14 and 16): files that start
at 30 s, Matroska durations that lie, MPEG-TS, 96 kHz sources, outputs that cannot be written,
option values an encoder would silently change, and workers whose parent is killed."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.manifest import latest, read_manifest
from avdata.media.reader import MediaReader
from avdata.media.synth import SynthSpec, make_video, read_frame_time_ms
from avdata.table import clips_from_records, write_clips

SMALL = dict(width=192, height=108)
FPS = 25


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True, timeout=120)


def write_table(path: Path, segments: list[tuple[str, str, float, float]]) -> Path:
    write_clips(clips_from_records(
        dict(clip_id=cid, source=src, source_kind="path", start=s, end=e, dataset="audioscope", split="test",
             origin_file="t.csv", origin_line=i + 1) for i, (cid, src, s, e) in enumerate(segments)), path)
    return path


def extract(clips: Path, videos: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "avdata", "extract", str(clips), "--videos", str(videos), "--out", str(out),
           "--workers", "1", "--no-progress", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def manifest_rows(out: Path) -> dict[tuple[str, str], dict]:
    table = latest(read_manifest(out / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS))
    return {(r["clip_id"], r["clip"]): r for r in table.to_pylist()}


def decode(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        data = [f.to_ndarray().reshape(-1, f.layout.nb_channels).T if f.format.is_packed else f.to_ndarray()
                for f in c.decode(audio=0)]
    audio = np.concatenate(data, axis=1)
    return (audio.astype(np.float32) / 32768 if audio.dtype == np.int16 else audio.astype(np.float32)), rate


def lag(got: np.ndarray, start_sample: int, rate: int) -> int:
    """Offset (samples) of ``got`` against the synthetic signal starting at ``start_sample``, from
    where its clicks (every 0.5 s of the source) start."""
    loud = np.nonzero(np.abs(got[0]) > 0.6)[0]
    assert loud.size, "no clicks: the audio is not the source's"
    onsets = loud[np.insert(np.diff(loud) > rate // 10, 0, True)]
    period = rate // 2
    return int(np.median([((o + start_sample + period // 2) % period) - period // 2 for o in onsets]))


def content_shift(path: Path) -> float:
    """Seconds from the file's first timestamp to its first picture (where the synthetic content's
    time 0 lies in the file's own timeline)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return max(0.0, float(v.start_time * v.time_base) - max(0.0, c.start_time / av.time_base))


def frame_ms(path: Path) -> int:
    return read_frame_time_ms(np.asarray(Image.open(path).convert("RGB")))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    good = make_video(root / "good.mp4", SynthSpec(duration=14, **SMALL))
    for off in (30, 1000):
        ffmpeg("-i", str(good), "-c", "copy", "-output_ts_offset", str(off), str(root / f"off{off}.mp4"))
    ffmpeg("-i", str(good), "-c", "copy", "-output_ts_offset", "200", str(root / "off200.mkv"))
    # a Matroska header whose Duration (EBML 0x4489, 8-byte float, ms) says 1e9 ms
    data = bytearray((root / "off200.mkv").read_bytes())
    at = data.index(b"\x44\x89\x88")
    data[at + 3:at + 11] = struct.pack(">d", 1e9)
    (root / "bogus.mkv").write_bytes(bytes(data))
    ffmpeg("-i", str(good), "-c", "copy", "-f", "mpegts", str(root / "remux.ts"))
    ffmpeg("-i", str(good), "-c:v", "libx264", "-preset", "ultrafast", "-g", "400", "-c:a", "aac",
           "-f", "mpegts", str(root / "longgop.ts"))
    make_video(root / "hi.mp4", SynthSpec(duration=5, sample_rate=96000, **SMALL))
    return root


def test_start_offsets_and_lying_durations_plan_in_the_files_own_timeline(hostile: Path, tmp_path: Path) -> None:
    names = ["good.mp4", "off30.mp4", "off1000.mp4", "off200.mkv", "bogus.mkv"]
    for name in names:
        with MediaReader(hostile / name) as r:
            assert abs(r.duration - 14.0) < 0.1, (name, r.duration)
    clips = write_table(tmp_path / "c.parquet", [(n.replace(".", "_"), n, 5.0, 8.0) for n in names])
    out = tmp_path / "out"
    res = extract(clips, hostile, out, "--audio-format", "wav", "--frames", "3", "--negative-min", "2")
    assert res.returncode == 0, res.stderr
    rows = manifest_rows(out)
    for name in names:
        cid = name.replace(".", "_")
        assert {c for (i, c) in rows if i == cid} == {"p0", "n0", "n1"}
        n1 = rows[(cid, "n1")]
        assert (n1["start"], round(n1["end"], 1)) == (11.0, 14.0), name      # not planned past the end
        p0 = rows[(cid, "p0")]
        audio, rate = decode(out / p0["audio_file"])
        shift = content_shift(hostile / name)
        assert audio.shape == (2, 3 * rate)
        assert abs(lag(audio, int(round((5.0 - shift) * rate)), rate)) <= rate // 1000, name
        assert [frame_ms(out / f) for f in p0["frame_files"]] == [
            int(round(np.ceil((t - shift) * FPS - 1e-6) / FPS * 1000)) for t in (5.0, 6.5, 8.0)]


def test_mpeg_ts_gives_the_frames_at_their_times(hostile: Path, tmp_path: Path) -> None:
    names = ["remux.ts", "longgop.ts"]
    clips = write_table(tmp_path / "c.parquet", [(n.replace(".", "_"), n, 4.0, 7.0) for n in names])
    out = tmp_path / "out"
    res = extract(clips, hostile, out, "--audio-format", "wav", "--frames", "4", "--negatives", "0")
    assert res.returncode == 0, res.stderr
    rows = manifest_rows(out)
    for name in names:
        p0 = rows[(name.replace(".", "_"), "p0")]
        shift = content_shift(hostile / name)
        assert [frame_ms(out / f) for f in p0["frame_files"]] == [
            int(round(np.ceil((t - shift) * FPS - 1e-6) / FPS * 1000)) for t in (4.0, 5.0, 6.0, 7.0)], name
        audio, rate = decode(out / p0["audio_file"])
        assert audio.shape == (2, 3 * rate)
        assert abs(lag(audio, int(round((4.0 - shift) * rate)), rate)) <= rate // 1000, name


def test_96khz_source_to_mp3_is_resampled_and_says_so(hostile: Path, tmp_path: Path) -> None:
    clips = write_table(tmp_path / "c.parquet", [("hi", "hi.mp4", 1.0, 4.0)])
    res = extract(clips, hostile, tmp_path / "out", "--negatives", "0", "--frames", "0")
    assert res.returncode == 0, res.stderr
    assert "resampled 96000 Hz to 48000 Hz" in res.stderr
    row = manifest_rows(tmp_path / "out")[("hi", "p0")]
    assert (row["status"], row["sample_rate"]) == ("ok", 48000)
    audio, rate = decode(tmp_path / "out" / row["audio_file"])
    assert (rate, audio.shape[1]) == (48000, 3 * 48000)
    assert abs(lag(audio, 48000, 48000)) <= 48


@pytest.mark.parametrize("args, reason", [
    (["--sample-rate", "96000"], "MP3 cannot hold 96000 Hz"),
    (["--audio-format", "opus", "--sample-rate", "44100"], "Opus cannot hold 44100 Hz"),
    (["--bitrate", "0"], "MP3 bitrate must be one of"),
    (["--bitrate", "99999"], "MP3 bitrate must be one of"),
    (["--sample-rate", "16000", "--bitrate", "320"], "MP3 at 16000 Hz has bitrates"),
    (["--timeout", "-1"], "--timeout"),
    (["--margin", "-1"], "clip plan needs margin >= 0"),
])
def test_bad_options_are_refused_before_any_work(hostile: Path, tmp_path: Path, args: list[str], reason: str) -> None:
    clips = write_table(tmp_path / "c.parquet", [("g", "good.mp4", 1.0, 4.0)])
    res = extract(clips, hostile, tmp_path / "out", *args)
    assert res.returncode == 2, res.stderr
    assert reason in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_write_failures_and_unsafe_ids_get_their_own_codes(hostile: Path, tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (out / "all_0_1").mkdir(parents=True)
    (out / "all_0_1" / "aclip").write_text("a file where a folder should be")
    (out / "all_1_2").mkdir()
    (out / "all_1_2" / "aclip").symlink_to(outside, target_is_directory=True)
    clips = write_table(tmp_path / "c.parquet", [("blocked", "good.mp4", 1.0, 2.0), ("linked", "good.mp4", 3.0, 4.0),
                                                 ("../../evil", "good.mp4", 5.0, 6.0), ("fine", "good.mp4", 7.0, 8.0)])
    res = extract(clips, hostile, out, "--negatives", "0", "--frames", "1", "--chunk-size", "1",
                  "--audio-format", "wav")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "output_error: 1" in res.stderr and "unsafe_path: 2" in res.stderr
    status = {cid: r["status"] for (cid, _), r in manifest_rows(out).items()}
    assert status == {"blocked": "output_error", "linked": "unsafe_path", "../../evil": "unsafe_path", "fine": "ok"}
    assert list(outside.iterdir()) == []
    assert (out / "all_0_1" / "aclip").read_text() == "a file where a folder should be"


def _children(pid: int) -> set[int]:
    kids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                kids.add(int(entry))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("pool", [[], ["--timeout", "0"]], ids=["supervised", "pool"])
def test_workers_exit_when_the_main_process_is_killed(tmp_path: Path, pool: list[str]) -> None:
    videos = tmp_path / "videos"
    make_video(videos / "v.mp4", SynthSpec(duration=30, **SMALL))
    clips = write_table(tmp_path / "c.parquet", [(f"s{i}", "v.mp4", float(i % 25), float(i % 25) + 4.0)
                                                 for i in range(400)])
    cmd = [sys.executable, "-m", "avdata", "extract", str(clips), "--videos", str(videos), "--out",
           str(tmp_path / "out"), "--workers", "2", "--no-progress", "--audio-format", "wav", *pool]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = _children(proc.pid)
            time.sleep(0.05)
        assert len(workers) >= 2 and proc.poll() is None, "no workers seen before the run ended"
        os.kill(proc.pid, signal.SIGKILL)           # only the main process
        proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "workers outlived their parent"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
