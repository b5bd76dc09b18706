"""issue 26: `avdata export hf` of the demo's index files, read back by `datasets.load_dataset` with
no code of ours: row counts per split, labels (names and ids), the audio bytes equal to the MP3
avdata wrote (datasets' own audio decoder needs torchcodec, which needs a system FFmpeg, absent
here), the frames decoded by datasets equal to the JPEGs avdata wrote; the card's YAML; reruns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avdata.embed import media_for_line
from avdata.index.lines import iter_records
from avdata.sources.ontology import Ontology

datasets = pytest.importorskip("datasets", reason="the test extra installs datasets")
pytestmark = pytest.mark.slow
FILES = ("src_balanced_train_segments.csv", "src_eval_segments.csv", "src_audiocaps_val.csv")


def _export(demo_dir: Path, out: Path, *files: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", "export", "hf",
                           *(str(demo_dir / "index" / f) for f in files), "--media", str(demo_dir / "media"),
                           "-o", str(out)], capture_output=True, text=True, timeout=600)


def test_load_dataset_reads_the_export_as_written(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    r = _export(demo_dir, out, *FILES)
    assert r.returncode == 0, r.stderr
    ds = datasets.load_dataset(str(out))
    assert set(ds) == {"balanced_train", "eval", "val"}
    ontology = Ontology.load(None)
    for name, split in (("src_balanced_train_segments.csv", "balanced_train"), ("src_eval_segments.csv", "eval"),
                        ("src_audiocaps_val.csv", "val")):
        recs = [rec for _, rec, _ in iter_records(demo_dir / "index" / name)]
        assert ds[split].num_rows == len(recs)
        raw = ds[split].cast_column("audio", datasets.Audio(decode=False))
        weights = [float(x) for x in (demo_dir / "index" / name.replace(".csv", "_weight.csv")).read_text().split()]
        for k, rec in enumerate(recs):
            row = raw[k]
            media = media_for_line(rec, demo_dir / "media")
            assert row["id"] == rec["id"] and row["label_ids"] == rec["labels"]
            assert row["labels"] == [ontology.name(x) for x in rec["labels"]]
            assert row["captions"] == list(rec.get("captions") or [])
            assert row["start"] == float(rec["bos"]) and row["end"] == float(rec["eos"])
            assert row["weight"] == weights[k]
            assert row["audio"]["bytes"] == media.audio.read_bytes()           # max |diff| 0: the MP3 itself
            assert len(row["frames"]) == len(media.frames)
            for img, path in zip(row["frames"], media.frames):             # datasets' Image decoder (Pillow)
                assert isinstance(img, Image.Image)
                assert np.array_equal(np.asarray(img.convert("RGB")), np.asarray(Image.open(path).convert("RGB")))
    assert ds["eval"].features["audio"] == datasets.Audio()
    assert ds["val"].select_columns(["captions"])[0]["captions"]                # AudioCaps' captions came along


def test_the_card_declares_configs_splits_features_license_and_the_build(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    assert _export(demo_dir, out, *FILES).returncode == 0
    text = (out / "README.md").read_text()
    yaml = pytest.importorskip("yaml")
    front = yaml.safe_load(text.split("---\n")[1])
    assert [c["path"] for c in front["configs"][0]["data_files"]] == [
        "data/balanced_train-*.parquet", "data/eval-*.parquet", "data/val-*.parquet"]
    assert {f["name"] for f in front["dataset_info"]["features"]} >= {"audio", "frames", "labels", "youtube_id",
                                                                       "start", "end", "weight", "captions"}
    assert {s["name"]: s["num_examples"] for s in front["dataset_info"]["splits"]} == {
        "balanced_train": 12, "eval": 6, "val": 4}
    assert front["license"] == "other"            # AudioSet (cc-by-4.0) and AudioCaps (mit) together
    assert "Gemmeke et al." in text and "Kim et al." in text and "push_to_hub" in text
    import hashlib
    sha = hashlib.sha256((demo_dir / "index" / "src_eval_segments.csv").read_bytes()).hexdigest()
    assert sha in text
    one = tmp_path / "one"
    assert _export(demo_dir, one, "src_eval_segments.csv").returncode == 0
    assert yaml.safe_load((one / "README.md").read_text().split("---\n")[1])["license"] == "cc-by-4.0"


def test_a_rerun_replaces_its_own_files_and_refuses_a_folder_of_foreign_parquet(demo_dir: Path,
                                                                                tmp_path: Path) -> None:
    out = tmp_path / "hf"
    assert _export(demo_dir, out, *FILES).returncode == 0
    assert _export(demo_dir, out, "src_eval_segments.csv").returncode == 0
    assert sorted(p.name for p in (out / "data").iterdir()) == ["eval-00000-of-00001.parquet"]
    assert json.loads((out / "avdata_export.json").read_text())["files"] == ["data/eval-00000-of-00001.parquet"]
    mine = out / "data" / "theirs.parquet"
    mine.write_bytes(b"PAR1 user data")
    r = _export(demo_dir, out, "src_eval_segments.csv")
    assert r.returncode == 3 and "did not write" in r.stderr and mine.read_bytes() == b"PAR1 user data"


def test_a_line_without_media_is_reported_and_left_out(demo_dir: Path, tmp_path: Path) -> None:
    index = tmp_path / "src_eval_segments.csv"
    lines = (demo_dir / "index" / "src_eval_segments.csv").read_bytes().splitlines(keepends=True)
    rec = json.loads(lines[2])
    rec["id"] = "missing0001"
    index.write_bytes(b"".join(lines[:2]) + json.dumps(rec).encode() + b"\n" + b"".join(lines[3:]))
    r = subprocess.run([sys.executable, "-m", "avdata", "export", "hf", str(index), "--media",
                        str(demo_dir / "media"), "-o", str(tmp_path / "hf")], capture_output=True, text=True)
    assert r.returncode == 1 and f"{index}:3" in r.stderr and "Traceback" not in r.stderr
    assert datasets.load_dataset(str(tmp_path / "hf"))["eval"].num_rows == 5
    r = subprocess.run([sys.executable, "-m", "avdata", "export", "audioset", str(index), str(index), "-o",
                        str(tmp_path / "x.csv")], capture_output=True, text=True)
    assert r.returncode == 2 and "one TABLE" in r.stderr
