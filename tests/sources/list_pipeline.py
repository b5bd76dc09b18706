"""A published list's rows through ``avdata`` fetch (``dir:`` of synthetic videos named by id),
extract and index, as a user runs them: the shared path of the per-dataset pipeline tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from avdata.media.synth import SynthSpec, make_video


def avdata(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, timeout=600)


def list_to_index(tmp_path: Path, fmt: str, lst: Path, durations: Mapping[str, float],
                  ingest_args: Sequence[str] = ()) -> Path:
    """Videos of ``durations`` (seconds, by YouTube id), then ingest ``lst`` as ``fmt``, fetch,
    extract and index; returns the index folder (the media are in ``tmp_path / "media"``)."""
    tree = tmp_path / "youtube"
    for k, (ytid, seconds) in enumerate(durations.items(), 1):
        make_video(tree / f"{ytid}.mp4", SynthSpec(duration=seconds, width=96, height=64, fps=10, channels=1, seed=k))
    clips = tmp_path / "c.parquet"
    steps = [["ingest", fmt, str(lst), "-o", str(clips), *ingest_args],
             ["fetch", str(clips), "--source", f"dir:{tree}", "--out", str(tmp_path / "videos")],
             ["extract", str(clips), "--videos", str(tmp_path / "videos"), "--fetch-manifest",
              str(tmp_path / "videos" / "fetch_manifest.parquet"), "--out", str(tmp_path / "media")],
             ["index", str(clips), "--manifest", str(tmp_path / "media" / "extract_manifest.parquet"),
              "--media", str(tmp_path / "media"), "--out", str(tmp_path / "index")]]
    for step in steps:
        r = avdata(*step)
        assert r.returncode == 0, (step[0], r.stdout, r.stderr)
    return tmp_path / "index"
