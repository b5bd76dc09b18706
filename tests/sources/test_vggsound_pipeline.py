"""issue 21: a small VGGSound corpus from its list to AVIndexDataset items: synthetic local videos
(named by YouTube id) through fetch (dir:), extract (10 s from start_seconds) and index; class
names as labels, multi-hot over the shipped 309-class map (``vggsound_labels``), weights by class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from list_pipeline import avdata, list_to_index

ROWS = [("AAAAAAAAAAA", 1, "ambulance siren"), ("BBBBBBBBBBB", 2, "bird chirping, tweeting"),
        ("CCCCCCCCCCC", 0, "bird chirping, tweeting"), ("DDDDDDDDDDD", 1, "bird chirping, tweeting")]


def test_vggsound_from_the_list_to_loader_items(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avdata.loaders import AVIndexDataset, DatasetOptions, vggsound_labels
    from avdata.weights import read_weights

    lst = tmp_path / "vggsound.csv"
    lst.write_bytes("".join(f'{y},{s},{chr(34) + lab + chr(34) if "," in lab else lab},test\r\n'
                            for y, s, lab in ROWS).encode())
    list_to_index(tmp_path, "vggsound", lst, {ytid: start + 10.5 for ytid, start, _ in ROWS})
    index = tmp_path / "index" / "src_vggsound_test.csv"
    lines = [json.loads(x) for x in index.read_text().splitlines()]
    assert [(x["id"], x["bos"], x["eos"], x["labels"]) for x in lines] == [
        (y, f"{s:.3f}", f"{s + 10:.3f}", [lab]) for y, s, lab in ROWS]
    assert avdata("weights", str(index)).returncode == 0
    weights = read_weights(index.with_name(index.stem + "_weight.csv"))
    assert weights[0] > weights[1] == weights[2] == weights[3] > 0        # the rarer class weighs more
    labels = vggsound_labels()
    ds = AVIndexDataset(index, DatasetOptions(media=str(tmp_path / "media"), labels=labels))
    for k, (_, _, lab) in enumerate(ROWS):
        item = ds[k]
        assert np.flatnonzero(item["labels"]).tolist() == [labels.index(lab)]
        assert item["fbank"].shape == (1000, 128) and item["image"].shape == (3, 224, 224)
