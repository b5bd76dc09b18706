"""Coincidence scores with a small joint-space embedder registered here: audio loudness and frame
brightness mapped into one 2-d space, read from real WAV and JPEG bytes."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avdata.audioscope.score import ScoreOptions, coincidence, score_clips
from avdata.embed import register_embedder
from avdata.embed.base import ClipMedia, Embedding
from avdata.errors import AvdataError
from avdata.manifest import read_manifest
from avdata.table import clips_from_records, read_clips, write_clips

CALLS: list[str] = []


def _unit(x: float) -> np.ndarray:
    v = np.array([x, 1.0 - x], np.float32)
    return v / np.linalg.norm(v)


class LoudBright:
    """Audio part: RMS level (0..1); image part: mean brightness (0..1); both as [x, 1-x] normalised."""

    name = "loudbright"
    dim = 2
    joint_space = True

    def __init__(self, gain: str = "1") -> None:
        self.gain = float(gain)

    def fingerprint(self) -> str:
        return f"loudbright:gain={self.gain:g}"

    def embed(self, media: ClipMedia) -> Embedding:
        CALLS.append(str(media.audio))
        with wave.open(str(media.audio)) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64) / 32768
        rms = min(1.0, float(np.sqrt(np.mean(pcm ** 2))) * np.sqrt(2) * self.gain)
        bright = float(np.mean([np.asarray(Image.open(f).convert("L"), np.float64).mean() / 255
                                for f in media.frames]))
        a, i = _unit(rms), _unit(bright)
        v = (a + i) / np.linalg.norm(a + i)
        return Embedding(vector=v.astype(np.float32), audio=a, image=i)


class AudioOnly(LoudBright):
    name = "audioonly"
    joint_space = False


register_embedder("loudbright")(LoudBright)
register_embedder("audioonly")(AudioOnly)

# clip -> (sine amplitude, frame grey level); the last clip has no rendered example
CLIPS = {"c_match": (0.8, 204), "c_mid": (0.5, 128), "c_off": (0.05, 250), "c_dark": (0.9, 10), "c_none": None}


def _render(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    t = np.arange(16000) / 16000
    for cid, spec in CLIPS.items():
        if spec is None:
            continue
        amp, grey = spec
        (root / cid).mkdir()
        with wave.open(str(root / cid / "audio.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((amp * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16).tobytes())
        frames = []
        for k in range(2):
            Image.fromarray(np.full((24, 32, 3), grey, np.uint8)).save(root / cid / f"frame_{k}.jpg", quality=95)
            frames.append(f"{cid}/frame_{k}.jpg")
        lines.append(json.dumps({"id": cid, "audio": f"{cid}/audio.wav", "frames": frames}))
    lines.insert(2, "{not json")
    lines.append(json.dumps({"id": "evil", "audio": "../../etc/passwd", "frames": []}))
    (root / "examples.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _clips(path: Path) -> Path:
    recs = [dict(clip_id=cid, source=f"v/{cid}.mp4", source_kind="path", start=0.0, end=1.0, dataset="audioscope_v2",
                 split="test", origin_file="x", origin_line=i + 1) for i, cid in enumerate(CLIPS)]
    write_clips(clips_from_records(recs), path)
    return path


def test_scores_threshold_and_resume(tmp_path: Path) -> None:
    media = _render(tmp_path / "render")
    clips = _clips(tmp_path / "clips.parquet")
    opts = ScoreOptions(clips=str(clips), media=str(media), embedder="loudbright", min_score=0.99,
                        output=str(tmp_path / "scored.parquet"))
    CALLS.clear()
    s = score_clips(opts)
    assert len(CALLS) == 4
    t = read_clips(s.output)
    score = dict(zip(t.column("clip_id").to_pylist(), t.column("score").to_pylist()))
    filtered = dict(zip(t.column("clip_id").to_pylist(), t.column("filtered").to_pylist()))
    # loud sound with a bright picture and a quiet one with a dark picture coincide; crossed ones do not
    assert score["c_match"] > 0.999 and score["c_mid"] > 0.999
    assert score["c_off"] < 0.8 and score["c_dark"] < 0.8
    assert score["c_none"] is None
    assert filtered == {"c_match": True, "c_mid": True, "c_off": False, "c_dark": False, "c_none": None}
    assert set(t.column("score_model").to_pylist()) == {"loudbright:gain=1", None}
    assert s.statuses == {"ok": 4, "no_media": 1} and s.kept == 2
    errs = [str(e) for e in s.problems.errors]
    assert errs[0].startswith(f"{media / 'examples.jsonl'}:3: not an example line")
    assert errs[1].startswith(f"{media / 'examples.jsonl'}:6: ") and "'..'" in errs[1]
    # resume: same model -> nothing embedded again; another model -> everything again
    CALLS.clear()
    again = score_clips(opts)
    assert CALLS == [] and again.reused == 4                  # the clip without media is looked for again
    assert read_clips(again.output).column("score").to_pylist() == t.column("score").to_pylist()
    other = score_clips(ScoreOptions(clips=str(clips), media=str(media), embedder="loudbright",
                                     params=(("gain", "0.5"),), output=str(tmp_path / "scored2.parquet"),
                                     manifest=str(tmp_path / "scored_score_manifest.parquet")))
    assert len(CALLS) == 4 and other.reused == 0
    assert read_clips(other.output).column("score").to_pylist() != t.column("score").to_pylist()
    m = read_manifest(tmp_path / "scored_score_manifest.parquet")
    assert set(m.column("fingerprint").to_pylist()) == {"loudbright:gain=1", "loudbright:gain=0.5"}


def test_embedder_without_joint_space_is_refused(tmp_path: Path) -> None:
    media = _render(tmp_path / "render")
    clips = _clips(tmp_path / "clips.parquet")
    with pytest.raises(AvdataError, match="'audioonly' has no joint audio-image space"):
        score_clips(ScoreOptions(clips=str(clips), media=str(media), embedder="audioonly"))
    assert not (tmp_path / "clips_scored.parquet").exists()


def test_coincidence_is_a_cosine() -> None:
    assert coincidence(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert coincidence(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        coincidence(np.zeros(2), np.ones(2))


def test_score_command_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avdata.cli.main import main

    media = _render(tmp_path / "render")
    clips = _clips(tmp_path / "clips.parquet")
    with pytest.raises(SystemExit) as done:
        main(["score", str(clips), "--media", str(media), "--embedder", "loudbright", "--param", "gain=1",
              "--min-score", "0.99", "-o", str(tmp_path / "s.parquet")])
    err = capsys.readouterr()
    assert done.value.code == 1                                   # bad index lines and a clip without media
    assert f"error: {media / 'examples.jsonl'}:3: not an example line" in err.err
    assert "skipped: c_none: no rendered example" in err.err
    assert "kept by --min-score: 2" in err.out
    with pytest.raises(SystemExit) as done:
        main(["score", str(clips), "--media", str(media), "--embedder", "audioonly"])
    assert done.value.code == 3 and "no joint audio-image space" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["score", str(clips), "--media", str(media), "--embedder", "loudbright", "--param", "gain"])
    assert done.value.code == 2


def test_index_layout(tmp_path: Path) -> None:
    """The same media laid out as extraction + a VIP-ANT index file: the same scores."""
    import shutil

    media = _render(tmp_path / "render")
    root = tmp_path / "extracted"
    lines = []
    for cid, spec in CLIPS.items():
        if spec is None:
            continue
        (root / "all_0_35000" / "aclip").mkdir(parents=True, exist_ok=True)
        (root / "all_0_35000" / "frame").mkdir(parents=True, exist_ok=True)
        shutil.copy(media / cid / "audio.wav", root / "all_0_35000" / "aclip" / f"{cid}.p0.wav")
        for k in range(2):
            shutil.copy(media / cid / f"frame_{k}.jpg", root / "all_0_35000" / "frame" / f"{cid}.p0.4_0{k + 1}.jpg")
        lines.append(json.dumps({"dir": "all_0_35000", "aclip": ["p0.wav"], "frame": ["p0.4_01.jpg", "p0.4_02.jpg"],
                                 "id": cid, "bos": "0.000", "eos": "1.000", "labels": []}))
    index = tmp_path / "src_test.csv"
    index.write_text("\n".join(lines) + "\n")
    clips = _clips(tmp_path / "clips.parquet")
    a = score_clips(ScoreOptions(clips=str(clips), media=str(media), embedder="loudbright",
                                 output=str(tmp_path / "a.parquet")))
    b = score_clips(ScoreOptions(clips=str(clips), media=str(index), layout="index", media_root=str(root),
                                 embedder="loudbright", output=str(tmp_path / "b.parquet")))
    assert read_clips(b.output).column("score").to_pylist() == read_clips(a.output).column("score").to_pylist()
    with pytest.raises(AvdataError, match="--media-root"):
        score_clips(ScoreOptions(clips=str(clips), media=str(index), layout="index", embedder="loudbright"))
    with pytest.raises(AvdataError, match="unknown media layout"):
        score_clips(ScoreOptions(clips=str(clips), media=str(index), layout="webdataset", embedder="loudbright"))


def test_media_rendered_later_is_scored_on_rerun(tmp_path: Path) -> None:
    media = _render(tmp_path / "render")
    clips = _clips(tmp_path / "clips.parquet")
    opts = ScoreOptions(clips=str(clips), media=str(media), embedder="loudbright", output=str(tmp_path / "s.parquet"))
    assert score_clips(opts).statuses["no_media"] == 1
    import shutil

    shutil.copytree(media / "c_match", media / "c_none")
    with open(media / "examples.jsonl", "a") as fh:
        fh.write(json.dumps({"id": "c_none", "audio": "c_none/audio.wav", "frames": ["c_none/frame_0.jpg"]}) + "\n")
    CALLS.clear()
    s = score_clips(opts)
    assert s.statuses == {"ok": 5} and CALLS == [str(media / "c_none" / "audio.wav")]
