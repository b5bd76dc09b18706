"""One batch from each loader, for ``avdata demo`` (and as a usage example)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from avdata.errors import MissingExtraError
from avdata.loaders.dataset import AVIndexDataset, DatasetOptions
from avdata.loaders.labels import collate
from avdata.loaders.mixture import MixtureDataset, MixtureOptions
from avdata.loaders.samplers import WeightedSampler
from avdata.loaders.shards import ShardOptions, write_shards
from avdata.weights import weights_path_for

BATCH = 4


def _first_batch(dataset: Any, sampler: Iterable[int] | None = None) -> dict[str, Any]:
    """A DataLoader batch (2 workers) when torch is installed, else the first items collated by hand."""
    try:
        import torch
    except ImportError:
        if sampler is not None:
            items: Iterable[dict[str, Any]] = (dataset[i] for i in sampler)
        elif hasattr(dataset, "__getitem__"):
            items = (dataset[i] for i in range(len(dataset)))
        else:
            items = iter(dataset)
        batch = list(itertools.islice(items, BATCH))
        return {k: [item[k] for item in batch] for k in batch[0]}
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, sampler=sampler, num_workers=2,
                                         collate_fn=collate)
    return next(iter(loader))


def _shape(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return "x".join(map(str, shape)) if shape is not None else f"{len(value)} items"


def iterate_loaders(index: str | os.PathLike[str], media: str | os.PathLike[str],
                    shards_out: str | os.PathLike[str]) -> list[str]:
    """Iterate one batch of each loader over ``index``; return one line per loader."""
    lines: list[str] = []
    media = str(media)
    opts = DatasetOptions(media=media, train=True, seed=0)
    dataset = AVIndexDataset(index, opts)
    weights = weights_path_for(index)
    sampler = WeightedSampler(weights, lines=len(dataset), seed=0) if weights.is_file() else None
    b = _first_batch(dataset, sampler)
    lines.append(f"loaders: AVIndexDataset (raw{', weighted' if sampler else ''}): fbank {_shape(b['fbank'])}, "
                 f"image {_shape(b['image'])}, labels {_shape(b['labels'])}")
    npz = AVIndexDataset(index, DatasetOptions(media=media, features="npz"))
    if all(npz.record(i).get("aclip_128") for i in range(len(npz))):
        b = _first_batch(npz)
        lines.append(f"loaders: AVIndexDataset (npz): fbank {_shape(b['fbank'])}, image {_shape(b['image'])}")
    mixtures = MixtureDataset(dataset, MixtureOptions(seconds=10.0, seed=0))
    b = _first_batch(mixtures)
    lines.append(f"loaders: MixtureDataset: mixture {_shape(b['mixture'])}, sources {_shape(b['sources'])}")
    res = write_shards(ShardOptions(index=str(index), media=media, out=str(shards_out), target_size=1 << 20,
                                    workers=1))
    try:
        from avdata.loaders.wds_reader import ShardReader

        if res.shard_list is not None:
            b = _first_batch(ShardReader(res.shard_list, opts))
            lines.append(f"loaders: ShardReader ({res.shards} shards in {Path(shards_out)}): "
                         f"fbank {_shape(b['fbank'])}, image {_shape(b['image'])}")
    except MissingExtraError as e:
        lines.append(f"loaders: ShardReader skipped: {e}")
    return lines
