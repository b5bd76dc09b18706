"""The demo's AudioScope path runs end to end and its outputs read back with our own reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from avdata.audioscope.demo_steps import run_audioscope_demo
from avdata.sources.audioscope import read_audioscope
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions
from avdata.table import read_clips


@pytest.mark.slow
def test_audioscope_demo(tmp_path: Path) -> None:
    demo = run_audioscope_demo(tmp_path / "as", workers=1)
    clips = read_clips(demo.clips)
    assert clips.num_rows == 10 * 2                                # 10.5 s videos: two 5 s windows each
    assert set(clips.column("split").to_pylist()) == {"train", "validate", "test"}
    rated = read_clips(demo.rated)
    anns = set(rated.column("annotation").to_pylist())
    assert {"onscreen_unanimous", "offscreen_unanimous"} <= anns
    moms = sorted(demo.mom.glob("*_mom_clips.csv"))
    assert moms
    for path in moms:
        p = Problems()
        t = read_audioscope([str(path)], ReadOptions(), p)
        assert p.n_errors == 0 and t.num_rows > 0
        assert all(a != b for a, b in zip(t.column("source").to_pylist(), t.column("pair_source").to_pylist()))
    assert (demo.lists / "unfiltered_train_clips.csv").exists()
    assert any(demo.lists.glob("unfiltered_*_onscreen_unanimous_clips.csv"))
    assert demo.stages[0].startswith("audioscope videos: 10") and demo.stages[-1].startswith("audioscope lists: 7")
