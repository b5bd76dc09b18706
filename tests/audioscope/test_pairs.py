"""MoM pairs: deterministic for a seed, never the same video, same split, 5x rows, published names
readable by our own reader; subset exports with the published names."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from avdata.audioscope.pairs import MomOptions, make_pairs, mom_file_name
from avdata.audioscope.subsets import SubsetExportOptions, export_subsets
from avdata.errors import AvdataError
from avdata.sources.audioscope import read_audioscope
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions
from avdata.table import clips_from_records, read_clips, write_clips


def _table(path: Path, dataset: str = "audioscope_v2") -> Path:
    """Per split: 12 videos of 4 windows; some windows annotated."""
    recs = []
    line = 0
    for split in ("train", "validate", "test"):
        for v in range(12):
            for w in range(4):
                line += 1
                ann = None
                if w == 0 and v % 3 == 0:
                    ann = "onscreen_unanimous"
                elif w == 1 and v % 4 == 1:
                    ann = "offscreen_unanimous"
                src = f"data/videos/mp4/{split}/{v:03d}.mp4"
                recs.append(dict(clip_id=f"{split}_{v}_{w}", source=src, source_kind="path", start=5.0 * w,
                                 end=5.0 * w + 5, dataset=dataset, split=split, origin_file="w", origin_line=line,
                                 annotation=ann, filtered=(v % 2 == 0)))
    write_clips(clips_from_records(recs), path)
    return path


def _read(path: Path) -> list[dict]:
    p = Problems()
    t = read_audioscope([str(path)], ReadOptions(), p)
    assert p.n_errors == 0
    return t.to_pylist()


def test_pairs_rules_and_names(tmp_path: Path) -> None:
    clips = _table(tmp_path / "clips.parquet")
    s = make_pairs(MomOptions(clips=str(clips), out=str(tmp_path / "mom"), partners=5, seed=0))
    names = sorted(p.name for p in s.files)
    assert names == sorted(mom_file_name("unfiltered", sp, a, None) for sp in ("validate", "test")
                           for a in ("onscreen_unanimous", "offscreen_unanimous"))
    assert "unfiltered_validate_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv" in names
    table = read_clips(clips)
    by_key = {(r["source"], r["start"]): r for r in table.to_pylist()}
    for path, n in s.files.items():
        rows = _read(path)
        split = rows[0]["split"]
        ann = "onscreen_unanimous" if "_onscreen_" in path.name else "offscreen_unanimous"
        anchors = table.filter(pc.and_(pc.equal(table.column("split"), split),
                                       pc.equal(table.column("annotation"), ann)))
        assert n == len(rows) == 5 * anchors.num_rows                       # 5 partners each: 5x rows
        for r in rows:
            first, second = by_key[(r["source"], r["start"])], by_key[(r["pair_source"], r["pair_start"])]
            assert first["annotation"] == ann and second["annotation"] is None
            assert first["split"] == second["split"] == split               # the split is kept
            assert r["source"] != r["pair_source"]                          # never the same video
        per_anchor = {}
        for r in rows:
            per_anchor.setdefault((r["source"], r["start"]), []).append((r["pair_source"], r["pair_start"]))
        assert all(len(set(v)) == 5 for v in per_anchor.values())           # distinct partners
    again = make_pairs(MomOptions(clips=str(clips), out=str(tmp_path / "mom2"), partners=5, seed=0))
    other = make_pairs(MomOptions(clips=str(clips), out=str(tmp_path / "mom3"), partners=5, seed=1))
    for p in s.files:
        assert (tmp_path / "mom2" / p.name).read_bytes() == p.read_bytes()  # deterministic for a seed
    assert any((tmp_path / "mom3" / p.name).read_bytes() != p.read_bytes() for p in s.files)


def test_partner_annotation_and_shortfall(tmp_path: Path) -> None:
    clips = _table(tmp_path / "clips.parquet", dataset="audioscope")
    s = make_pairs(MomOptions(clips=str(clips), out=str(tmp_path / "mom"), partners=5,
                              partner_annotation="offscreen_unanimous", splits=("test",)))
    names = sorted(p.name for p in s.files)
    assert names == ["filtered_test_offscreen_unanimous_plus_offscreen_unanimous_mom_clips.csv",
                     "filtered_test_onscreen_unanimous_plus_offscreen_unanimous_mom_clips.csv"]
    off = _read(tmp_path / "mom" / names[0])
    # 3 off-screen clips (videos 1, 5, 9): each has only 2 partners from other videos
    assert len(off) == 3 * 2
    on = _read(tmp_path / "mom" / names[1])
    # 4 on-screen clips (videos 0, 3, 6, 9): 3 partners each, video 9's own off-screen clip excluded
    assert len(on) == 3 + 3 + 3 + 2
    assert s.problems.n_warnings == 7
    assert "w:134: test_9_1: only 2 partner(s) from other videos in its split, 5 asked" in map(
        str, s.problems.warnings)
    with pytest.raises(AvdataError, match="partners"):
        make_pairs(MomOptions(clips=str(clips), out=str(tmp_path / "x"), partners=0))


def test_adding_clips_keeps_other_clips_partners_order_free(tmp_path: Path) -> None:
    clips = _table(tmp_path / "clips.parquet")
    t = read_clips(clips)
    write_clips(t.take(list(range(t.num_rows))[::-1]), tmp_path / "reversed.parquet")
    a = make_pairs(MomOptions(clips=str(clips), out=str(tmp_path / "a")))
    b = make_pairs(MomOptions(clips=str(tmp_path / "reversed.parquet"), out=str(tmp_path / "b")))
    for p in a.files:
        assert (tmp_path / "b" / p.name).read_bytes() == p.read_bytes()     # row order does not matter


def test_subset_exports_published_names(tmp_path: Path) -> None:
    clips = _table(tmp_path / "clips.parquet")
    files = export_subsets(SubsetExportOptions(table=str(clips), out=str(tmp_path / "lists")))
    names = sorted(p.name for p in files)
    assert "unfiltered_test_offscreen_unanimous_clips.csv" in names
    assert "unfiltered_train_clips.csv" in names and len(names) == 9
    rows = _read(tmp_path / "lists" / "unfiltered_test_offscreen_unanimous_clips.csv")
    assert {r["split"] for r in rows} == {"test"} and {r["annotation"] for r in rows} == {"offscreen_unanimous"}
    assert len(rows) == 3 and files[tmp_path / "lists" / "unfiltered_test_clips.csv"] == 48
    filt = export_subsets(SubsetExportOptions(table=str(clips), out=str(tmp_path / "f"), filtering="filtered"))
    assert filt[tmp_path / "f" / "filtered_test_clips.csv"] == 24             # only filtered == true
    assert {r["filtered"] for r in _read(tmp_path / "f" / "filtered_test_clips.csv")} == {True}
