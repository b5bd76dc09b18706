"""AudioScope, AudioScopeV2 and MixIT YFCC100M clip lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from avdata.sources.audioscope import list_info
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, get_reader, get_writer

P1 = "data/videos/mp4/827/f6b/827f6b53467db2d5218ed8247418c4c.mp4"
P2 = "data/videos/mp4/0a1/b2c/0a1b2c3d4e5f60718293a4b5c6d7e8f9.mp4"


@pytest.mark.parametrize("name, dataset, split, annotation, filtered, pair", [
    ("filtered_train_clips.csv", "audioscope", "train", None, True, False),
    ("unfiltered_validate_onscreen_unanimous_clips.csv", "audioscope_v2", "validate", "onscreen_unanimous",
     False, False),
    ("filtered_test_offscreen_unanimous_plus_offscreen_unanimous_mom_clips.csv", "audioscope", "test",
     "offscreen_unanimous_plus_offscreen_unanimous", True, True),
    ("unfiltered_test_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv", "audioscope_v2", "test",
     "onscreen_unanimous_plus_random_unfiltered", False, True),
])
def test_published_file_names_tell_split_label_and_filtering(name, dataset, split, annotation, filtered, pair):
    info = list_info(name)
    assert (info.dataset, info.split, info.annotation, info.filtered, info.pair) == (
        dataset, split, annotation, filtered, pair)


@pytest.mark.parametrize("fmt, name, text", [
    ("audioscope", "unfiltered_validate_onscreen_unanimous_clips.csv", f"{P1},0.0,10.0\n{P2},12.5,22.5\n"),
    ("audioscope", "filtered_validate_clips.csv", f"video_path,start_time,end_time\r\n{P1},0,10\r\n{P2},3,13\r\n"),
    ("audioscope", "filtered_test_onscreen_unanimous_plus_offscreen_unanimous_mom_clips.csv",
     f"{P1},0.000,10.000,{P2},5.000,15.000\n{P1},0.000,10.000,{P2},20.000,30.000\n"),
    ("mixit", "validate_clips.csv", f"{P1},0.0,10.0,0.0\n{P2},2.0,8.5,1.75\n"),
    ("mixit", "test_mom_clips.csv", f"path1,start1,end1,offset1,path2,start2,end2,offset2\n"
                                    f"{P1},0.0,10.0,0.0,{P2},2.0,8.5,1.75\n"),
])
def test_lists_round_trip_byte_for_byte(tmp_path: Path, fmt: str, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode())
    problems = Problems()
    table = get_reader(fmt)([str(path)], ReadOptions(), problems)
    assert problems.n_errors == 0
    rows = [r for r in text.splitlines() if r and not r.startswith(("video_path", "path1"))]
    assert table.num_rows == len(rows)
    assert table.column("source").to_pylist()[0] == P1
    if "mom" in name:
        assert table.column("pair_source").to_pylist()[0] == P2
    if fmt == "mixit":
        assert table.column("offset").to_pylist()[-1] == (1.75 if "mom" not in name else 0.0)
        assert set(table.column("dataset").to_pylist()) == {"mixit_yfcc"}
    out = tmp_path / "out.csv"
    get_writer(fmt)(table, out)
    assert out.read_bytes() == path.read_bytes()


def test_repeated_clips_in_pair_lists_get_unique_ids(tmp_path: Path) -> None:
    from avdata.sources.ids import make_unique

    path = tmp_path / "unfiltered_test_offscreen_unanimous_plus_random_unfiltered_mom_clips.csv"
    path.write_text(f"{P1},0.0,10.0,{P2},0.0,10.0\n{P1},0.0,10.0,{P2},0.0,10.0\n{P1},0.0,10.0,{P1},20.0,30.0\n")
    table = make_unique(get_reader("audioscope")([str(path)], ReadOptions(), Problems()))
    ids = table.column("clip_id").to_pylist()
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "_0"


@pytest.mark.parametrize("line, reason", [
    (f"{P1},0.0", "expected 3 fields"),
    (f"{P1},zero,10.0", "not a number"),
    (f"{P1},10.0,5.0", "not after start"),
    (f"/abs/{P1},0.0,10.0", "absolute path"),
    (f"../{P1},0.0,10.0", "'..'"),
    (f"{P1},-1.0,10.0", ">= 0"),
])
def test_malformed_list_rows_are_reported_with_line(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "filtered_train_clips.csv"
    path.write_text(f"{P1},0.0,10.0\n{line}\n{P2},1.0,11.0\n")
    problems = Problems()
    table = get_reader("audioscope")([str(path)], ReadOptions(), problems)
    assert problems.n_errors == 1 and problems.errors[0].line == 2 and reason in problems.errors[0].reason
    assert table.column("origin_line").to_pylist() == [1, 3]
