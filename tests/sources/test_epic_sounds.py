"""issue 21: Epic-Sounds. Files in the published layouts (10, 8 and 7 columns; rows written here,
the CC BY-NC originals are only read in place from ../shared) round-trip byte for byte; bad rows are
one line each; a synthetic corpus of local EPIC-KITCHENS-100-style videos runs from the list through
fetch (dir:), extract and index to AVIndexDataset items with each annotation's own span."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from avdata.media.synth import SynthSpec, make_video
from avdata.sources.epic_sounds import COLUMNS, format_timestamp, parse_timestamp

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "epic_sounds"
ROWS = [  # written for the tests in the published layout (not the CC BY-NC originals)
    ["P01_11_0", "P01", "P01_11", "00:00:01.069", "00:00:03.993", "25656", "95832", "clang / clatter",
     "ceramic / wood collision", "34"],
    ["P01_11_1", "P01", "P01_11", "00:00:04.065", "00:00:07.447", "97561", "178728", "paper rustle", "rustle", "4"],
    ["P02_03_0", "P02", "P02_03", "00:00:00.500", "00:00:03.250", "12000", "78000", "steps", "footstep", "2"],
]


def _avdata(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, timeout=600)


def _file(path: Path, width: int, rows: list[list[str]] = ROWS, final: bool = True) -> Path:
    text = "\n".join([",".join(COLUMNS[:width]), *(",".join(r[:width]) for r in rows)]) + ("\n" if final else "")
    path.write_text(text)
    return path


def test_timestamps() -> None:
    assert parse_timestamp("01:02:03.456") == pytest.approx(3723.456)
    assert format_timestamp(3723.456) == "01:02:03.456" and format_timestamp(0.5) == "00:00:00.500"


@pytest.mark.parametrize("width", [10, 8, 7])
def test_the_published_layouts_round_trip_byte_for_byte(tmp_path: Path, width: int) -> None:
    for final in (True, False):
        src = _file(tmp_path / f"EPIC_Sounds_validation_{width}{final}.csv", width, final=final)
        assert _avdata("ingest", "epic-sounds", str(src), "-o", str(tmp_path / "c.parquet")).returncode == 0
        r = _avdata("export", "epic-sounds", str(tmp_path / "c.parquet"), "-o", str(tmp_path / "back.csv"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "back.csv").read_bytes() == src.read_bytes()
    rows = pq.read_table(tmp_path / "c.parquet").to_pylist()
    assert [r["clip_id"] for r in rows] == ["P01_11_0", "P01_11_1", "P02_03_0"]
    assert rows[0]["source"] == "P01/videos/P01_11.MP4" and rows[0]["source_kind"] == "path"
    assert (rows[1]["start"], rows[1]["end"], rows[1]["split"]) == (4.065, 7.447, "validation")
    assert rows[1]["epic_start_sample"] == 97561        # kept as given (not 4.065 x 24000)
    assert rows[1]["labels"] == (["rustle"] if width == 10 else [])


def test_the_shared_samples_round_trip(tmp_path: Path) -> None:
    files = sorted(SHARED.glob("*.csv")) if SHARED.is_dir() else []
    if not files:
        pytest.skip("../shared is not beside this checkout")
    for src in files:
        r = _avdata("ingest", "epic-sounds", str(src), "-o", str(tmp_path / "c.parquet"))
        assert r.returncode == 0 and "wrote 199 clip(s)" in r.stdout, r.stderr
        assert _avdata("export", "epic-sounds", str(tmp_path / "c.parquet"), "-o", str(tmp_path / "b.csv")).returncode == 0
        assert (tmp_path / "b.csv").read_bytes() == src.read_bytes(), src


def test_bad_rows_are_one_line_each(tmp_path: Path) -> None:
    bad = [["P01_11_9", "P01", "P01_11", "0:00:01.0", "00:00:02.000", "1", "2", "d", "c", "1"],
           ["P01_11_8", "P01", "P01_11", "00:00:05.000", "00:00:02.000", "1", "2", "d", "c", "1"],
           ["P01_11_7", "P01", "P01_11", "00:00:01.000", "00:00:02.000", "x", "2", "d", "c", "1"],
           ["P01_11_6", "P01", "P01_11", "00:00:01.000", "00:00:02.000", "1", "2", "d", "", "1"],
           ROWS[0]]
    src = _file(tmp_path / "EPIC_Sounds_train.csv", 10, ROWS + bad)
    r = _avdata("ingest", "epic-sounds", str(src), "-o", str(tmp_path / "c.parquet"))
    assert r.returncode == 1
    lines = [x for x in r.stderr.splitlines() if f"{src}:" in x]
    assert [int(x.split(f"{src}:")[1].split(":")[0]) for x in lines] == [5, 6, 7, 8, 9]
    for word, line in zip(("not HH:MM:SS.mmm", "before start_timestamp", "not whole numbers", "empty class",
                           "repeated annotation_id"), lines):
        assert word in line, line
    assert pq.read_table(tmp_path / "c.parquet").num_rows == 3


def test_local_videos_from_the_list_to_loader_items(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avdata.loaders import AVIndexDataset, DatasetOptions, index_labels

    tree = tmp_path / "EPIC-KITCHENS"
    for k, video in enumerate(("P01/videos/P01_11.MP4", "P02/videos/P02_03.MP4"), 1):
        make_video(tree / video, SynthSpec(duration=9.0, width=96, height=64, fps=10, channels=1, seed=k))
    src = _file(tmp_path / "EPIC_Sounds_validation.csv", 10)
    assert _avdata("ingest", "epic-sounds", str(src), "-o", str(tmp_path / "c.parquet")).returncode == 0
    r = _avdata("fetch", str(tmp_path / "c.parquet"), "--source", f"dir:{tree}", "--out", str(tmp_path / "videos"))
    assert r.returncode == 0, r.stderr
    r = _avdata("extract", str(tmp_path / "c.parquet"), "--videos", str(tmp_path / "videos"), "--fetch-manifest",
                str(tmp_path / "videos" / "fetch_manifest.parquet"), "--out", str(tmp_path / "media"))
    assert r.returncode == 0, r.stderr
    r = _avdata("index", str(tmp_path / "c.parquet"), "--manifest", str(tmp_path / "media" / "extract_manifest.parquet"),
                "--media", str(tmp_path / "media"), "--out", str(tmp_path / "index"), "--min-audio-seconds", "0.5")
    assert r.returncode == 0, r.stderr
    index = tmp_path / "index" / "src_epic_sounds_validation.csv"
    lines = [json.loads(x) for x in index.read_text().splitlines()]
    assert [(x["id"], x["bos"], x["eos"], x["labels"]) for x in lines] == [
        ("P01_11_0", "1.069", "3.993", ["ceramic / wood collision"]), ("P01_11_1", "4.065", "7.447", ["rustle"]),
        ("P02_03_0", "0.500", "3.250", ["footstep"])]
    ds = AVIndexDataset(index, DatasetOptions(media=str(tmp_path / "media"), outputs=("waveform", "labels"),
                                              labels=index_labels(index)))
    from avdata.embed import media_for_line
    from avdata.media.inspect import decode_audio

    for k, line in enumerate(lines):
        item = ds[k]
        seconds = float(line["eos"]) - float(line["bos"])
        audio, rate = decode_audio(media_for_line(line, tmp_path / "media").audio)
        assert audio.shape[1] / rate == pytest.approx(seconds, abs=0.03)          # the annotation's own span
        assert item["labels"].sum() == 1 and item["waveform"].ndim >= 1
