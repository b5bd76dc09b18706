"""issue 21 (Kinetics): a small Kinetics-400 corpus from its list to AVIndexDataset items, kept to
Kinetics-Sounds at ingest (``--subset kinetics-sounds``): synthetic local videos through fetch
(``dir:``), extract (each row's own span) and index; class names as labels, multi-hot over the
shipped Kinetics-Sounds label map, weights by class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from list_pipeline import avdata, list_to_index

ROWS = [("playing bagpipes", "AAAAAAAAAAA", 0, 10), ("blowing out candles", "BBBBBBBBBBB", 2, 12),
        ("abseiling", "CCCCCCCCCCC", 1, 11), ("playing bagpipes", "DDDDDDDDDDD", 1, 7)]
KEPT = [r for r in ROWS if r[0] != "abseiling"]            # abseiling is no Kinetics-Sounds class


def test_kinetics_sounds_from_the_list_to_loader_items(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avdata.loaders import AVIndexDataset, DatasetOptions, kinetics_sounds_labels
    from avdata.weights import read_weights

    lst = tmp_path / "kinetics-400_val.csv"
    lst.write_bytes(b"label,youtube_id,time_start,time_end,split,is_cc\n" + "".join(
        f'{chr(34) + lab + chr(34) if " " in lab else lab},{y},{a},{b},val,0\n' for lab, y, a, b in ROWS).encode())
    list_to_index(tmp_path, "kinetics", lst, {y: b + 0.5 for _, y, _, b in ROWS}, ["--subset", "kinetics-sounds"])
    index = tmp_path / "index" / "src_kinetics_val.csv"
    lines = [json.loads(x) for x in index.read_text().splitlines()]
    assert [(x["id"], x["bos"], x["eos"], x["labels"]) for x in lines] == [
        (y, f"{a:.3f}", f"{b:.3f}", [lab]) for lab, y, a, b in KEPT]            # each row's own span
    assert avdata("weights", str(index)).returncode == 0
    weights = read_weights(index.with_name(index.stem + "_weight.csv"))
    assert weights[1] > weights[0] == weights[2] > 0                            # the rarer class weighs more
    labels = kinetics_sounds_labels()
    ds = AVIndexDataset(index, DatasetOptions(media=str(tmp_path / "media"), labels=labels))
    for k, (lab, _, a, b) in enumerate(KEPT):
        item = ds[k]
        assert np.flatnonzero(item["labels"]).tolist() == [labels.index(lab)]
        assert item["fbank"].shape == (1000, 128) and item["image"].shape == (3, 224, 224)
    short = ds[2]["fbank"]                      # the 6 s clip: 598 frames of sound, then padding
    assert np.ptp(short[:500]) > 1.0 and np.ptp(short[700:]) < 1e-6
