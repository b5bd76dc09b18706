"""Read ``avdata shards`` output with the ``webdataset`` package (extra ``webdataset``).

``ShardReader`` is an ``IterableDataset``-style object: iterating it yields the same items as
``AVIndexDataset`` for the same lines and options (the random choices are seeded per seed, epoch
and index line, so they do not depend on which node or worker reads a sample). Shards are split
first between ranks (``rank::world_size`` of the shard list), then between DataLoader workers
(``webdataset.split_by_worker``), so an epoch visits every sample exactly once provided there are at
least ``world_size * num_workers`` shards (fewer leaves some workers idle, never duplicates).

**Mid-epoch resume**: each iteration (each DataLoader worker has its own) counts the samples it
handed out; ``state_dict()`` is ``{"epoch", "yielded"}`` and after ``load_state_dict`` the next
iteration skips that many samples of its share (before decoding them). ``torchdata``'s
``StatefulDataLoader`` keeps one such state per worker and gives each back to its worker.
**Errors**: ``DatasetOptions(on_error="skip")`` logs a sample, or a shard, that cannot be read or
decoded (``avdata.loaders`` logger) and goes on with the next; ``"raise"`` (the default) stops.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from avdata import storage
from avdata.arrays import NpzArchive
from avdata.errors import AvdataError, InputFormatError, MediaError, MissingExtraError, UnsafePathError
from avdata.loaders.dataset import DatasetOptions, log, make_item
from avdata.loaders.labels import LabelMap, ontology_labels
from avdata.media.features import frame_224
from avdata.media.inspect import decode_audio_bytes
from avdata.paths import check_relative

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

try:  # a DataLoader tells iterable datasets from map-style ones by this base class
    from torch.utils.data import IterableDataset as _IterableBase
except ImportError:  # without torch the reader is a plain iterable
    _IterableBase = object  # type: ignore[misc,assignment]


def shard_relative(list_name: str, url: object, entry: int) -> PurePosixPath:
    """Shard ``url`` (entry ``entry`` of the list ``list_name``) as a plain relative name inside the
    list's folder. A scheme (``pipe:``, ``file:``, ``s3:`` ...), an absolute path or a ``..`` part is
    refused with one line naming the list and the entry."""
    where = f"shard {entry + 1}"
    if not isinstance(url, str):
        raise InputFormatError(list_name, None, f"{where}: url is not a string ({url!r})")
    if _SCHEME.match(url):
        raise InputFormatError(list_name, None, f"{where}: url {url!r} has a scheme; only file names "
                               "relative to the list's folder are read")
    try:
        return check_relative(url)
    except UnsafePathError as e:
        raise InputFormatError(list_name, None, f"{where}: url {url!r} refused ({e})") from None


def shard_path(list_path: Path, url: object, entry: int) -> Path:
    """Where shard ``url`` of the list at ``list_path`` lies on disk (``shard_relative``'s checks)."""
    return list_path.parent.resolve().joinpath(*shard_relative(str(list_path), url, entry).parts)


def read_shard_list(path: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
                    ) -> list[tuple[str, int]]:
    """(tar path or URL, samples) for every shard of a ``*.shards.json`` file (a path, or an
    object-store URL), each made absolute and checked to lie inside the list's folder (see
    ``shard_path``: an entry is a plain relative name, never a URL of its own)."""
    if storage.is_remote(path):
        return _read_remote_list(str(path), storage_options or {})
    p = Path(storage.local_path(path))
    try:
        doc = json.loads(p.read_text("utf-8"))
        entries = doc["shardlist"]
        if not isinstance(entries, list):
            raise TypeError("shardlist is not a list")
        out = []
        for i, s in enumerate(entries):
            n = int(s["nsamples"])
            if n < 0:
                raise ValueError(f"shard {i + 1}: nsamples {n} is negative")
            out.append((str(shard_path(p, s["url"], i)), n))
        return out
    except InputFormatError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise InputFormatError(str(p), None, f"not a shard list ({type(e).__name__}: {e})") from e


def _read_remote_list(url: str, storage_options: dict[str, Any]) -> list[tuple[str, int]]:
    fs, path = storage.open_fs(url, storage_options)
    try:
        doc = json.loads(fs.cat_file(path).decode("utf-8"))
        entries = doc["shardlist"]
        if not isinstance(entries, list):
            raise TypeError("shardlist is not a list")
        base = url.rsplit("/", 1)[0]
        out = []
        for i, s in enumerate(entries):
            n = int(s["nsamples"])
            if n < 0:
                raise ValueError(f"shard {i + 1}: nsamples {n} is negative")
            out.append((storage.join(base, shard_relative(url, s["url"], i).as_posix()), n))
        return out
    except InputFormatError:
        raise
    except FileNotFoundError:
        raise InputFormatError(url, None, "no such shard list") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise InputFormatError(url, None, f"not a shard list ({type(e).__name__}: {e})") from e


def _open_shard(path: str, storage_options: dict[str, Any]) -> Any:
    if storage.is_remote(path):      # sequential reads, a block at a time: no full download first
        fs, key = storage.open_fs(path, storage_options)
        return fs.open(key, "rb", block_size=8 << 20, cache_type="readahead")
    if not os.path.isabs(path):
        raise InputFormatError(str(path), None, "shard path is not absolute (not from read_shard_list)")
    return open(path, "rb")  # noqa: SIM115  closed by the tar expander's end


def open_shards(data: Iterator[dict[str, Any]], skip: bool = False,
                storage_options: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Open each shard (``{"url": path or URL}`` -> ``+ "stream"``): a local file, or an object read
    through fsspec. WebDataset's own opener is never used: it hands ``pipe:`` URLs to a shell.
    ``skip``: a shard that cannot be opened is logged and left out instead of stopping the epoch."""
    for sample in data:
        path = sample["url"]
        try:
            stream = _open_shard(path, storage_options or {})
        except (OSError, AvdataError) as e:
            if isinstance(e, InputFormatError):
                raise
            why = getattr(e, "strerror", None) or e
            if skip:
                log.warning("skipped shard %s: %s", path, why)
                continue
            raise MediaError("shard_unreadable", f"{path}: {why}") from e
        yield {**sample, "stream": stream}


def _log_and_continue(exn: Exception) -> bool:
    """webdataset's handler for ``on_error="skip"``: log the broken tar member or shard, go on."""
    log.warning("skipped part of a shard: %s: %s", type(exn).__name__, exn)
    return True


class TarMedia:
    """A line's files inside one WebDataset sample (member suffix -> bytes)."""

    def __init__(self, sample: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        self.sample, self.record = sample, record
        self.where = f"{sample.get('__url__', '?')}:{sample.get('__key__', '?')}"

    def _member(self, suffix: str) -> bytes:
        data = self.sample.get(suffix)
        if data is None:
            raise MediaError("missing_member", f"{self.where}: no member .{suffix}")
        return data

    def audio(self, name: str) -> tuple[np.ndarray, int]:
        ext = name.split(".", 1)[1] if "." in name else "audio"
        return decode_audio_bytes(self._member(ext), f"{self.where}.{ext}")

    def image(self, name: str, size: int) -> np.ndarray:
        k = list(self.record.get("frame") or []).index(name) + 1
        suffix = f"f{k:02d}.{name.rsplit('.', 1)[-1]}"
        try:
            return frame_224(io.BytesIO(self._member(suffix)), size)  # type: ignore[arg-type]
        except (OSError, ValueError, SyntaxError) as e:
            raise MediaError("frame_undecodable", f"{self.where}.{suffix}: {type(e).__name__}: {e}") from e

    def npz(self, kind: str) -> Mapping[str, np.ndarray]:
        return NpzArchive(self._member(f"{kind}.npz"), self.npz_where(kind), f"{kind}_unreadable")

    def npz_where(self, kind: str) -> str:
        return f"{self.where}.{kind}.npz"


def _webdataset() -> Any:
    try:
        import webdataset
    except ImportError as e:
        raise MissingExtraError("webdataset", "webdataset") from e
    return webdataset


def _split_ranks(rank: int, world_size: int, src: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """This rank's shards: ``rank::world_size`` of the list."""
    for i, sample in enumerate(src):
        if i % world_size == rank:
            yield sample


def decode_sample(options: DatasetOptions, labels: LabelMap, epoch: int, sample: Mapping[str, Any]) -> dict[str, Any]:
    """One WebDataset sample -> the item ``AVIndexDataset`` gives for its line."""
    meta = json.loads(sample["json"])
    rec, line = meta["index"], int(meta["line"])
    item = make_item(rec, line, TarMedia(sample, rec), options, labels, epoch, str(sample.get("__url__", "")))
    item["weight"] = meta.get("weight")
    if item["weight"] is None:
        del item["weight"]
    return item


class ShardReader(_IterableBase):  # type: ignore[misc,valid-type]
    """Items from the shards of a shard list (see the module docstring)."""

    def __init__(self, shard_list: str | os.PathLike[str], options: DatasetOptions, *, rank: int = 0,
                 world_size: int = 1, shuffle_shards: bool = False, seed: int = 0,
                 storage_options: dict[str, Any] | None = None) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise AvdataError(f"rank {rank} is not in 0..{world_size - 1}")
        _webdataset()
        self.storage_options = dict(storage_options or {})
        self.shards = read_shard_list(shard_list, self.storage_options)
        self.options = options
        self.labels = LabelMap(options.labels if options.labels is not None else ontology_labels())
        self.rank, self.world_size = rank, world_size
        self.shuffle_shards, self.seed = shuffle_shards, seed
        self.epoch = 0
        self.yielded = 0
        self.resume_at: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Where this iteration (this worker's share of this rank's shards) stands."""
        return {"epoch": self.epoch, "yielded": self.yielded}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the epoch of ``state``; the next iteration skips its first ``yielded`` samples."""
        try:
            self.epoch, self.yielded = int(state["epoch"]), int(state["yielded"])
        except (KeyError, TypeError, ValueError) as e:
            raise AvdataError(f"not a ShardReader state (needs epoch and yielded): {state!r:.80}") from e
        if self.yielded < 0:
            raise AvdataError(f"ShardReader state yielded {self.yielded} is negative")
        self.resume_at = self.yielded

    def __len__(self) -> int:
        """Samples this rank reads in one epoch."""
        return sum(n for _, n in self.shards[self.rank::self.world_size])

    def urls(self) -> list[str]:
        urls = [u for u, _ in self.shards]
        if self.shuffle_shards:  # the same order on every rank: a permutation per (seed, epoch)
            urls = [urls[i] for i in np.random.default_rng([self.seed, self.epoch]).permutation(len(urls))]
        return urls

    def samples(self) -> Any:
        """This rank's and worker's raw samples (tar members grouped by key), not decoded."""
        wds = _webdataset()
        from webdataset.tariterators import group_by_keys, tar_file_expander

        skip = self.options.on_error == "skip"
        expand = partial(tar_file_expander, handler=_log_and_continue) if skip else tar_file_expander
        group = partial(group_by_keys, handler=_log_and_continue) if skip else group_by_keys
        return wds.DataPipeline(
            wds.SimpleShardList(self.urls()),
            partial(_split_ranks, self.rank, self.world_size),
            wds.split_by_worker,
            partial(open_shards, skip=skip, storage_options=self.storage_options), expand, group)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        start, self.resume_at = self.resume_at or 0, None
        self.yielded = start
        for k, sample in enumerate(self.samples()):
            if k < start:
                continue                        # resumed: this worker's first samples were served before
            self.yielded += 1
            try:
                yield decode_sample(self.options, self.labels, self.epoch, sample)
            except (MediaError, InputFormatError, KeyError, ValueError) as e:
                if self.options.on_error == "raise":
                    raise
                log.warning("skipped %s:%s: %s", sample.get("__url__", "?"), sample.get("__key__", "?"), e)
