"""The demo's balance step on index files shaped like the demo's (balanced seeds, eval as pool)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avdata.demo import run_balance_demo
from emb_dirs import unit_rows, write_embeddings, write_index, yt_ids


def test_run_balance_demo(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    idx = tmp_path / "index"
    seeds = write_index(idx / "src_balanced_train_segments.csv", yt_ids("b", 6), [["/m/09x0r"]] * 6)
    pool = write_index(idx / "src_eval_segments.csv", yt_ids("e", 9), [["/m/04rlf"]] * 9)
    se = write_embeddings(tmp_path / "se", seeds, unit_rows(rng, 6, 16).astype(np.float16))
    pe = write_embeddings(tmp_path / "pe", pool, unit_rows(rng, 9, 16).astype(np.float16))
    lines = run_balance_demo(idx, se, pe, tmp_path / "balance", k=4)
    assert lines[0].startswith("balance: 6 seeds x 9 pool samples, top 4")
    knn = [json.loads(x) for x in (tmp_path / "balance" / "knn_top4.jsonl").read_text().splitlines()]
    assert len(knn) == 6 and all(len(v) == 4 for r in knn for v in r.values())
    assert (tmp_path / "balance" / "knn_1k").is_file() and (tmp_path / "balance" / "report" / "report.html").is_file()
