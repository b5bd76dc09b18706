"""Samplers: weighted draws from a ``*_weight.csv`` file, and an exactly-once shuffle, both
deterministic for (seed, epoch) and splitting one global order between distributed ranks.

Neither needs torch: a ``DataLoader`` accepts any iterable of indices with a ``len``.

``WeightedSampler`` draws ``num_samples`` lines with replacement, probability ``w_i / sum(w)``, by
inverse-CDF search over the cumulative weights (numpy; no 2**24 category limit as in
``torch.multinomial``). The draw is one global sequence per (seed, epoch); rank ``r`` of ``W``
takes positions ``r, r + W, r + 2W, ...`` of it, so the ranks' shares are disjoint and together
are the global draw. (VIP-ANT drops weighted sampling under DDP; this keeps it.)

``ShuffleSampler`` visits every line exactly once per epoch: a permutation per (seed, epoch) (or
the file order), rank ``r`` taking every ``W``-th position. Shares differ in length by at most one;
``pad=True`` repeats the first positions so that every rank gets the same count (DDP needs equal
step counts), at the price of those few repeats.

**Mid-epoch resume.** Both count the indices their current iteration handed out; ``state_dict()``
is ``{"epoch", "yielded", ...}`` and ``load_state_dict(state)`` makes the next iteration start
after those ``yielded`` positions of that epoch's order: a run stopped after any batch and resumed
yields exactly the rest of the epoch, in order. ``torchdata``'s ``StatefulDataLoader`` saves and
restores this itself (it records the sampler's state when it hands each batch to a worker). With a
plain ``DataLoader``, whose workers run ahead of the loop, save ``{"epoch": e, "yielded": batches
done * batch_size}`` from the loop instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from avdata.errors import AvdataError
from avdata.weights import read_weights


def _check_rank(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise AvdataError(f"rank {rank} is not in 0..{world_size - 1} (world_size {world_size})")


class _Resumable:
    """The mid-epoch state both samplers share: the epoch and how far its iteration went."""

    epoch: int
    seed: int
    rank: int
    world_size: int
    yielded: int = 0
    resume_at: int | None = None

    def _positions(self) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        start, self.resume_at = self.resume_at or 0, None
        return self._counted(self._positions()[start:].tolist(), start)

    def _counted(self, values: list[int], start: int) -> Iterator[int]:
        self.yielded = start
        for v in values:
            self.yielded += 1
            yield v

    def state_dict(self) -> dict[str, Any]:
        """Where this rank's iteration of the current epoch stands (see the module docstring)."""
        return {"epoch": self.epoch, "yielded": self.yielded, "seed": self.seed, "rank": self.rank,
                "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the epoch of ``state``, and the next iteration starts after its ``yielded``."""
        try:
            epoch, yielded = int(state["epoch"]), int(state["yielded"])
        except (KeyError, TypeError, ValueError) as e:
            raise AvdataError(f"not a sampler state (needs epoch and yielded): {state!r:.80}") from e
        for key in ("seed", "rank", "world_size"):
            if key in state and state[key] != getattr(self, key):
                raise AvdataError(f"sampler state of {key} {state[key]!r}, but this sampler has "
                                  f"{getattr(self, key)!r}: the resumed order would differ")
        if not 0 <= yielded <= len(self):
            raise AvdataError(f"sampler state yielded {yielded} is outside 0..{len(self)}")
        self.epoch, self.yielded, self.resume_at = epoch, yielded, yielded


class WeightedSampler(_Resumable):
    """Weighted draws with replacement (see the module docstring)."""

    def __init__(self, weights: str | os.PathLike[str] | np.ndarray, num_samples: int | None = None, *,
                 lines: int | None = None, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        where = "weights" if isinstance(weights, np.ndarray) else str(weights)
        w = np.asarray(weights, np.float64) if isinstance(weights, np.ndarray) else read_weights(weights)
        if lines is not None and len(w) != lines:
            raise AvdataError(f"{where}: {len(w)} weights for {lines} index lines (one weight per line needed)")
        if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise AvdataError(f"{where}: weights must be finite, >= 0 and not all 0")
        _check_rank(rank, world_size)
        self.cdf = np.cumsum(w)
        self.num_samples = len(w) if num_samples is None else int(num_samples)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def global_draw(self) -> np.ndarray:
        """The whole draw of this epoch (every rank's share), int64 line numbers."""
        rng = np.random.default_rng([self.seed, self.epoch])
        u = rng.random(self.num_samples) * self.cdf[-1]
        return np.minimum(np.searchsorted(self.cdf, u, side="right"), len(self.cdf) - 1)

    def _positions(self) -> np.ndarray:
        return self.global_draw()[self.rank::self.world_size]

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.world_size))


class ShuffleSampler(_Resumable):
    """Every line once per epoch, split between ranks (see the module docstring)."""

    def __init__(self, size: int, *, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1,
                 pad: bool = False) -> None:
        _check_rank(rank, world_size)
        self.size, self.shuffle, self.seed = int(size), shuffle, seed
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """This epoch's global order (all ranks)."""
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.size)

    def _positions(self) -> np.ndarray:
        order = self.order()
        if self.pad and self.size % self.world_size:
            extra = self.world_size - self.size % self.world_size
            order = np.concatenate([order, order[:extra]])
        return order[self.rank::self.world_size]

    def __len__(self) -> int:
        n = self.size
        if self.pad and n % self.world_size:
            n += self.world_size - n % self.world_size
        return len(range(self.rank, n, self.world_size))
