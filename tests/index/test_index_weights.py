"""Weights on the real AudioSet balanced-train labels: line-aligned, VIP-ANT's formula, and they even
out how often each label is drawn."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from real_rows import audioset_rows

from avdata.errors import AvdataError
from avdata.index.entry import IndexEntry
from avdata.index.scan import scan_index
from avdata.weights import (
    WeightsOptions,
    label_balance,
    read_weights,
    weights_path_for,
    write_weights,
)


@pytest.fixture(scope="module")
def balanced_index(test_data: Path, tmp_path_factory) -> tuple[Path, list[list[str]]]:
    rows = audioset_rows(test_data / "balanced_train_segments.csv")
    path = tmp_path_factory.mktemp("weights") / "src_balanced_train_segments.csv"
    with open(path, "w") as fh:
        for ytid, bos, eos, labels in rows:
            fh.write(IndexEntry("all_0_35000", ["p0.mp3"], ["p0.4_01.jpg"], ytid, bos, eos, labels).to_line())
    return path, [r[3] for r in rows]


def test_weights_file_is_line_aligned_and_follows_vipant(balanced_index) -> None:
    path, labels = balanced_index
    res = write_weights(WeightsOptions(path))
    assert res.path == weights_path_for(path) == path.with_name("src_balanced_train_segments_weight.csv")
    weights = read_weights(res.path)
    assert len(weights) == len(labels) == len(path.read_text().splitlines()) == 22160
    counts = Counter(lab for labs in labels for lab in labs)
    for i in (0, 1, 777, 22159):
        assert weights[i] == pytest.approx(sum(1000.0 / (counts[lab] + 1) for lab in labels[i]), rel=1e-12)
    inverse = read_weights(write_weights(WeightsOptions(path, "inverse", out=path.with_name("inv.csv"))).path)
    assert inverse[5] == pytest.approx(sum(1.0 / counts[lab] for lab in labels[5]))
    with pytest.raises(AvdataError, match="unknown weight scheme"):
        write_weights(WeightsOptions(path, "nope"))


def test_weighted_sampling_evens_out_label_frequencies(balanced_index) -> None:
    path, _ = balanced_index
    scan = scan_index(path)
    res = write_weights(WeightsOptions(path))
    weights = read_weights(res.path)
    bal = label_balance(scan, weights)
    print(f"\nlabels {len(bal.label_ids)}: coefficient of variation of per-label counts: "
          f"raw {bal.cv_raw:.3f}, expected under weighted sampling {bal.cv_weighted:.3f}")
    assert len(bal.label_ids) == 527
    # Weighting moves draws from common labels to rare ones. On this (already balanced) file the
    # spread drops only modestly: parent classes (Music, Speech, Vehicle...) co-occur with their
    # children, so every boosted child sample also draws its parent.
    assert bal.cv_weighted < bal.cv_raw
    commonest = int(np.argmax(bal.counts))
    assert bal.expected[commonest] < bal.counts[commonest]
    # the expectation is what sampling with replacement really gives
    rng = np.random.default_rng(0)
    draws = rng.choice(scan.lines, size=200_000, p=weights / weights.sum())
    drawn = np.bincount(scan.flat, weights=np.bincount(draws, minlength=scan.lines)[scan.line_of_label()],
                        minlength=len(bal.label_ids))
    expected = bal.expected * 200_000 / scan.lines
    assert (np.abs(drawn - expected) < 5 * np.sqrt(expected) + 1).all()   # binomial noise only
    assert float(drawn.std() / drawn.mean()) < bal.cv_raw


def test_balance_scheme_flattens_label_frequencies_far_more(balanced_index) -> None:
    """Raking (``--scheme balance``) gets the per-label spread far below the raw one, keeps every
    sample drawable and none dominant, and what it promises is what sampling gives."""
    from avdata.weights import BALANCE_CAP, BALANCE_FLOOR

    path, _ = balanced_index
    scan = scan_index(path)
    vipant = label_balance(scan, read_weights(write_weights(WeightsOptions(path)).path))
    res = write_weights(WeightsOptions(path, "balance", out=path.with_name("bal.csv")))
    weights = read_weights(res.path)
    bal = label_balance(scan, weights)
    print(f"\ncoefficient of variation of per-label counts: raw {bal.cv_raw:.3f}, vipant "
          f"{vipant.cv_weighted:.3f}, balance {bal.cv_weighted:.3f}")
    assert len(weights) == scan.lines
    assert bal.cv_weighted < 0.1 * bal.cv_raw and bal.cv_weighted < 0.25 * vipant.cv_weighted
    assert weights.min() > 0 and weights.max() / weights.min() <= BALANCE_CAP / BALANCE_FLOOR * (1 + 1e-9)
    rng = np.random.default_rng(1)
    draws = rng.choice(scan.lines, size=200_000, p=weights / weights.sum())
    drawn = np.bincount(scan.flat, weights=np.bincount(draws, minlength=scan.lines)[scan.line_of_label()],
                        minlength=len(bal.label_ids))
    assert float(drawn.std() / drawn.mean()) < 0.1 * bal.cv_raw


def test_balance_scheme_gives_unlabelled_lines_zero(tmp_path) -> None:
    path = tmp_path / "mixed.csv"
    with open(path, "w") as fh:
        for i, labs in enumerate([["/m/a"], [], ["/m/a", "/m/b"], ["/m/a"], ["/m/c"]]):
            fh.write(IndexEntry("d", ["p0.mp3"], ["p0.4_01.jpg"], f"id{i}", "0.000", "10.000", labs).to_line())
    weights = read_weights(write_weights(WeightsOptions(path, "balance")).path)
    assert weights[1] == 0.0 and (np.delete(weights, 1) > 0).all()
    bal = label_balance(scan_index(path), weights)
    assert bal.cv_weighted < bal.cv_raw


def test_weights_on_a_skewed_file_of_real_rows(balanced_index, tmp_path) -> None:
    """Like the unbalanced set, dominated by speech and music: rows carrying them repeated 10 times."""
    _, labels = balanced_index
    path = tmp_path / "skewed.csv"
    with open(path, "w") as fh:
        for i, labs in enumerate(labels):
            line = IndexEntry("d", ["p0.mp3"], ["p0.4_01.jpg"], f"id{i}", "0.000", "10.000", labs).to_line()
            fh.write(line * (10 if {"/m/04rlf", "/m/09x0r"} & set(labs) else 1))
    scan = scan_index(path)
    bal = label_balance(scan, read_weights(write_weights(WeightsOptions(path)).path))
    print(f"\nskewed file, {scan.lines} lines: coefficient of variation raw {bal.cv_raw:.3f}, "
          f"weighted {bal.cv_weighted:.3f}")
    assert bal.cv_weighted < 0.75 * bal.cv_raw


def test_weights_file_text_is_repr_of_each_weight(balanced_index) -> None:
    """The file is ``repr`` of every weight, line by line, whatever the chunking; values formatted
    once per distinct bit pattern keep -0.0 apart from 0.0."""
    from avdata.weights.files import weight_lines
    from avdata.weights.schemes import sample_weights

    path, _ = balanced_index
    res = write_weights(WeightsOptions(path))
    expected = sample_weights(scan_index(path), "vipant")
    assert res.path.read_text() == "".join(f"{w!r}\n" for w in expected.tolist())
    odd = np.array([0.1, -0.0, 0.0, 1e-300, 0.1, 2.5e17, -0.0, 1 / 3, 0.0], np.float64)
    assert b"".join(weight_lines(odd, chunk=4)) == "".join(f"{w!r}\n" for w in odd.tolist()).encode()
    assert b"".join(weight_lines(np.zeros(0))) == b""
