"""Every command that writes, walked on a real demo folder:

(a) an input named as an output (the output option itself, or a file name the command derives in
    its output folder) is refused: exit 3, one line, not one byte changed;
(b) an existing output and a missing input, or an input that is a folder: exit 3, one line, every
    file that was there before keeps its sha256 (issue 25, defect 3 and the class behind it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reliability_helpers import avdata, tree_digest

# Each command once, with {D} the demo folder and {IN} the input that will be missing / a folder.
# The output named is one the demo already wrote, so a command that ran would replace it.
WRITERS = {
    "ingest": ["ingest", "audioset", "{IN}", "-o", "{D}/lists/audioset.parquet"],
    "export": ["export", "audioset", "{IN}", "-o", "{D}/index/src_eval_segments.csv"],
    "export-lhotse": ["export", "lhotse", "{IN}", "--media", "{D}/media", "-o", "{D}/index"],
    "fetch": ["fetch", "{IN}", "--source", "dir:{D}/videos", "--out", "{D}/videos"],
    "extract": ["extract", "{IN}", "--videos", "{D}/videos", "--out", "{D}/media"],
    "index": ["index", "{IN}", "--manifest", "{D}/media/extract_manifest.parquet", "--media", "{D}/media",
              "--out", "{D}/index"],
    "weights": ["weights", "{IN}", "--out", "{D}/index/src_eval_segments_weight.csv"],
    "report": ["report", "{IN}", "--out", "{D}/report"],
    "embed": ["embed", "{IN}", "--media", "{D}/media", "-o", "{D}/embed"],
    "balance": ["balance", "--seeds", "{IN}", "--seed-emb", "{D}/balance/emb_seeds", "--pool",
                "{D}/index/src_eval_segments.csv", "--pool-emb", "{D}/balance/emb_pool", "-k", "4",
                "-o", "{D}/balance/knn"],
    "render": ["render", "{IN}", "--videos", "{D}/audioscope/videos", "--out", "{D}/render"],
    "windows": ["windows", "{IN}", "-o", "{D}/audioscope/clips.parquet"],
    "ratings": ["ratings", "{IN}", "--clips", "{D}/audioscope/clips.parquet", "-o",
                "{D}/audioscope/clips_rated.parquet"],
    "score": ["score", "{IN}", "--media", "{D}/render", "--embedder", "signal", "-o",
              "{D}/audioscope/clips_rated.parquet"],
    "mom": ["mom", "{IN}", "-o", "{D}/audioscope/mom"],
    "shards": ["shards", "{IN}", "--media", "{D}/media", "--out", "{D}/shards"],
    "train": ["train", "{IN}", "--media", "{D}/media", "-o", "{D}/train"],
    "browse": ["browse", "{IN}", "--media", "{D}/media", "-o", "{D}/browse/index"],
    "audit": ["audit", "{IN}", "--media", "{D}/audit/media", "-o", "{D}/audit/audit", "--clean", "{D}/audit/clean"],
    "lock": ["lock", "{IN}", "--media", "{D}/audit/media", "-o", "{D}/audit/build.lock"],
}


def _argv(template: list[str], d: Path, missing: Path) -> list[str]:
    return [a.replace("{D}", str(d)).replace("{IN}", str(missing)) for a in template]


def _one_error_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) >= 1 and lines[-1].startswith("avdata: error: "), stderr
    assert "Traceback" not in stderr
    return lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_a_missing_or_unreadable_input_leaves_every_output_as_it_was(demo_copy: Path, kind: str) -> None:
    d = demo_copy
    bad = d.parent / ("nothere.csv" if kind == "missing" else "afolder.csv")
    if kind == "folder":
        bad.mkdir()
    before = tree_digest(d.parent)
    for name, template in WRITERS.items():
        r = avdata(*_argv(template, d, bad))
        assert r.returncode == 3, (name, r.returncode, r.stderr[-800:])
        line = _one_error_line(r.stderr)
        assert bad.name in line, (name, line)
        assert tree_digest(d.parent) == before, name


@pytest.mark.slow
def test_an_input_named_as_an_output_or_a_derived_output_is_refused(demo_copy: Path) -> None:
    d = demo_copy
    knn = d / "balance" / "knn"
    # defect 2: the pool is the segments list balance would write into -o
    pool = knn / "src_knn_top4_segments.csv"
    cases = {
        "balance derived segments": ["balance", "--seeds", f"{d}/index/src_balanced_train_segments.csv",
                                     "--seed-emb", f"{d}/balance/emb_seeds", "--pool", str(pool),
                                     "--pool-emb", f"{d}/balance/emb_pool", "-k", "4", "-o", str(knn)],
        "ingest": ["ingest", "audioset", f"{d}/index/src_eval_segments.csv", "-o",
                   f"{d}/index/./src_eval_segments.csv"],
        "weights": ["weights", f"{d}/index/src_eval_segments.csv", "--out", f"{d}/index/src_eval_segments.csv"],
        "export": ["export", "audioset", f"{d}/clips.parquet", "-o", f"{d}/clips.parquet"],
        "ratings": ["ratings", f"{d}/audioscope/ratings.csv", "--clips", f"{d}/audioscope/clips.parquet",
                    "-o", f"{d}/audioscope/ratings.csv"],
        "windows": ["windows", f"{d}/audioscope/videos", "-o", f"{d}/audioscope/clips.parquet", "--splits",
                    f"{d}/audioscope/clips.parquet"],
        "train derived card": ["train", f"{d}/train/card.json", "--media", f"{d}/media", "-o", f"{d}/train"],
    }
    # the balance pool that is a derived output: make it a real 6-line index of the demo
    shutil.copy(d / "index" / "src_eval_segments.csv", pool)
    before = tree_digest(d.parent)
    for name, argv in cases.items():
        r = avdata(*argv)
        assert r.returncode == 3, (name, r.returncode, r.stdout[-500:], r.stderr[-800:])
        line = _one_error_line(r.stderr)
        assert "is also an input" in line, (name, line)
        assert tree_digest(d.parent) == before, name


def test_the_walk_covers_every_command_that_writes() -> None:
    from avdata.cli.main import _register_commands, cli

    _register_commands()
    reads_only = {"info", "embedders", "demo", "plugins", "diff"}     # demo writes only into its own --out from bundled data
    commands = {c for c in cli.commands if not c.startswith("_")}      # tests register "_test-..." ones
    assert commands - reads_only <= {k.split("-")[0] for k in WRITERS}, \
        commands - reads_only - {k.split("-")[0] for k in WRITERS}
