"""Samplers: weighted label frequencies (chi-square), (seed, epoch) determinism, disjoint rank shares,
and exactly-once epochs over 2 ranks x 2 DataLoader workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avdata.errors import AvdataError
from avdata.weights import WeightsOptions, write_weights
from avdata.loaders.samplers import ShuffleSampler, WeightedSampler


def chi_square_bound(dof: int, z: float = 4.0) -> float:
    """Upper tail of chi-square(dof) at ~z sigma (Wilson-Hilferty): p ~ 3e-5 of a false alarm."""
    return dof * (1 - 2 / (9 * dof) + z * np.sqrt(2 / (9 * dof))) ** 3


def write_index(path: Path, labels_per_line: list[list[str]]) -> None:
    import json

    path.write_text("".join(json.dumps({"dir": "d", "aclip": ["p0.mp3"], "frame": [], "id": f"v{i:05d}",
                                        "bos": "0.000", "eos": "10.000", "labels": labs}) + "\n"
                            for i, labs in enumerate(labels_per_line)))


def test_label_frequencies_match_the_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vocab = [f"/m/{k:03d}" for k in range(30)]
    p = np.geomspace(1, 0.01, len(vocab))
    lines = [list(rng.choice(vocab, size=int(rng.integers(1, 4)), replace=False, p=p / p.sum()))
             for _ in range(3000)]
    index = tmp_path / "idx.csv"
    write_index(index, lines)
    res = write_weights(WeightsOptions(index))
    weights = np.loadtxt(res.path)
    draws = 200_000
    sampler = WeightedSampler(res.path, draws, lines=len(lines), seed=11)
    got = np.bincount(np.fromiter(sampler, np.int64), minlength=len(lines))
    assert got.sum() == draws
    # per label: expected draws = draws * (weight mass of lines carrying it) / total weight
    col = {lab: k for k, lab in enumerate(vocab)}
    carry = np.zeros((len(lines), len(vocab)))
    for i, labs in enumerate(lines):
        carry[i, [col[lab] for lab in labs]] = 1
    expected_lines = draws * weights / weights.sum()
    chi_lines = float(((got - expected_lines) ** 2 / expected_lines).sum())
    assert chi_lines < chi_square_bound(len(lines) - 1)
    observed, expected = got @ carry, expected_lines @ carry
    rel = np.abs(observed - expected) / expected
    assert rel.max() < 0.05, rel.max()
    # the rare labels really get boosted compared with uniform sampling
    raw = carry.sum(axis=0) / len(lines) * draws
    assert observed[-1] > 5 * raw[-1]


def test_seeded_per_epoch_and_disjoint_rank_shares() -> None:
    w = np.random.default_rng(3).random(1000)
    a = WeightedSampler(w, 5000, seed=1)
    b = WeightedSampler(w, 5000, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    whole = a.global_draw()
    shares = []
    for rank in range(3):
        s = WeightedSampler(w, 5000, seed=1, rank=rank, world_size=3)
        shares.append(list(s))
        assert len(s) == len(shares[-1])
    positions = np.concatenate([np.arange(r, 5000, 3) for r in range(3)])
    assert sorted(zip(positions.tolist(), sum(shares, []))) == sorted(enumerate(whole.tolist()))


def test_more_than_two_to_the_24_categories() -> None:
    n = (1 << 24) + 5                      # torch.multinomial refuses more than 2**24 categories
    w = np.zeros(n)
    w[-3:] = 1.0
    got = set(WeightedSampler(w, 1000, seed=0))
    assert got == {n - 3, n - 2, n - 1}


def test_bad_weights_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AvdataError, match="3 weights for 4 index lines"):
        WeightedSampler(np.ones(3), lines=4)
    with pytest.raises(AvdataError, match="not all 0"):
        WeightedSampler(np.zeros(3))
    bad = tmp_path / "w.csv"
    bad.write_text("1.0\nabc\n")
    with pytest.raises(AvdataError, match=r"w\.csv:2"):
        WeightedSampler(bad)


class Positions:
    """A dataset whose item is its own position (what a real dataset's ``index`` gives)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


@pytest.mark.slow
def test_shuffle_sampler_two_ranks_two_workers_exactly_once() -> None:
    torch = pytest.importorskip("torch")
    n = 103
    for epoch in (0, 1):
        seen: list[int] = []
        orders = []
        for rank in range(2):
            sampler = ShuffleSampler(n, seed=4, rank=rank, world_size=2)
            sampler.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(Positions(n), batch_size=8, sampler=sampler, num_workers=2)
            got = [int(x) for batch in loader for x in batch]
            assert len(got) == len(sampler)
            orders.append(got)
            seen += got
        assert sorted(seen) == list(range(n))
        assert orders[0] != sorted(orders[0])            # shuffled
    padded = [list(ShuffleSampler(n, seed=4, rank=r, world_size=2, pad=True)) for r in range(2)]
    assert len(padded[0]) == len(padded[1]) == 52 and set(padded[0] + padded[1]) == set(range(n))


@pytest.mark.slow
def test_weighted_sampler_two_ranks_two_workers_cover_the_global_draw() -> None:
    torch = pytest.importorskip("torch")
    n, draws = 50, 301
    w = np.random.default_rng(5).random(n)
    got: list[int] = []
    for rank in range(2):
        sampler = WeightedSampler(w, draws, seed=8, rank=rank, world_size=2)
        sampler.set_epoch(3)
        loader = torch.utils.data.DataLoader(Positions(n), batch_size=8, sampler=sampler, num_workers=2)
        share = [int(x) for batch in loader for x in batch]
        assert share == list(sampler)                     # workers keep the sampler's order
        got += share
    whole = WeightedSampler(w, draws, seed=8)
    whole.set_epoch(3)
    assert sorted(got) == sorted(whole.global_draw().tolist())
