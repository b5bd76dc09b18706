"""A clip table and an extraction manifest that mix every case the index stage handles without
media checks: failed and missing clips, bad layouts, short audio, no frames, negatives, label
filters, caption sets, and ids, dirs, file names and captions that JSON must escape.

No media is written: without media checks the index trusts the manifest, so inputs alone decide
every line. ``make_mixed`` is shared by the equivalence tests of the vectorised index path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from real_rows import audioset_rows

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA
from avdata.manifest import ManifestWriter
from avdata.table import clips_from_records, write_clips

SPEECH = "/m/09x0r"
NASTY = ['say "hi"', "back\\slash", "tab\there", "new\nline", "café", "naïve – dash", "emoji 😀",
         "ctrl \x01\x1f\x7f", "</script>", "", "'single'", "ünï/cödé", "\u2028sep", "zero\x00byte"]
IDS = ["s{:06d}", "é{:06d}", 'q"{:06d}', "t\t{:06d}", "u😀{:06d}", "{:06d}.p0", "-{:06d}", ".{:06d}"]
UNSAFE_IDS = ["../{:06d}", "a/{:06d}", "..", "n\x00{:06d}", "b\\{:06d}", "../../../../etc/passwd"]
DIRS = ["all_0_35000", "all_35000_70000", "", "./all_0_35000", "a//b", "dïr", 'q"d', "a/./b/"]
LAID_OUT = {"./all_0_35000": "all_0_35000", "a//b": "a/b", "a/./b/": "a/b"}  # where extraction writes
BAD_DIRS = ["../up", "/abs", "a/../b", "c:\\x", "a\\b", "."]
SPLITS = [("audioset", "eval"), ("audioset", "balanced_train"), ("audioset", "unbalanced_train"),
          ("audiocaps", "train"), ("audiocaps", "val"), ("mydata", "dev"), ("mydata", "empty")]
TIMES = [0.0, 30.0, 0.0005, 0.0015, 2.0004999, 1234.5675, 1e-7, 59.9999, 123456.125, 7.0]
STATUSES = ["missing_video", "timeout", "", None]


def _choice(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def _files(rng: np.random.Generator, dir_: str, clip_id: str, clip: str) -> tuple[str | None, list[str]]:
    """Audio and frame paths of one clip: mostly laid out, sometimes not."""
    if rng.random() < 0.9:
        dir_ = LAID_OUT.get(dir_, dir_)
    base = f"{dir_}/" if dir_ else ""
    frame_names = [f"{clip}.4_{k:02d}.jpg" for k in range(1, 5)]
    if rng.random() < 0.05:
        frame_names[0] = clip + "." + _choice(rng, ["é.jpg", 'q".jpg', "sp ace.jpg", "x\\y.jpg", ""])
    audio = f"{base}aclip/{clip_id}.{clip}.mp3"
    frames = [f"{base}frame/{clip_id}.{n}" for n in frame_names[:int(rng.integers(1, 5))]]
    r = rng.random()
    if r < 0.02:
        audio = f"{base}aclip/other.{clip}.mp3"                 # another id
    elif r < 0.04:
        frames = [f"other/frame/{clip_id}.{clip}.jpg"] + frames  # another dir
    elif r < 0.05:
        audio = f"{base}aclip/{clip_id}."                       # no name
    elif r < 0.06:
        audio = f"{base}aclip/{clip_id}.sub/x.mp3"              # a folder in the name
    elif r < 0.07:
        audio = f"{base}aclip/{clip_id}.x\x00.mp3"
    elif r < 0.08:
        audio = f"{base}aclip/../aclip/{clip_id}.{clip}.mp3"
    elif r < 0.10:
        frames = []
    elif r < 0.11:
        audio = None
    elif r < 0.12:
        audio = ""
    return audio, frames


def _clip_row(rng: np.random.Generator, clip_id: str, clip: str, dir_: str | None) -> dict:
    audio, frames = _files(rng, dir_ or "", clip_id, clip)
    rate = _choice(rng, [44100, 32000, 16000, 22050])
    samples = int(rate * 10)
    r = rng.random()
    if r < 0.05:
        samples = int(rng.integers(0, rate * 2))      # too short (< 2 s)
    elif r < 0.07:
        samples = None
    elif r < 0.08:
        rate = 0
    elif r < 0.09:
        rate = None
    elif r < 0.095:
        samples = 2 * rate - 1
    elif r < 0.12:
        samples = 3 * rate + 7
    row = {"clip_id": clip_id, "clip": clip, "dir": dir_, "source": clip_id, "start": 0.0, "end": 10.0,
           "audio_file": audio, "audio_samples": samples, "sample_rate": rate,
           "channels": None if rng.random() < 0.03 else int(rng.integers(1, 3)),
           "frame_files": None if rng.random() < 0.01 else frames, "frame_times": [],
           "status": "ok", "message": "", "seconds": 0.1}
    if rng.random() < 0.06:
        row["status"] = _choice(rng, STATUSES)
    return row


def make_mixed(root: Path, csv_path: Path, n: int = 3000, seed: int = 0, unsafe_ids: bool = True
               ) -> tuple[Path, Path]:
    """Write ``clips.parquet`` and ``extract_manifest.parquet/`` under ``root``; return their paths.
    ``unsafe_ids``: 1 % of ids hold a path separator or ``..``."""
    rng = np.random.default_rng(seed)
    label_sets = [r[3] for r in audioset_rows(csv_path)]
    records, manifest = [], []
    for i in range(n):
        dataset, split = _choice(rng, SPLITS)
        clip_id = _choice(rng, UNSAFE_IDS if rng.random() < 0.01 and unsafe_ids else IDS).format(i)
        start = _choice(rng, TIMES) if rng.random() < 0.5 else float(rng.integers(0, 300))
        captions = ([_choice(rng, NASTY) + " " + _choice(rng, NASTY) for _ in range(int(rng.integers(0, 3)))]
                    if dataset == "audiocaps" or rng.random() < 0.02 else [])
        records.append(dict(clip_id=clip_id, source=clip_id, source_kind="youtube", start=start,
                            end=start + 10.0, labels=_choice(rng, label_sets), captions=captions,
                            dataset=dataset, split=split, origin_file="mixed.csv", origin_line=i + 4))
        if split == "empty":
            continue                                   # never extracted: the split's file is empty
        dir_ = _choice(rng, BAD_DIRS) if rng.random() < 0.01 else (None if rng.random() < 0.01
                                                                  else _choice(rng, DIRS))
        r = rng.random()
        if r >= 0.05:                                  # 5 % have no p0 row
            manifest.append(_clip_row(rng, clip_id, "p0", dir_))
        for j in range(int(rng.integers(0, 4))):       # n0, n1, sometimes n2; in the gold clip's dir
            if rng.random() < 0.9:
                manifest.append(_clip_row(rng, clip_id, f"n{j}", dir_ if rng.random() < 0.95 else "elsewhere"))
    order = rng.permutation(len(manifest))
    stale = [dict(manifest[k], status="timeout") for k in order[: len(order) // 20]]
    clips = root / "clips.parquet"
    write_clips(clips_from_records(records), clips)
    path = root / "extract_manifest.parquet"
    shutil.rmtree(path, ignore_errors=True)
    with ManifestWriter(path, EXTRACT_MANIFEST_SCHEMA, flush_rows=1000) as mw:
        mw.write_many(stale)                           # superseded by the rows written after them
        mw.write_many(manifest[k] for k in order)
    return clips, path


def empty_manifest(root: Path) -> Path:
    """An extraction manifest with no rows (nothing extracted yet)."""
    path = root / "empty_manifest.parquet"
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(EXTRACT_MANIFEST_SCHEMA.empty_table(), path / "part-0-empty-000000.parquet")
    return path
