"""AudioCaps caption CSVs: the real val file, round trip, label join, malformed rows."""

from __future__ import annotations

from pathlib import Path

from avdata.sources.audiocaps import read_captions, write_audiocaps
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, get_reader

FIRST = ("Rustling occurs, ducks quack and water splashes, followed by an adult female and adult male "
         "speaking and duck calls being blown")


def test_val_gives_495_clips_of_5_captions(test_data: Path) -> None:
    problems = Problems()
    table = read_captions(test_data / "val.csv", problems)
    assert problems.n_errors == 0
    assert table.num_rows == 495
    assert {len(c) for c in table.column("captions").to_pylist()} == {5}
    rows = [r for r in table.to_pylist() if r["source"] == "vfY_TJq7n_U"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["start"], row["end"], row["split"], row["dataset"]) == (130.0, 140.0, "val", "audiocaps")
    assert row["captions"][0] == FIRST
    assert row["origin_line"] == 2 and row["caption_lines"][0] == 2


def test_val_round_trip_is_byte_identical(test_data: Path, tmp_path: Path) -> None:
    table = read_captions(test_data / "val.csv")
    out = tmp_path / "val.csv"
    assert write_audiocaps(table, out) == 2475
    assert out.read_bytes() == (test_data / "val.csv").read_bytes()


def test_labels_are_joined_from_segment_files(test_data: Path, tmp_path: Path) -> None:
    seg = tmp_path / "unbalanced_train_segments.csv"
    seg.write_text("# Segments csv created today\n# num_ytids=1, num_segs=1, num_unique_labels=2, "
                   "num_positive_labels=2\n# YTID, start_seconds, end_seconds, positive_labels\n"
                   'vfY_TJq7n_U, 130.000, 140.000, "/m/09ddx,/m/09x0r"\n')
    problems = Problems()
    table = get_reader("audiocaps")([str(test_data / "val.csv")], ReadOptions(segments=(str(seg),)), problems)
    by_id = {r["source"]: r["labels"] for r in table.select(["source", "labels"]).to_pylist()}
    assert by_id["vfY_TJq7n_U"] == ["/m/09ddx", "/m/09x0r"]
    assert sum(1 for v in by_id.values() if v) == 1
    assert any("494 of 495 clip(s) have no AudioSet labels" in w.reason for w in problems.warnings)


def test_malformed_caption_rows_are_reported_and_skipped(test_data: Path, tmp_path: Path) -> None:
    lines = (test_data / "val.csv").read_bytes().decode("utf-8").split("\r\n")[:11]
    lines[3] = "1,vfY_TJq7n_U"                          # missing fields
    lines[5] = "2,bad id,10,a caption"                  # bad id
    lines[7] = "3,vfY_TJq7n_U,soon,a caption"           # not a number
    path = tmp_path / "val.csv"
    path.write_text("\r\n".join(lines) + "\r\n", newline="")
    problems = Problems()
    table = read_captions(path, problems)
    assert [(e.line, e.file) for e in problems.errors] == [(4, str(path)), (6, str(path)), (8, str(path))]
    assert sum(len(c) for c in table.column("captions").to_pylist()) == 7
