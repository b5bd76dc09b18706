"""Serve avdata's datasets to PyTorch: lazy index datasets, samplers, mixtures and WebDataset shards.

torch is optional (``pip install 'avdata[torch]'``): datasets return numpy arrays unless asked for
tensors, and ``DataLoader`` accepts them as they are; ``collate`` stacks a batch into tensors.
Everything ``docs/loaders.md`` names is importable from here; the samplers, mixtures and the shard
reader are imported on first use (so ``import avdata.loaders`` stays light).
"""

from __future__ import annotations

import importlib
from typing import Any

from avdata.loaders.dataset import AVIndexDataset, DatasetOptions
from avdata.loaders.labels import (
    LabelMap,
    collate,
    index_labels,
    kinetics_labels,
    kinetics_sounds_labels,
    kinetics_sounds_mapping,
    ontology_labels,
    strong_labels,
    vggsound_labels,
)
from avdata.loaders.lazy_index import LazyIndex
from avdata.loaders.transforms import AudioInput

_LAZY = {
    "WeightedSampler": "avdata.loaders.samplers", "ShuffleSampler": "avdata.loaders.samplers",
    "MixtureDataset": "avdata.loaders.mixture", "MixtureOptions": "avdata.loaders.mixture",
    "RenderedMoMs": "avdata.loaders.mixture", "RenderedClips": "avdata.loaders.mixture",
    "ShardReader": "avdata.loaders.wds_reader", "ShardOptions": "avdata.loaders.shards",
    "write_shards": "avdata.loaders.shards",
}

__all__ = ["AVIndexDataset", "AudioInput", "DatasetOptions", "LabelMap", "LazyIndex", "collate",
           "index_labels", "kinetics_labels", "kinetics_sounds_labels", "kinetics_sounds_mapping", "ontology_labels",
           "strong_labels", "vggsound_labels", *_LAZY]


def __getattr__(name: str) -> Any:
    """``from avdata.loaders import ShardReader`` and the like, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'avdata.loaders' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
