"""Ratings to unanimous subsets on hand-made rating files: unanimity, ties, too few raters, bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from avdata.audioscope.ratings import RatingsOptions, apply_ratings, decide
from avdata.errors import AvdataError
from avdata.table import clips_from_records, read_clips, write_clips


def _clips(path: Path) -> Path:
    recs = []
    for i, name in enumerate(["v/a.mp4", "v/b.mp4", "v/c.mp4", "v/d.mp4", "v/e.mp4", "v/f.mp4"]):
        recs.append(dict(clip_id=f"c{i}", source=name, source_kind="path", start=0.0, end=5.0,
                         dataset="audioscope_v2", split="test", origin_file="x", origin_line=i + 1))
    recs.append(dict(clip_id="c6", source="v/a.mp4", source_kind="path", start=5.0, end=10.0,
                     dataset="audioscope_v2", split="test", origin_file="x", origin_line=7,
                     annotation="offscreen_unanimous"))
    write_clips(clips_from_records(recs), path)
    return path


RATINGS = """video path,start,end,rater,label
v/a.mp4,0,5,r1,onscreen
v/a.mp4,0.000,5.000,r2,onscreen
v/a.mp4,0,5,r3,onscreen
v/b.mp4,0,5,r1,offscreen
v/b.mp4,0,5,r2,offscreen
v/b.mp4,0,5,r3,offscreen
v/b.mp4,0,5,r4,offscreen
v/c.mp4,0,5,r1,onscreen
v/c.mp4,0,5,r2,onscreen
v/c.mp4,0,5,r3,offscreen
v/c.mp4,0,5,r4,offscreen
v/d.mp4,0,5,r1,onscreen
v/d.mp4,0,5,r2,onscreen
v/d.mp4,0,5,r2,onscreen
v/e.mp4,0,5,r1,onscreen
v/e.mp4,0,5,r2,onscreen
v/e.mp4,0,5,r3,both
v/f.mp4,0,5,r1,onscreen
v/f.mp4,0,5,r2,onscreen
v/f.mp4,0,5,r3,onscreen
v/f.mp4,0,5,r3,offscreen
v/f.mp4,0,5,r9,maybe
v/f.mp4,zero,5,r8,onscreen
v/f.mp4,0,5,r7
v/z.mp4,0,5,r1,onscreen
"""


def test_unanimous_rules(tmp_path: Path) -> None:
    clips = _clips(tmp_path / "clips.parquet")
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(RATINGS)
    s = apply_ratings(RatingsOptions(ratings=(str(ratings),), clips=str(clips)))
    t = read_clips(s.output)
    ann = dict(zip(t.column("clip_id").to_pylist(), t.column("annotation").to_pylist()))
    raters = dict(zip(t.column("clip_id").to_pylist(), t.column("raters").to_pylist()))
    assert ann == {"c0": "onscreen_unanimous",      # 3 of 3 onscreen
                   "c1": "offscreen_unanimous",     # 4 of 4 offscreen
                   "c2": None,                      # a 2-2 tie
                   "c3": None,                      # 2 distinct raters (r2 twice): too few
                   "c4": None,                      # a 'both'
                   "c5": None,                      # r3 said onscreen then offscreen
                   "c6": "offscreen_unanimous"}     # unrated: kept
    assert raters == {"c0": 3, "c1": 4, "c2": 4, "c3": 2, "c4": 3, "c5": 3, "c6": None}
    assert [str(e) for e in s.problems.errors] == [
        f"{ratings}:23: unknown label 'maybe'; expected one of onscreen, offscreen, both, none",
        f"{ratings}:24: start 'zero' is not a number",
        f"{ratings}:25: expected 5 fields (video path, start, end, rater, label), found 4"]
    warns = [str(w) for w in s.problems.warnings]
    assert warns[0].startswith(f"{ratings}:22: rater 'r3' rated v/f.mp4 0-5 again with another label")
    assert warns[1] == f"{ratings}: v/z.mp4 0-5: rated but not in {clips}"
    assert s.outcomes == {"onscreen_unanimous": 1, "offscreen_unanimous": 1, "not_unanimous": 3,
                          "too_few_raters": 1}
    assert read_clips(clips).column("annotation").to_pylist()[0] is None   # the input is untouched


def test_min_raters_option(tmp_path: Path) -> None:
    clips = _clips(tmp_path / "clips.parquet")
    ratings = tmp_path / "r.csv"
    ratings.write_text(RATINGS)
    s = apply_ratings(RatingsOptions(ratings=(str(ratings),), clips=str(clips), min_raters=2,
                                     output=str(tmp_path / "o.parquet")))
    ann = read_clips(s.output).column("annotation").to_pylist()
    assert ann[3] == "onscreen_unanimous"            # two raters are enough now
    s4 = apply_ratings(RatingsOptions(ratings=(str(ratings),), clips=str(clips), min_raters=4,
                                      output=str(tmp_path / "o4.parquet")))
    ann4 = read_clips(s4.output).column("annotation").to_pylist()
    assert ann4[:2] == [None, "offscreen_unanimous"]


def test_decide_and_refusals(tmp_path: Path) -> None:
    assert decide({"a": "none", "b": "none", "c": "none"}, 3) is None
    assert decide({"a": "offscreen", "b": "offscreen", "c": "offscreen"}, 3) == "offscreen_unanimous"
    clips = _clips(tmp_path / "clips.parquet")
    with pytest.raises(AvdataError, match="is also an input"):
        apply_ratings(RatingsOptions(ratings=(), clips=str(clips), output=str(clips)))
    with pytest.raises(AvdataError, match="min-raters"):
        apply_ratings(RatingsOptions(ratings=(), clips=str(clips), min_raters=0))
