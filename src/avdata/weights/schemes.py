"""Sample weights for an index file: ``{stem}_weight.csv``, one float per line, line-aligned with it.

Per label, a weight from its count over the file (a *scheme*); a sample's weight is the sum over its
labels. Schemes (``@weight_scheme`` registry):

- ``vipant`` (default): ``1000 / (count + 1)`` -- VIP-ANT's ``sample_weights`` (cvap/dataset/ast.py)
- ``inverse``: ``1 / count``
- ``inverse_sqrt``: ``1 / sqrt(count)`` (milder)

and one sample-level scheme (``@weight_scheme(..., per_sample=True)``), for when the per-label
count must really be flat:

- ``balance``: raking (iterative proportional fitting). Start from 1 per sample; each round, scale
  every sample by the geometric mean over its labels of ``mean(E) / E[label]`` (``E``: expected
  per-label counts under the current weights), then renormalise to mean 1 and clip to
  ``[BALANCE_FLOOR, BALANCE_CAP]`` so that no sample is dropped and none dominates; keep the
  round with the flattest counts (``BALANCE_ROUNDS`` rounds, two ``bincount`` passes each).

A sample without labels gets weight 0 (a weighted sampler never draws it). Sampling with these
weights (``torch.utils.data.WeightedRandomSampler(weights, num_samples, replacement=True)``, built
in the loaders) draws label L with expected count ``N * sum(w_i for i carrying L) / sum(w)``;
``label_balance`` computes it so that anyone can check how even it is.

How even it gets depends on label co-occurrence: a sample boosted for a rare child class also draws
its parent (Music with every instrument, Animal with every animal). On AudioSet's balanced training
set the coefficient of variation of per-label counts drops only from 3.70 to 2.98 with ``vipant``
(on a speech/music-dominated file from the same rows, as the unbalanced set is, from 6.04 to 3.97);
``balance`` brings it to about 0.2, at the price of a smaller effective sample size.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from avdata.index.scan import IndexScan
from avdata.registry import Registry

LabelScheme = Callable[[np.ndarray], np.ndarray]    # label counts -> a weight per label
SampleScheme = Callable[[IndexScan], np.ndarray]    # an index -> a weight per line
# the built-in schemes are defined below, in this module
SCHEMES: Registry[SampleScheme] = Registry("weight scheme", "avdata.weights", ("avdata.weights.schemes",))
DEFAULT_SCHEME = "vipant"
BALANCE_ROUNDS = 100
BALANCE_FLOOR = 0.01          # times the mean weight
BALANCE_CAP = 20.0            # times the mean weight


def weight_scheme(name: str, *, per_sample: bool = False) -> Callable[[Callable], Callable]:
    """Register a scheme: by default a ``LabelScheme`` (a line weighs the sum of its labels'
    weights); with ``per_sample`` a ``SampleScheme`` that weighs whole lines itself."""

    def deco(fn: Callable) -> Callable:
        SCHEMES.add(name, fn if per_sample else partial(_sum_over_labels, fn))
        return fn

    return deco


def _sum_over_labels(per_label: LabelScheme, scan: IndexScan) -> np.ndarray:
    weights = per_label(scan.label_counts().astype(np.float64))
    return np.bincount(scan.line_of_label(), weights=weights[scan.flat], minlength=scan.lines)


@weight_scheme("vipant")
def _vipant(counts: np.ndarray) -> np.ndarray:
    return 1000.0 / (counts + 1.0)


@weight_scheme("inverse")
def _inverse(counts: np.ndarray) -> np.ndarray:
    return 1.0 / np.maximum(counts, 1.0)


@weight_scheme("inverse_sqrt")
def _inverse_sqrt(counts: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(np.maximum(counts, 1.0))


@weight_scheme("balance", per_sample=True)
def _balance(scan: IndexScan) -> np.ndarray:
    line = scan.line_of_label()
    per_line = np.bincount(line, minlength=scan.lines).astype(np.float64)
    labelled = per_line > 0
    w = labelled.astype(np.float64)
    best, best_cv = w, np.inf
    for _ in range(BALANCE_ROUNDS):
        expected = np.bincount(scan.flat, weights=w[line], minlength=len(scan.label_ids))
        present = expected > 0
        cv = float(expected[present].std() / expected[present].mean()) if present.any() else 0.0
        if cv < best_cv:
            best, best_cv = w, cv
        step = np.zeros_like(expected)
        step[present] = np.log(expected[present].mean() / expected[present])
        w = w * np.exp(np.bincount(line, weights=step[scan.flat], minlength=scan.lines)
                       / np.maximum(per_line, 1.0))
        mean = w[labelled].mean() if labelled.any() else 1.0
        w = np.where(labelled, np.clip(w / mean, BALANCE_FLOOR, BALANCE_CAP), 0.0)
    return best


def scheme_names() -> list[str]:
    return SCHEMES.names()


def get_scheme(name: str) -> SampleScheme:
    return SCHEMES.get(name)


def sample_weights(scan: IndexScan, scheme: str = DEFAULT_SCHEME) -> np.ndarray:
    """Weight of every line of ``scan`` (float64)."""
    return get_scheme(scheme)(scan)
