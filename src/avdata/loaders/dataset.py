"""``AVIndexDataset``: a map-style dataset over a VIP-ANT index file, one item per line.

An item is a dict: ``index`` (0-based line), ``id``, ``aclip`` and ``frame`` (the file or npz key
used), ``captions`` (list), and the outputs asked for: ``fbank`` (target_frames, 128) float32,
``waveform`` (rate * seconds,) float32, ``image`` (3, 224, 224) float32, ``labels`` multi-hot float32.
How the audio and frame are read is a *feature mode* (registry): ``raw`` decodes the mp3 and the
JPEG (PyAV via ``avdata.media``), ``npz`` reads the index stage's ``aclip_128`` / ``frame_224``.
The same ``make_item`` builds items from files on disk and from WebDataset samples (``shards``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from avdata.arrays import NpzArchive, chosen_frame, fbank_array
from avdata.errors import AvdataError, InputFormatError, MediaError
from avdata.loaders.labels import LabelMap, ontology_labels, to_tensors
from avdata.loaders.lazy_index import LazyIndex
from avdata.loaders.transforms import AudioInput, choose_frame, crop, fbank_input, fit_frames, fixed_waveform, item_rng
from avdata.media.features import AUDIO_KEY, frame_224
from avdata.media.inspect import decode_audio
from avdata.paths import join_checked
from avdata.registry import Registry

OUTPUTS = frozenset({"fbank", "waveform", "image", "labels", "events", "event_frames"})
ON_ERROR = ("raise", "skip")
log = logging.getLogger("avdata.loaders")
AUDIO_STREAM, FRAME_STREAM = 0, 1   # independent random streams of one item
FBANK_FRAMES_PER_SECOND = 100       # 10 ms shift


@dataclass(frozen=True)
class DatasetOptions:
    """What an item holds and how it is computed (mirrors VIP-ANT's training inputs)."""

    media: str                                   # media root the index's dir/aclip/frame resolve below
    train: bool = False                          # random frame / crop (seeded) vs middle frame / centre
    seed: int = 0
    features: str = "raw"                        # feature mode: "raw" or "npz"
    outputs: tuple[str, ...] = ("fbank", "image", "labels")
    audio: AudioInput = field(default_factory=AudioInput)
    image_size: int = 224
    labels: tuple[str, ...] | None = None        # label map; None: the bundled ontology's classes
    tensors: bool = False                        # torch tensors instead of numpy arrays
    on_error: str = "raise"                      # a missing or broken file: "raise", or "skip" (logged, None)
    event_rate: float = 100.0                    # "event_frames": target frames per second (100: the fbank's)

    def __post_init__(self) -> None:
        unknown = set(self.outputs) - OUTPUTS
        if unknown:
            raise AvdataError(f"unknown outputs {sorted(unknown)}; known: {sorted(OUTPUTS)}")
        if self.on_error not in ON_ERROR:
            raise AvdataError(f"on_error must be one of {', '.join(ON_ERROR)} (got {self.on_error!r})")
        feature_mode(self.features)


class ClipMedia(Protocol):
    """Where one line's files come from: a media folder or a shard sample."""

    def audio(self, name: str) -> tuple[np.ndarray, int]: ...
    def image(self, name: str, size: int) -> np.ndarray: ...
    def npz(self, kind: str) -> Mapping[str, np.ndarray]: ...
    def npz_where(self, kind: str) -> str: ...


class DiskMedia:
    """A line's files below the media root: ``{dir}/aclip/{id}.{name}`` and so on."""

    def __init__(self, root: str, record: Mapping[str, Any]) -> None:
        self.root, self.dir, self.id = root, record.get("dir", ""), str(record["id"])
        self.names = {k: record.get(k) for k in ("aclip_128", "frame_224")}

    def path(self, kind: str, name: str) -> str:
        """``root/{dir}/{kind}/{id}.{name}``, checked lexically (``root`` is resolved by the dataset once)."""
        rel = f"{self.dir}/{kind}/{self.id}.{name}" if self.dir else f"{kind}/{self.id}.{name}"
        return str(join_checked(self.root, rel)[1])

    def audio(self, name: str) -> tuple[np.ndarray, int]:
        return decode_audio(self.path("aclip", name))

    def image(self, name: str, size: int) -> np.ndarray:
        path = self.path("frame", name)
        try:
            return frame_224(path, size)
        except (OSError, ValueError, SyntaxError) as e:
            raise MediaError("frame_undecodable", f"{path}: {type(e).__name__}: {e}") from e

    def npz(self, kind: str) -> Mapping[str, np.ndarray]:
        path = self.npz_where(kind)
        return NpzArchive(path, path, f"{kind}_unreadable")

    def npz_where(self, kind: str) -> str:
        """The file of the line's ``kind`` features (named in errors)."""
        return self.path(kind, self.record_name(kind))

    def record_name(self, kind: str) -> str:
        name = self.names.get(kind)
        if not name:
            raise MediaError(f"no_{kind}", f"the line names no {kind} features (index built without --features)")
        return name


FeatureMode = Callable[[Mapping[str, Any], ClipMedia, DatasetOptions, int, int], dict[str, Any]]
# the built-in modes (raw, npz) are defined below, in this module
FEATURE_MODES: Registry[FeatureMode] = Registry("feature mode", "avdata.feature_modes", ("avdata.loaders.dataset",))


def register_feature_mode(name: str) -> Callable[[FeatureMode], FeatureMode]:
    return FEATURE_MODES.register(name)


def feature_mode(name: str) -> FeatureMode:
    return FEATURE_MODES.get(name)


@register_feature_mode("raw")
def _raw(rec: Mapping[str, Any], media: ClipMedia, opts: DatasetOptions, epoch: int, line: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    aclips = rec.get("aclip") or []
    if {"fbank", "waveform"} & set(opts.outputs):
        if not aclips:
            raise MediaError("no_aclip", "the line lists no audio clip")
        out["aclip"] = aclips[0]
        audio, rate = media.audio(aclips[0])
        if "fbank" in opts.outputs:
            out["fbank"] = fbank_input(audio, rate, opts.audio, opts.train,
                                       item_rng(opts.seed, epoch, line, AUDIO_STREAM))
        if "waveform" in opts.outputs:
            out["waveform"] = fixed_waveform(audio, rate, opts.audio, opts.train,
                                             item_rng(opts.seed, epoch, line, AUDIO_STREAM))
    if "image" in opts.outputs:
        frames = rec.get("frame") or []
        k = choose_frame(len(frames), opts.train, item_rng(opts.seed, epoch, line, FRAME_STREAM))
        out["frame"] = frames[k]
        out["image"] = media.image(frames[k], opts.image_size)
    return out


@register_feature_mode("npz")
def _npz(rec: Mapping[str, Any], media: ClipMedia, opts: DatasetOptions, epoch: int, line: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "waveform" in opts.outputs:
        raise AvdataError("features='npz' holds no waveform: use features='raw' for waveform output")
    if "fbank" in opts.outputs:
        feats = fbank_array(media.npz("aclip_128"), AUDIO_KEY, media.npz_where("aclip_128"))
        feats = crop(feats, FBANK_FRAMES_PER_SECOND, opts.audio.crop_seconds, opts.train,
                     item_rng(opts.seed, epoch, line, AUDIO_STREAM) if opts.train else None)
        out["aclip"] = rec.get("aclip_128")
        out["fbank"] = fit_frames(feats, opts.audio)
    if "image" in opts.outputs:
        rng = item_rng(opts.seed, epoch, line, FRAME_STREAM) if opts.train else None   # evaluation: no draw
        out["frame"], out["image"] = chosen_frame(media.npz("frame_224"), media.npz_where("frame_224"),
                                                  lambda n: choose_frame(n, opts.train, rng), opts.image_size)
    return out


def make_item(rec: Mapping[str, Any], line: int, media: ClipMedia, opts: DatasetOptions, labels: LabelMap,
              epoch: int, where: str) -> dict[str, Any]:
    """One item from a parsed line; errors name ``where`` (index file) and the 1-based line."""
    item: dict[str, Any] = {"index": line, "id": str(rec.get("id", "")), "aclip": "", "frame": ""}
    try:
        item.update(feature_mode(opts.features)(rec, media, opts, epoch, line))
    except MediaError as e:
        raise MediaError(e.code, f"{where}:{line + 1}: id {item['id']}: {e.message}") from e
    if "labels" in opts.outputs:
        item["labels"] = labels.multi_hot(rec.get("labels") or [], where, line + 1)
    if "events" in opts.outputs:
        item["events"] = [list(e) for e in rec.get("events") or []]
    if "event_frames" in opts.outputs:
        item["event_frames"] = event_frames(rec, labels, opts.event_rate, where, line + 1)
    item["captions"] = list(rec.get("captions") or [])
    return to_tensors(item) if opts.tensors else item


def event_frames(rec: Mapping[str, Any], labels: LabelMap, rate: float, where: str = "",
                 line: int | None = None) -> np.ndarray:
    """A (frames, classes) float32 target of the line's timed ``events`` (AudioSet-Strong): frame
    ``f`` covers ``[f / rate, (f + 1) / rate)`` seconds from ``bos`` and is 1 for every class with an
    event overlapping it; ``round((eos - bos) * rate)`` frames. A label outside ``labels`` is an
    InputFormatError naming the line (give ``DatasetOptions(labels=strong_labels())``)."""
    seconds = float(rec.get("eos", 0)) - float(rec.get("bos", 0))
    frames = max(0, int(round(seconds * rate)))
    out = np.zeros((frames, len(labels)), np.float32)
    for label, onset, offset in rec.get("events") or []:
        col = labels.column.get(label)
        if col is None:
            raise InputFormatError(where, line, f"event label {label!r} is not in the label map "
                                                f"({len(labels)} labels; AudioSet-Strong: labels=strong_labels())")
        a = max(0, int(math.floor(float(onset) * rate)))
        b = min(frames, int(math.ceil(float(offset) * rate)))
        out[a:b, col] = 1.0
    return out


def dataset_options(options: object, media: str | os.PathLike[str] | None) -> DatasetOptions:
    """``options`` checked (a clear TypeError for anything but ``DatasetOptions``), with ``media``."""
    if options is None:
        if media is None:
            raise TypeError("AVIndexDataset needs the media root: AVIndexDataset(index, media=ROOT) or "
                            "AVIndexDataset(index, DatasetOptions(media=ROOT, ...))")
        return DatasetOptions(media=str(media))
    if not isinstance(options, DatasetOptions):
        raise TypeError(f"options must be a DatasetOptions, not {type(options).__name__} ({options!r:.60}); "
                        "for a media root write AVIndexDataset(index, media=ROOT)")
    return options if media is None else dataclasses.replace(options, media=str(media))


class AVIndexDataset:
    """Map-style dataset over an index file (lazy: see ``LazyIndex``); pickles as paths and options."""

    def __init__(self, index: str | os.PathLike[str], options: DatasetOptions | None = None,
                 sidecar_dir: str | os.PathLike[str] | None = None, *,
                 media: str | os.PathLike[str] | None = None) -> None:
        """``AVIndexDataset(index, DatasetOptions(media=ROOT, ...))``, or ``AVIndexDataset(index,
        media=ROOT)`` for the default options (``media`` also overrides the options' root)."""
        options = dataset_options(options, media)
        self.index = LazyIndex(index, sidecar_dir)
        self.options = options
        self.labels = LabelMap(options.labels if options.labels is not None else ontology_labels())
        self.epoch = 0
        self._root = str(Path(options.media).resolve())       # once: each item's paths join lexically below it

    def set_epoch(self, epoch: int) -> None:
        """Training draws (frame, crop) change with the epoch; call before each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def record(self, i: int) -> dict[str, Any]:
        return self.index.record(i)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        """The item of line ``i``; with ``on_error="skip"`` a line whose files are missing or broken
        is logged (``avdata.loaders`` logger, naming FILE:LINE) and gives None, which ``collate``
        leaves out: every other item keeps its place in the epoch's order."""
        i = int(i)
        try:
            rec = self.index.record(i)
            media = DiskMedia(self._root, rec)
            return make_item(rec, i % len(self), media, self.options, self.labels, self.epoch, str(self.index.path))
        except (MediaError, InputFormatError) as e:
            if self.options.on_error == "raise":
                raise
            log.warning("skipped %s:%d: %s", self.index.path, i % max(1, len(self)) + 1, e)
            return None
