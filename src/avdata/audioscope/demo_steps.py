"""The demo's AudioScope path on synthetic videos: windows, a generated ratings file, ratings,
mixture-of-mixtures pairs and the subset lists with the published names (render comes after)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avdata.atomic import write_text_atomic
from avdata.audioscope.pairs import MomOptions, make_pairs
from avdata.audioscope.ratings import RatingsOptions, apply_ratings
from avdata.audioscope.subsets import SubsetExportOptions, export_subsets
from avdata.audioscope.windows import WindowsOptions, make_windows
from avdata.media.synth import SynthSpec, make_video
from avdata.table import read_clips

DEMO_VIDEOS = 10
DEMO_SPEC = SynthSpec(duration=10.5, width=96, height=64, fps=10, sample_rate=16000, channels=1, keyint_seconds=5.0)
RATERS = ("r1", "r2", "r3")


@dataclass
class AudioScopeDemo:
    """Where the demo's AudioScope outputs are, and one line per stage."""

    videos: Path
    clips: Path
    ratings: Path
    rated: Path
    mom: Path
    lists: Path
    stages: list[str] = field(default_factory=list)


def demo_video_path(i: int) -> str:
    """A YFCC100M-like relative path (``data/videos/mp4/{3 hex}/{3 hex}/{hash}.mp4``)."""
    h = f"{(i + 1) * 0x9E3779B1 & 0xFFFFFFFF:08x}{i:024x}"
    return f"data/videos/mp4/{h[:3]}/{h[3:6]}/{h}.mp4"


def make_ratings(clips_path: Path, out: Path, seed: int = 0) -> Path:
    """A ratings file for the validate/test windows: three raters each; each video's first window
    is rated unanimously (on-screen for even videos, off-screen for odd ones), the others at random."""
    rng = np.random.default_rng(seed)
    table = read_clips(clips_path).sort_by([("source", "ascending"), ("start", "ascending")])
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["video path", "start", "end", "rater", "label"])
    videos = sorted(set(table.column("source").to_pylist()))
    for r in table.to_pylist():
        if r["split"] not in ("validate", "test"):
            continue
        k = videos.index(r["source"])
        if r["start"] == 0:
            labels = ["onscreen" if k % 2 == 0 else "offscreen"] * len(RATERS)
        else:
            labels = list(rng.choice(["onscreen", "offscreen", "both", "none"], size=len(RATERS)))
        for rater, label in zip(RATERS, labels):
            w.writerow([r["source"], f"{r['start']:g}", f"{r['end']:g}", rater, label])
    write_text_atomic(out, buf.getvalue())
    return out


def run_audioscope_demo(out: Path, workers: int | None = None) -> AudioScopeDemo:
    """Synthetic videos -> windows -> ratings -> MoM pairs -> subset lists, below ``out``."""
    demo = AudioScopeDemo(videos=out / "videos", clips=out / "clips.parquet", ratings=out / "ratings.csv",
                          rated=out / "clips_rated.parquet", mom=out / "mom", lists=out / "lists")
    for i in range(DEMO_VIDEOS):
        path = demo.videos / demo_video_path(i)
        if not path.exists():
            make_video(path, DEMO_SPEC)
    demo.stages.append(f"audioscope videos: {DEMO_VIDEOS} synthetic videos -> {demo.videos}")
    w = make_windows(WindowsOptions(inputs=str(demo.videos), output=str(demo.clips), fractions=(0.4, 0.3, 0.3),
                                    executor="local" if workers != 1 else "inline", workers=workers))
    demo.stages.extend(w.lines())
    make_ratings(demo.clips, demo.ratings)
    r = apply_ratings(RatingsOptions(ratings=(str(demo.ratings),), clips=str(demo.clips), output=str(demo.rated)))
    demo.stages.extend(r.lines())
    m = make_pairs(MomOptions(clips=str(demo.rated), out=str(demo.mom), partners=2, seed=0))
    demo.stages.extend(m.lines())
    files = export_subsets(SubsetExportOptions(table=str(demo.rated), out=str(demo.lists)))
    demo.stages.append(f"audioscope lists: {len(files)} subset list(s) -> {demo.lists}")
    return demo
