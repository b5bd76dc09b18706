"""Mixture-of-mixtures (MoM) pair lists for the annotated clips of validate and test.

For every annotated clip (``onscreen_unanimous`` / ``offscreen_unanimous``) of a split, draw
``partners`` distinct partner clips from the same split: unannotated clips ("random unfiltered",
AudioScopeV2) or clips of ``partner_annotation`` (AudioScope: ``offscreen_unanimous``), never from
the annotated clip's own video. Draws are deterministic for a seed and independent per clip (the
generator of a clip is seeded by ``seed`` and a hash of its id), so adding clips elsewhere does not
change a clip's partners. Each (split, annotation) gets one list with the published file name, e.g.
``unfiltered_validate_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv`` or
``filtered_test_offscreen_unanimous_plus_offscreen_unanimous_mom_clips.csv``, six columns per row
(the annotated clip, then its partner), written by the ``audioscope`` list writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import AvdataError
from avdata.pathcheck import DIR, Output, check_outputs
from avdata.paths import safe_join, safe_name
from avdata.sources.build import build_clips
from avdata.sources.cliplists import clip_id_for
from avdata.sources.problems import Problems
from avdata.sources.registry import get_writer
from avdata.table import read_clips

ANNOTATIONS = ("onscreen_unanimous", "offscreen_unanimous")
FILTERINGS = ("filtered", "unfiltered")


@dataclass(frozen=True)
class MomOptions:
    """Options of ``make_pairs`` (the CLI's flags one to one). ``filtering`` names the files
    (default: ``filtered`` for an ``audioscope`` table, else ``unfiltered``)."""

    clips: str
    out: str
    partners: int = 5
    seed: int = 0
    partner_annotation: str | None = None          # None: unannotated clips ("random")
    splits: tuple[str, ...] = ("validate", "test")
    annotations: tuple[str, ...] = ANNOTATIONS
    filtering: str | None = None


@dataclass
class MomSummary:
    """The lists written (path -> rows) and clips that got fewer partners than asked."""

    files: dict[Path, int] = field(default_factory=dict)
    problems: Problems = field(default_factory=Problems)

    def lines(self) -> list[str]:
        out = [f"mom: wrote {n} pair(s) to {p}" for p, n in self.files.items()]
        return out or ["mom: no annotated clips in the chosen splits; nothing written"]


def mom_file_name(filtering: str, split: str, annotation: str, partner_annotation: str | None) -> str:
    """The published MoM list name for a split and subset."""
    partner = partner_annotation or f"random_{filtering}"
    return f"{filtering}_{split}_{annotation}_plus_{partner}_mom_clips.csv"


def clip_generator(seed: int, clip_id: str) -> np.random.Generator:
    """The generator for one clip's draws: from the run's seed and a stable hash of the clip id."""
    h = int.from_bytes(hashlib.sha256(clip_id.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng([seed, h])


def draw_partners(anchor_video: int, clip_id: str, pool_videos: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Indices into the pool (sorted by clip id) of ``k`` distinct partners from other videos
    (fewer when the pool has fewer), in draw order; videos are integer codes (-1: none of the pool's)."""
    allowed = np.flatnonzero(pool_videos != anchor_video)
    if len(allowed) == 0:
        return allowed
    rng = clip_generator(seed, clip_id)
    return allowed[rng.choice(len(allowed), size=min(k, len(allowed)), replace=False)]


def _default_filtering(table: pa.Table) -> str:
    datasets = set(table.column("dataset").unique().to_pylist())
    return "filtered" if datasets == {"audioscope"} else "unfiltered"


def make_pairs(options: MomOptions) -> MomSummary:
    """Write the MoM pair lists of every chosen split and annotation; see the module docstring."""
    if options.partners < 1:
        raise AvdataError(f"--partners must be at least 1 (got {options.partners})")
    check_outputs([Output(options.out, DIR, "-o")], [options.clips])
    table = read_clips(options.clips)
    table = table.filter(pc.is_null(table.column("pair_source")))     # single clips only, never MoM rows
    filtering = options.filtering or _default_filtering(table)
    if filtering not in FILTERINGS:
        raise AvdataError(f"filtering must be one of {', '.join(FILTERINGS)} (got {filtering!r})")
    if options.partner_annotation is not None:
        safe_name(options.partner_annotation)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = MomSummary()
    writer = get_writer("audioscope")
    for split in options.splits:
        part = table.filter(pc.equal(table.column("split"), split))
        if options.partner_annotation is None:
            pool = part.filter(pc.is_null(part.column("annotation")))
        else:
            pool = part.filter(pc.equal(part.column("annotation"), options.partner_annotation))
        pool = pool.sort_by("clip_id")
        codes: dict[str, int] = {}
        pool_videos = np.fromiter((codes.setdefault(v, len(codes)) for v in pool.column("source").to_pylist()),
                                  np.int64, pool.num_rows)
        for annotation in options.annotations:
            anchors = part.filter(pc.equal(part.column("annotation"), annotation)).sort_by("clip_id")
            if anchors.num_rows == 0:
                continue
            rows = _pairs(anchors, pool, pool_videos, codes, options, summary)
            name = mom_file_name(filtering, split, safe_name(annotation), options.partner_annotation)
            path = safe_join(out, name)
            summary.files[path] = writer(_pair_table(rows, table.column("dataset")[0].as_py(), split,
                                                     annotation, str(path)), path)
    return summary


def _pairs(anchors: pa.Table, pool: pa.Table, pool_videos: np.ndarray, codes: dict[str, int],
           options: MomOptions, summary: MomSummary) -> list[tuple]:
    a = anchors.select(["clip_id", "source", "start", "end", "origin_file", "origin_line"]).to_pydict()
    p = pool.select(["source", "start", "end"]).to_pydict()
    rows = []
    for cid, src, s, e, file, line in zip(a["clip_id"], a["source"], a["start"], a["end"], a["origin_file"],
                                          a["origin_line"]):
        picks = draw_partners(codes.get(src, -1), cid, pool_videos, options.partners, options.seed)
        if len(picks) < options.partners:
            summary.problems.warn(file, line, f"{cid}: only {len(picks)} partner(s) from other videos in "
                                              f"its split, {options.partners} asked")
        for i in picks:
            rows.append((src, s, e, p["source"][i], p["start"][i], p["end"][i]))
    return rows


def _pair_table(rows: Sequence[tuple], dataset: str, split: str, annotation: str, origin: str) -> pa.Table:
    cols: list[Sequence[Any]] = list(zip(*rows)) if rows else [[] for _ in range(6)]
    ids = [f"{clip_id_for(r[0], r[1], r[2])}__{clip_id_for(r[3], r[4], r[5])}" for r in rows]
    return build_clips(len(rows), {
        "clip_id": ids, "source": list(cols[0]), "source_kind": "path", "start": list(cols[1]),
        "end": list(cols[2]), "dataset": dataset, "split": split, "annotation": annotation,
        "origin_file": origin, "origin_line": list(range(1, len(rows) + 1)), "pair_source": list(cols[3]),
        "pair_start": list(cols[4]), "pair_end": list(cols[5])})
