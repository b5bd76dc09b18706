"""``avdata render`` on synthetic videos whose audio and pictures tell the time: clips exact to the
sample and to the frame, MixIT offsets, padding, mixtures of mixtures (sum, headroom, mp4), resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import avdata.audioscope.render_job as render_job
from avdata.audioscope.render import RenderOptions, read_examples, run_render
from avdata.audioscope.render_job import RenderMedia
from avdata.media.synth import SynthSpec, make_video, read_frame_time_ms, reference_audio

SMALL = dict(width=192, height=108)
RATE = 16000
CLIP_KEYS = {"id", "source", "start", "end", "offset", "audio", "frames", "sample_rate", "samples", "split",
             "annotation", "filtered", "padded"}
MOM_KEYS = {"id", "source1", "start1", "end1", "source2", "start2", "end2", "mix", "audio1", "audio2", "frames",
            "mp4", "sample_rate", "samples", "split", "annotation", "headroom_scale"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    make_video(root / "a" / "long.mp4", SynthSpec(duration=12, **SMALL))
    make_video(root / "b" / "short.mp4", SynthSpec(duration=8, keyint_seconds=1, **SMALL))
    return root


def wav(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        data = [f.to_ndarray().reshape(-1, f.layout.nb_channels).T for f in c.decode(audio=0)]
    return np.concatenate(data, axis=1).astype(np.float32) / 32768, rate


def frame_ms(path: Path) -> int:
    return read_frame_time_ms(np.asarray(Image.open(path).convert("RGB")))


def source_frame_ms(start: float, fps: int = 25) -> int:
    """The first synthetic frame at or after ``start``."""
    return int(round(np.ceil(start * fps - 1e-6) / fps * 1000))


def best_lag(audio: np.ndarray, start: float, reach: int = 8) -> int:
    """Lag (samples at 16 kHz) of mono ``audio`` against the synthetic signal from ``start``."""
    n = audio.shape[-1]
    ref = reference_audio(int(round(start * RATE)) - reach, n + 2 * reach, RATE, 2).mean(axis=0)
    scores = [float(np.dot(audio[0], ref[reach + k: reach + k + n])) for k in range(-reach, reach + 1)]
    return int(np.argmax(scores)) - reach


def render(list_path: Path, videos: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "avdata", "render", str(list_path), "--videos", str(videos), "--out", str(out),
           "--no-progress", "--workers", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_clips_exact_to_the_sample_and_frame_with_padding(videos: Path, tmp_path: Path) -> None:
    lst = tmp_path / "unfiltered_test_clips.csv"
    lst.write_text("a/long.mp4,1.0,6.0\na/long.mp4,2.37,7.37\nb/short.mp4,5.0,10.0\nb/short.mp4,0.5,3.25\n")
    res = render(lst, videos, tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "padded with zeros (source ended early): 1" in res.stderr
    examples = read_examples(tmp_path / "out" / "examples.jsonl")
    assert [e["id"] for e in examples] == ["long_1000_6000", "long_2370_7370", "short_5000_10000", "short_500_3250"]
    for e in examples:
        assert CLIP_KEYS <= set(e) and e["split"] == "test" and e["filtered"] is False
        audio, rate = wav(tmp_path / "out" / e["audio"])
        length = e["end"] - e["start"]
        assert rate == RATE and audio.shape == (1, round(length * RATE)) == (1, e["samples"])
        assert len(e["frames"]) == 5
        times = [e["start"] + i * length / 5 for i in range(5)]
        got = [frame_ms(tmp_path / "out" / f) for f in e["frames"]]
        if e["source"] == "b/short.mp4" and e["start"] == 5.0:
            # the source ends at 8 s: zeros after it, marked; pictures past the end are its last one
            assert e["padded"] is True
            tail = 3 * RATE + 2048 * RATE // 44100               # the AAC stream's last frame
            assert np.all(audio[0, tail:] == 0) and np.abs(audio[0, 3 * RATE - 400:3 * RATE]).max() > 0.1
            assert abs(best_lag(audio[:, :2 * RATE], e["start"])) <= 1
            assert got[:3] == [source_frame_ms(t) for t in times[:3]] and got[3:] == [7960, 7960]
            continue
        assert e["padded"] is False
        assert abs(best_lag(audio, e["start"])) <= 1          # starts within one sample period
        assert got == [source_frame_ms(t) for t in times]


def test_mixit_span_placed_at_its_offset_exact_to_the_sample(videos: Path, tmp_path: Path) -> None:
    lst = tmp_path / "mixit_test.csv"
    lst.write_text("a/long.mp4,1.0,7.8,3.2\na/long.mp4,4.0,8.0,0.5\n")
    plain = tmp_path / "plain.csv"
    plain.write_text("a/long.mp4,1.0,7.8\na/long.mp4,4.0,8.0\n")
    assert render(lst, videos, tmp_path / "mixit").returncode == 0
    assert render(plain, videos, tmp_path / "plain", "--format", "audioscope", "--split", "test").returncode == 0
    mixit = {e["id"]: e for e in read_examples(tmp_path / "mixit" / "examples.jsonl")}
    spans = {e["id"]: e for e in read_examples(tmp_path / "plain" / "examples.jsonl")}
    for cid, offset, length in (("long_1000_7800", 3.2, 6.8), ("long_4000_8000", 0.5, 4.0)):
        audio, _ = wav(tmp_path / "mixit" / mixit[cid]["audio"])
        span, _ = wav(tmp_path / "plain" / spans[cid]["audio"])
        at, n = round(offset * RATE), round(length * RATE)
        assert audio.shape == (1, 10 * RATE) and mixit[cid]["offset"] == offset
        assert np.all(audio[0, :at] == 0) and np.all(audio[0, at + n:] == 0)
        assert np.abs(audio[0, at:at + 200]).max() > 0.05             # the span starts right at the offset
        assert np.abs(audio[0, at:at + n] - span[0]).max() <= 2 / 32768
    assert round(3.2 * RATE) == 51200


def test_mixtures_of_mixtures_sum_frames_and_mp4(videos: Path, tmp_path: Path) -> None:
    lst = tmp_path / "unfiltered_test_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv"
    lst.write_text("a/long.mp4,1.0,6.0,b/short.mp4,2.0,7.0\n")
    res = render(lst, videos, tmp_path / "out", "--mp4", "--mp4-audio", "flac")
    assert res.returncode == 0, res.stderr
    (e,) = read_examples(tmp_path / "out" / "examples.jsonl")
    assert MOM_KEYS <= set(e) and e["annotation"].startswith("onscreen_unanimous") and e["headroom_scale"] == 1.0
    out = tmp_path / "out"
    mix, s1, s2 = (wav(out / e[k])[0] for k in ("mix", "audio1", "audio2"))
    assert mix.shape == s1.shape == s2.shape == (1, 5 * RATE) == (1, e["samples"])
    if not e["clipped"]:
        assert np.abs(mix - (s1 + s2)).max() <= 1.5 / 32768               # the sum, to the quantisation step
    assert abs(best_lag(s1, 1.0)) <= 1 and abs(best_lag(s2, 2.0)) <= 1
    assert [frame_ms(out / f) for f in e["frames"]] == [source_frame_ms(t) for t in (1.0, 2.0, 3.0, 4.0, 5.0)]
    with av.open(str(out / e["mp4"])) as c:
        pictures = [read_frame_time_ms(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert pictures == [source_frame_ms(1.0 + i / 25) for i in range(125)]   # clip 1's pictures, all of them
    with av.open(str(out / e["mp4"])) as c:
        sound = np.concatenate([f.to_ndarray().reshape(1, -1) for f in c.decode(audio=0)], axis=1) / 32768
    assert sound.shape == mix.shape and np.array_equal(sound, mix)


def test_headroom_scales_both_sources_when_the_sum_clips(videos: Path, tmp_path: Path) -> None:
    lst = tmp_path / "unfiltered_test_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv"
    lst.write_text("a/long.mp4,1.0,3.0,a/long.mp4,3.0,5.0\n")        # clicks line up: 0.79 + 0.79 > 1
    plain = render(lst, videos, tmp_path / "plain")
    scaled = render(lst, videos, tmp_path / "scaled", "--headroom", "--mp4")      # mp4 with AAC: lossy
    assert plain.returncode == scaled.returncode == 0
    assert "mixtures that clip (use --headroom): 1" in plain.stderr
    assert "mixtures scaled down for headroom: 1" in scaled.stderr
    (p,), (s,) = (read_examples(tmp_path / d / "examples.jsonl") for d in ("plain", "scaled"))
    assert p["headroom_scale"] == 1.0 and p["clipped"] is True
    assert 0.0 < s["headroom_scale"] < 1.0 and s["clipped"] is False
    mix, s1, s2 = (wav(tmp_path / "scaled" / s[k])[0] for k in ("mix", "audio1", "audio2"))
    ref1 = wav(tmp_path / "plain" / p["audio1"])[0]
    assert np.abs(mix - (s1 + s2)).max() <= 1.5 / 32768 and np.abs(mix).max() <= 1.0
    assert np.abs(s1 - ref1 * s["headroom_scale"]).max() <= 1.5 / 32768
    with av.open(str(tmp_path / "scaled" / s["mp4"])) as c:
        sound = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)[:, :mix.shape[1]]
    snr = 10 * np.log10((mix ** 2).sum() / ((mix - sound) ** 2).sum())
    assert sound.shape == mix.shape and snr > 20                      # the mixture, within AAC's tolerance


def test_one_open_per_video_resume_and_retry_failed(videos: Path, tmp_path: Path, monkeypatch) -> None:
    opened: list[str] = []
    real = render_job.MediaReader

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, path):
            opened.append(str(path))
            super().__init__(path)

    monkeypatch.setattr(render_job, "MediaReader", Counting)
    lst = tmp_path / "unfiltered_validate_clips.csv"
    lst.write_text("".join(f"a/long.mp4,{s:.1f},{s + 2:.1f}\n" for s in (0.0, 3.0, 6.0, 9.0))
                   + "b/short.mp4,1.0,3.0\nc/gone.mp4,1.0,3.0\n")
    opts = RenderOptions(videos=str(videos), out=str(tmp_path / "out"), executor="inline",
                         media=RenderMedia(frames=render_job.FrameOptions(count=2)))
    first = run_render(lst, opts)
    assert (first.done, first.failed) == (5, {"missing_video": 1})
    assert sorted(opened) == sorted([str(videos / "a" / "long.mp4"), str(videos / "b" / "short.mp4")])
    examples = read_examples(tmp_path / "out" / "examples.jsonl")
    assert len(examples) == 5
    (tmp_path / "out" / examples[1]["frames"][0]).unlink()
    second = run_render(lst, opts)
    assert (second.done, second.skipped, second.failed_before) == (1, 4, 1)
    assert (tmp_path / "out" / examples[1]["frames"][0]).is_file()
    make_video(videos / "c" / "gone.mp4", SynthSpec(duration=4, **SMALL))
    try:
        third = run_render(lst, RenderOptions(**{**opts.__dict__, "retry_failed": True}))
    finally:
        (videos / "c" / "gone.mp4").unlink()
    assert (third.done, third.skipped, third.failed) == (1, 5, {})
    lines = (tmp_path / "out" / "examples.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["long_0_2000", "long_3000_5000", "long_6000_8000",
                                                    "long_9000_11000", "short_1000_3000", "gone_1000_3000"]


def test_cli_refuses_bad_options_and_reports_missing_videos(videos: Path, tmp_path: Path) -> None:
    lst = tmp_path / "unfiltered_test_clips.csv"
    lst.write_text("a/long.mp4,1.0,3.0\nnot/here.mp4,1.0,3.0\na/long.mp4,x,3\n")
    bad = render(lst, videos, tmp_path / "bad", "--sample-rate", "10")
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()
    res = render(lst, videos, tmp_path / "out")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "missing_video: 1" in res.stderr and f"{lst}:3" in res.stderr
    assert len(read_examples(tmp_path / "out" / "examples.jsonl")) == 1


def test_spans_close_together_share_one_pass_and_read_the_same(videos: Path) -> None:
    from avdata.media.reader import MediaReader

    requests = [(s, s + 2.0, [s, s + 0.7, s + 1.4]) for s in (6.0, 0.5, 1.1, 1.6, 4.5, 9.9)]   # some overlap
    with MediaReader(videos / "a" / "long.mp4") as r:
        alone = [r.read_span(*q) for q in requests]
    with MediaReader(videos / "a" / "long.mp4") as r:
        shared = dict(r.read_spans(requests))
    assert sorted(shared) == list(range(len(requests)))
    for i, one in enumerate(alone):
        both = shared[i]
        assert both.frame_times == one.frame_times
        assert both.audio_start_sample == one.audio_start_sample and both.audio.shape == one.audio.shape
        assert np.abs(both.audio - one.audio).max() < 1e-3        # AAC noise bands aside, the same samples
    # one pass: overlapping clips decode their common frames once, not once per clip
    assert shared[0].frames_decoded < sum(s.frames_decoded for s in alone)
