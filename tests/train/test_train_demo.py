"""issue 19 in the demo: the model is trained on the demo's clips, scores the AudioScope clips
(with the --min-score filter) and balances with its embeddings; VIP-ANT's filter files keep their
format whichever embedder made them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avdata.table import read_clips

pytestmark = pytest.mark.slow


def test_the_demo_trains_then_scores_and_filters_audioscope_clips(demo_dir: Path) -> None:
    card = json.loads((demo_dir / "train" / "card.json").read_text())
    assert card["epochs_run"] == 3 and card["model"]["parameters"] == 261_601
    threshold = round(card["final"]["suggested_min_score"], 3)
    scored = read_clips(demo_dir / "score" / "clips_scored.parquet").to_pylist()
    assert scored and {r["dataset"] for r in scored} <= {"audioscope", "audioscope_v2"}
    assert all(r["score_model"].startswith("avc-") and -1 <= r["score"] <= 1 for r in scored)
    assert [r["filtered"] for r in scored] == [r["score"] >= threshold for r in scored]


def _row_shape(row: object) -> object:
    if not isinstance(row, dict):               # weights files: one number per line
        return type(row).__name__
    if len(row) == 1:                           # knn lines: {"SEED_ID": [["ID", score], ...]}
        (value,) = row.values()
        return ("seed", tuple(sorted({(type(p[0]).__name__, type(p[1]).__name__, len(p)) for p in value})))
    return tuple(row)                           # index lines: the keys in their published order


def _shape(path: Path) -> object:
    """What a VIP-ANT filter file looks like, whatever its values: a JSON {label: [ids]} file, JSON
    lines (their keys in order, or the knn pairs' types), or text lines (their comma counts)."""
    text = path.read_text()
    try:
        obj = json.loads(text)
        return ("json", sorted({(type(k).__name__, type(v).__name__) for k, v in obj.items()}))
    except ValueError:
        pass
    lines = text.splitlines()
    try:
        return ("jsonl", sorted({_row_shape(json.loads(x)) for x in lines}, key=str))
    except ValueError:
        return ("lines", sorted({x.count(",") for x in lines}))


def test_balance_with_avc_writes_the_filter_files_in_the_same_format(demo_dir: Path) -> None:
    signal, avc = demo_dir / "balance" / "knn", demo_dir / "balance_avc" / "knn"
    names = sorted(p.name for p in signal.iterdir() if p.is_file())
    assert names == sorted(p.name for p in avc.iterdir() if p.is_file())
    for name in names:
        if name.endswith(".parquet"):
            continue
        assert _shape(signal / name) == _shape(avc / name), name
    meta = json.loads((demo_dir / "balance_avc" / "emb_seeds" / "meta.json").read_text())
    assert meta["embedder"] == "avc" and meta["dim"] == 128


def test_train_reads_the_npz_features_the_index_names(demo_dir: Path, tmp_path: Path) -> None:
    """--features npz: the aclip_128 / frame_224 files instead of decoding; the same prepared inputs
    as raw decoding up to fast_fbank's 1e-3 and JPEG re-reading."""
    import numpy as np

    from avdata.train.inputs import DIM, HEADER
    from avdata.train.options import TrainOptions
    from avdata.train.run import run_train

    index = demo_dir / "index" / "src_train_segments.csv"
    runs = {}
    for features in ("npz", "raw"):
        res = run_train(TrainOptions(index=(str(index),), media=str(demo_dir / "media"), out=str(tmp_path / features),
                                     epochs=1, batch_size=4, workers=1, features=features))
        assert res.card["data"]["left_out"] == {} and res.card["options"]["features"] == features
        runs[features] = np.load(next((tmp_path / features / "inputs").iterdir()) / "embeddings.npy")
    assert runs["npz"].shape == runs["raw"].shape == (12, DIM)
    assert np.array_equal(runs["npz"][:, :2], runs["raw"][:, :2])          # audio rows and frame counts
    assert np.abs(runs["npz"][:, HEADER:].astype(np.float32) - runs["raw"][:, HEADER:].astype(np.float32)).max() < 0.05
