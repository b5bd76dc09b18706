"""issue 28: from VIP-ANT's published index files and local videos (one missing, one too short for the
negative its line lists): ingest -> extract -> index gives back the published lines, byte for byte
and in order, for every clip that was built; the rest is in the coverage report; VIP-ANT's own way
of reading (``cvap/data/audioset_cls.py``) finds every file the kept lines name."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from class_corpus import write_class_video

pytestmark = pytest.mark.slow


def _line(i: str, bos: float, clips: tuple[str, ...] = ("p0",), dir: str = "all_0_35000",
          captions: list[str] | None = None) -> bytes:
    d = {"dir": dir, "aclip": [f"{c}.mp3" for c in clips],
         "frame": [f"{c}.4_{k:02d}.jpg" for c in clips for k in range(1, 5)],
         "aclip_128": "p0.npz", "frame_224": "p0.npz", "id": i, "bos": f"{bos:.3f}", "eos": f"{bos + 10:.3f}",
         "labels": ["/m/09x0r"]}
    if captions is not None:
        d["captions"] = captions
    return json.dumps(d).encode() + b"\n"


def _avdata(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("published")
    rng = np.random.default_rng(0)
    videos = root / "videos"
    for vid, cls, seconds in (("vipantAAA01", "tone", 35.0), ("vipant_BB02", "chirp", 20.0),
                              ("vipant-CC03", "noise", 35.0), ("vipantDDD04", "click", 12.0)):
        write_class_video(videos / f"{vid}.mp4", cls, rng, seconds)
    balanced = [_line("vipantAAA01", 10.0, ("p0", "n0", "n1")),
                _line("vipant_BB02", 5.0, dir="unbalanced_1715367_1750367"),
                _line("vipantGONE5", 0.0),                               # no such video
                _line("vipant-CC03", 0.0, ("p0", "n0", "n1")),
                _line("vipantDDD04", 1.0, ("p0", "n0"))]                  # 12 s: no room for n0
    captions = [_line("vipantAAA01", 12.0, dir="audiocaps_val_0_1000", captions=["a tone", "\u00e9t\u00e9 \u2014"]),
                _line("vipant-CC03", 20.0, dir="audiocaps_val_0_1000", captions=["noise"])]
    combined = [_line("vipant_BB02", 3.0, dir="train_0_35000"), _line("vipantGONE5", 0.0, dir="train_0_35000"),
                _line("vipantAAA01", 20.0, dir="train_35000_70000"), _line("vipant-CC03", 5.0, dir="train_35000_70000")]
    files = {"src_full_balanced_train_segments.csv": b"".join(balanced), "src_audiocaps_val.csv": b"".join(captions),
             "src_train_segments.csv": b"".join(combined)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    weights = root / "src_balanced_train_segments_weight.csv"
    weights.write_bytes(b"".join(f"{w!r}\n".encode() for w in (1.5, 2.5, 3.5, 4.5, 5.5)))
    res = {}
    for name in files:
        out = root / name.replace(".csv", "")
        extra = ["--weights", str(weights)] if "balanced" in name else []
        r = _avdata("ingest", "vipant", str(root / name), *extra, "-o", str(out / "clips.parquet"))
        assert r.returncode == 0, r.stderr
        r = _avdata("extract", str(out / "clips.parquet"), "--videos", str(videos), "--out", str(root / "media"),
                    "--workers", "2")
        assert r.returncode in (0, 1), r.stderr
        r = _avdata("index", str(out / "clips.parquet"), "--manifest", str(root / "media" / "extract_manifest.parquet"),
                    "--media", str(root / "media"), "--out", str(out / "index"), "--features", "--workers", "2",
                    "--published-split-line", "2")
        assert r.returncode in (0, 1), r.stderr
        res[name] = (out / "index", r.stdout)
    return {"root": root, "files": files, "index": res, "weights": weights}


def test_the_published_lines_come_back_byte_for_byte_for_every_built_clip(built: dict) -> None:
    name = "src_full_balanced_train_segments.csv"
    index, stdout = built["index"][name]
    published = built["files"][name].splitlines(keepends=True)
    kept = (index / name).read_bytes().splitlines(keepends=True)
    assert kept == [published[0], published[1], published[3]]          # in the published order
    dropped = (index / name.replace(".csv", "_dropped.csv")).read_bytes().splitlines(keepends=True)
    assert dropped == [published[2], published[4]]
    cov = json.loads((index / name.replace(".csv", "_coverage.json")).read_text())
    assert cov["listed"] == 5 and cov["kept"] == 3
    assert cov["dropped"] == {"extract_missing_video": 1, "n0_extract_no_room": 1}
    assert "3 of 5 lines kept" in stdout
    # the weights follow their lines
    weights = (index / "src_full_balanced_train_segments_weight.csv").read_bytes()
    assert weights == b"1.5\n2.5\n4.5\n"
    assert not (index / "src_balanced_train_segments.csv").exists()      # no file of avdata's own numbering


def test_audiocaps_lines_with_captions_come_back_too(built: dict) -> None:
    name = "src_audiocaps_val.csv"
    index, _ = built["index"][name]
    assert (index / name).read_bytes() == built["files"][name]


def test_the_combined_file_reports_its_new_splitting_line(built: dict) -> None:
    name = "src_train_segments.csv"
    index, stdout = built["index"][name]
    cov = json.loads((index / "src_train_segments_coverage.json").read_text())
    assert cov["kept"] == 3 and cov["published_split_line"] == 2 and cov["split_line"] == 1
    assert "splitting line 2 -> 1" in stdout
    published = built["files"][name].splitlines(keepends=True)
    assert (index / name).read_bytes() == b"".join([published[0], published[2], published[3]])


def _vipant_style_items(root: Path, index_file: Path) -> list[tuple[np.ndarray, np.ndarray, Path, list[Path]]]:
    """What VIP-ANT's ``AudiosetNpz`` / ``AudiosetSrc`` do with each line (written here from reading
    ``cvap/data/audioset_cls.py``): ``{root}/{dir}/aclip_128/{id}.{aclip_128}`` npz under key
    ``flag``; the ``frame_224`` npz's non-empty arrays, the middle one (``ceil(n/2) - 1``) in
    evaluation; the raw clip ``{root}/{dir}/aclip/{id}.{aclip[0]}`` and frames ``.../frame/{id}.{f}``."""
    items = []
    for text in index_file.read_text().splitlines():
        record = json.loads(text)
        sub = f"{record['dir']}/" if record["dir"] else ""
        audio = np.load(f"{root}/{sub}aclip_128/{record['id']}.{record['aclip_128']}")["flag"]
        images = np.load(f"{root}/{sub}frame_224/{record['id']}.{record['frame_224']}")
        images = [images[k] for k in images.files if len(images[k]) != 0]
        image = images[int(np.ceil(len(images) / 2)) - 1]
        aclip = Path(f"{root}/{sub}aclip/{record['id']}.{record['aclip'][0]}")
        frames = [Path(f"{root}/{sub}frame/{record['id']}.{f}") for f in record["frame"]]
        items.append((audio, image, aclip, frames))
    return items


def test_vipant_reads_the_published_file_over_the_built_media(built: dict) -> None:
    name = "src_full_balanced_train_segments.csv"
    index, _ = built["index"][name]
    items = _vipant_style_items(built["root"] / "media", index / name)
    assert len(items) == 3
    for audio, image, aclip, frames in items:
        assert audio.ndim == 2 and audio.shape[1] == 128 and 990 <= audio.shape[0] <= 1000
        assert np.isfinite(audio).all() and audio.std() > 0.1
        assert image.shape == (3, 224, 224) and math.isfinite(float(image.mean()))
        assert aclip.is_file() and all(f.is_file() for f in frames)
    assert len(items[0][3]) == 12                                          # p0, n0, n1: 4 frames each


def test_weights_compare_tells_which_list_the_published_weights_were_made_on(built: dict) -> None:
    name = "src_full_balanced_train_segments.csv"
    index, _ = built["index"][name]
    ours = index / "ours_weight.csv"
    r = _avdata("weights", str(index / name), "-o", str(ours))
    assert r.returncode == 0, r.stderr
    same = _avdata("weights", str(index / name), "--compare", str(ours))
    assert same.returncode == 0 and "0 line(s) differ" in same.stdout and "same weights" in same.stdout
    cut = index / "src_full_balanced_train_segments_weight.csv"
    other = _avdata("weights", str(index / name), "--compare", str(cut))
    assert other.returncode == 0 and "3 line(s) differ beyond float rounding" in other.stdout
    assert "line 1: avdata " in other.stdout and "published 1.5" in other.stdout
    short = _avdata("weights", str(index / name), "--compare", str(built["weights"]))
    assert short.returncode == 3 and "not line-aligned" in short.stderr
