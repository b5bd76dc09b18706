"""End to end: real AudioSet rows on generated media -> published split files, decodable media."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avdata.index import IndexOptions, build_index
from avdata.index.build import CHECKS_DIR, CHECKS_KEYS, CHECKS_SCHEMA
from avdata.index.combined import read_split_line
from avdata.manifest import latest, read_manifest
from avdata.media.features import frame_224_to_rgb
from avdata.media.synth import read_frame_time_ms

PUBLISHED_KEYS = ["dir", "aclip", "frame", "id", "bos", "eos", "labels"]


def read_lines(path: Path) -> list[dict]:
    text = path.read_text("utf-8")
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def default_index(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("index_out")
    res = build_index(IndexOptions(example.clips, example.manifest, example.media, out, workers=2))
    return out, res


def test_lines_have_published_keys_and_resolve_to_decodable_media(example, default_index) -> None:
    out, res = default_index
    names = sorted(p.name for p in out.glob("src_*.csv"))
    assert names == ["src_audiocaps_val.csv", "src_balanced_train_segments.csv", "src_eval_segments.csv",
                     "src_train_segments.csv", "src_unbalanced_train_segments.csv"]
    seen = set()
    for name in names:
        for entry in read_lines(out / name):
            seg = example.by_id(entry["id"])
            assert seg.fault is None
            expected_keys = PUBLISHED_KEYS + (["captions"] if seg.dataset == "audiocaps" else [])
            assert list(entry) == expected_keys
            assert entry["bos"] == seg.start and entry["eos"] == seg.end      # strings as in the CSV
            assert entry["labels"] == seg.labels
            if seg.dataset == "audiocaps":
                assert entry["captions"] == seg.captions
            assert entry["aclip"] == ["p0.mp3"]                              # only p0 by default
            assert entry["frame"] == [f"p0.4_{k:02d}.jpg" for k in range(1, 5)]
            base = example.media / entry["dir"]
            with av.open(str(base / "aclip" / f"{entry['id']}.{entry['aclip'][0]}")) as c:
                audio = np.concatenate([f.to_ndarray().reshape(len(f.layout.channels), -1)
                                        for f in c.decode(audio=0)], axis=1)
                rate = c.streams.audio[0].rate
            assert audio.shape[1] / rate == pytest.approx(float(seg.end) - float(seg.start), abs=0.05)
            assert rate == seg.rate and audio.shape[0] == seg.channels
            start = float(seg.start)
            for k, fname in enumerate(entry["frame"]):
                rgb = np.asarray(Image.open(base / "frame" / f"{entry['id']}.{fname}").convert("RGB"))
                assert read_frame_time_ms(rgb) == round((start + k * 10 / 3) * 1000)
            seen.add((name, entry["id"]))
    good = [s for s in example.segments if s.fault is None]
    assert {i for n, i in seen if n != "src_train_segments.csv"} == {s.clip_id for s in good}


def test_split_files_keep_table_order_and_combined_list_joins_unbalanced_then_balanced(example, default_index) -> None:
    out, res = default_index
    for split, name in [("balanced_train", "src_balanced_train_segments.csv"),
                        ("unbalanced_train", "src_unbalanced_train_segments.csv"), ("eval", "src_eval_segments.csv")]:
        ids = [e["id"] for e in read_lines(out / name)]
        assert ids == [s.clip_id for s in example.segments if s.split == split and s.fault is None]
    unbalanced = (out / "src_unbalanced_train_segments.csv").read_text()
    balanced = (out / "src_balanced_train_segments.csv").read_text()
    combined = (out / "src_train_segments.csv").read_text()
    assert combined == unbalanced + balanced
    n_unbalanced = len(unbalanced.splitlines())
    assert n_unbalanced == 3
    assert read_split_line(out / "src_train_segments.csv") == n_unbalanced == res.combined.split_line
    first_balanced = json.loads(combined.splitlines()[n_unbalanced])
    assert first_balanced["id"] == json.loads(balanced.splitlines()[0])["id"]


def test_every_exclusion_is_counted_by_reason(example, default_index) -> None:
    out, res = default_index
    assert dict(res.excluded) == example.expected_exclusions
    summary = json.loads((out / "index_summary.json").read_text())
    assert summary["excluded_by_reason"] == example.expected_exclusions
    assert summary["splits"]["src_eval_segments.csv"]["listed"] == 1
    assert sum(summary["splits"]["src_eval_segments.csv"]["excluded"].values()) == 3
    checks = latest(read_manifest(out / CHECKS_DIR, CHECKS_SCHEMA), CHECKS_KEYS).to_pylist()
    by_id = {(r["clip_id"], r["clip"]): r for r in checks}
    for seg in example.segments:
        row = by_id[(seg.clip_id, "p0")]
        if seg.fault is None:
            assert row["status"] == "ok" and row["sample_rate"] == seg.rate and row["channels"] == seg.channels
            assert row["frames_ok"] == 4 and row["audio_seconds"] == pytest.approx(10.0, abs=0.05)
        else:
            assert row["status"] != "ok"
    assert res.error_exclusions == sum(example.expected_exclusions.values())


def test_negatives_and_features(example, tmp_path) -> None:
    res = build_index(IndexOptions(example.clips, example.manifest, example.media, tmp_path,
                                   with_negatives=True, features=True, workers=2))
    entries = {e["id"]: e for e in read_lines(tmp_path / "src_balanced_train_segments.csv")}
    one, two = example.segments[0], example.segments[1]
    assert entries[one.clip_id]["aclip"] == ["p0.mp3", "n0.mp3"]
    assert entries[one.clip_id]["frame"] == [f"{c}.4_{k:02d}.jpg" for c in ("p0", "n0") for k in range(1, 5)]
    # the second segment's n0 has no frames: dropped alone, n1 kept
    assert entries[two.clip_id]["aclip"] == ["p0.mp3", "n1.mp3"]
    assert res.negatives_dropped == {"no_frame_decodes": 1}
    assert list(entries[one.clip_id]) == ["dir", "aclip", "frame", "aclip_128", "frame_224", "id", "bos",
                                          "eos", "labels"]
    entry = entries[one.clip_id]
    base = example.media / entry["dir"]
    fb = np.load(base / "aclip_128" / f"{entry['id']}.{entry['aclip_128']}")["flag"]
    assert fb.shape == (998, 128) and np.isfinite(fb).all()
    frames = np.load(base / "frame_224" / f"{entry['id']}.{entry['frame_224']}")
    assert frames.files == ["01", "02", "03", "04"]
    for key, name in zip(frames.files, entry["frame"]):
        assert frames[key].shape == (3, 224, 224) and frames[key].dtype == np.float32
        # 320x180 -> 398x224 (shorter side 224), then the centre 224 columns: 87..311
        jpeg = Image.open(base / "frame" / f"{entry['id']}.{name}").convert("RGB")
        big = np.asarray(jpeg.resize((398, 224), Image.Resampling.BICUBIC)).astype(float)
        got = frame_224_to_rgb(frames[key]).astype(float)
        assert np.abs(got - big[:, 87:311]).mean() < 1.0
        assert np.abs(got - big[:, :224]).mean() > 10.0
    # 16 kHz is too low for 128 Kaldi mel bins: listed, without aclip_128, and counted
    low = next(s for s in example.segments if s.rate == 16000)
    low_entry = read_lines(tmp_path / "src_eval_segments.csv")[0]
    assert low_entry["id"] == low.clip_id and "aclip_128" not in low_entry and "frame_224" in low_entry
    assert res.feature_errors == {"fbank_rate_too_low": 1}


def test_label_filters_drop_or_keep_ontology_subtrees(example, tmp_path) -> None:
    speech = "/m/09x0r"
    res = build_index(IndexOptions(example.clips, example.manifest, example.media, tmp_path / "drop",
                                   exclude_labels=(speech,), check_media=False))
    listed = [e for f in (tmp_path / "drop").glob("src_*_segments.csv") if f.name != "src_train_segments.csv"
              for e in read_lines(f)]
    assert listed and all(speech not in e["labels"] for e in listed)
    from avdata.sources.ontology import Ontology
    under_speech = Ontology.load().descendants([speech])
    n_speech = sum(1 for s in example.segments if set(s.labels) & under_speech)
    assert res.excluded["label_excluded"] == n_speech > 0
    res = build_index(IndexOptions(example.clips, example.manifest, example.media, tmp_path / "keep",
                                   keep_labels=(speech,), check_media=False))
    kept = [e for f in (tmp_path / "keep").glob("src_*.csv") if f.name != "src_train_segments.csv"
            for e in read_lines(f)]
    assert kept and all(set(e["labels"]) & under_speech for e in kept)
    assert res.excluded["label_not_kept"] == sum(1 for s in example.segments if not set(s.labels) & under_speech)


def test_paths_outside_the_layout_are_excluded_not_followed(tmp_path) -> None:
    from avdata.index.validate import BAD_LAYOUT, ClipFiles, SegmentTask, check_segment

    def gold(audio: str, frames: tuple[str, ...], dir_: str = "all_0_35000") -> str:
        """The status with media checks; without them (string checks only) it must agree on layout."""
        files = ClipFiles("p0", "ok", audio, frames, 441000, 44100, 2)
        checked, trusted = (check_segment(SegmentTask(0, "abc", dir_, (files,), str(tmp_path), check_media=c)).status
                            for c in (True, False))
        assert (checked == BAD_LAYOUT) == (trusted == BAD_LAYOUT)
        return checked

    good_frames = ("all_0_35000/frame/abc.p0.4_01.jpg",)
    assert gold("all_0_35000/aclip/../../../etc/passwd", good_frames) == BAD_LAYOUT
    assert gold("all_0_35000/aclip/xyz.p0.mp3", good_frames) == BAD_LAYOUT        # another id
    assert gold("all_0_35000/aclip/abc.p0.mp3", ("other/frame/abc.p0.4_01.jpg",)) == BAD_LAYOUT
    assert gold("../x/aclip/abc.p0.mp3", ("../x/frame/abc.p0.4_01.jpg",), dir_="../x") == BAD_LAYOUT
    assert gold("all_0_35000/aclip/abc.p0.mp3", good_frames) == "audio_missing_file"
