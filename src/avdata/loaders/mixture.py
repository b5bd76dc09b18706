"""Mixtures of two clips for sound separation (AudioScope's mixture-of-mixtures, MixIT).

``MixtureDataset`` mixes clip ``a`` with clip ``b``: both first channels at one ``sample_rate``,
cut or zero-padded to ``seconds``; ``mixture = source_a + source_b``; the image is clip ``a``'s
(the MoM takes its video from the first clip); labels are the union. Clips come from a *clip
source*: an index (``IndexClips``, over ``AVIndexDataset``) or the clip examples rendered by
``avdata render`` (``RenderedClips``). Pairs are explicit (``pairs=[(a, b), ...]``, e.g. from a MoM
pair list through ``pairs_by_id``) or a random partner per clip, drawn from
``default_rng([seed, epoch, i])`` (deterministic for a seed; the epoch changes it only in training).

``RenderedMoMs`` serves the MoM examples ``avdata render`` already mixed (``mix``, ``audio1``,
``audio2``, frames of clip 1). Rendered ``examples.jsonl`` keys (paths relative to the render root):
clips ``id, source, start, end, offset, audio, frames, sample_rate, samples, split, annotation,
filtered, padded``; MoMs ``id, source1, start1, end1, source2, start2, end2, mix, audio1, audio2,
frames, mp4, sample_rate, samples, split, annotation, headroom_scale``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from avdata.errors import AvdataError, InputFormatError, MediaError
from avdata.loaders.dataset import AVIndexDataset
from avdata.loaders.labels import to_tensors
from avdata.loaders.lazy_index import LazyIndex
from avdata.loaders.transforms import AudioInput, choose_frame, fixed_waveform, item_rng
from avdata.media.features import frame_224
from avdata.media.inspect import decode_audio
from avdata.paths import safe_join

EXAMPLES_FILE = "examples.jsonl"
PARTNER_STREAM = 7


@dataclass(frozen=True)
class MixtureOptions:
    """Common rate and length of the sources; seeding; output form."""

    sample_rate: int = 16000
    seconds: float = 10.0
    seed: int = 0
    train: bool = False
    image: bool = True
    image_size: int = 224
    tensors: bool = False

    @property
    def audio(self) -> AudioInput:
        return AudioInput(waveform_rate=self.sample_rate, waveform_seconds=self.seconds)


class ClipSource(Protocol):
    """Clips a mixture can be made of."""

    def __len__(self) -> int: ...
    def clip_id(self, i: int) -> str: ...
    def waveform(self, i: int, options: MixtureOptions) -> np.ndarray: ...
    def image(self, i: int, options: MixtureOptions, epoch: int) -> tuple[str, np.ndarray]: ...
    def labels(self, i: int) -> np.ndarray | None: ...


class IndexClips:
    """The lines of an index as clips (audio, frames and multi-hot labels via ``AVIndexDataset``)."""

    def __init__(self, dataset: AVIndexDataset, options: MixtureOptions) -> None:
        base = dataset.options
        self.audio = AVIndexDataset(dataset.index.path, dataclasses.replace(
            base, features="raw", outputs=("waveform", "labels"), tensors=False, train=False, audio=options.audio,
            on_error="raise"))
        self.frames = AVIndexDataset(dataset.index.path, dataclasses.replace(
            base, outputs=("image",), tensors=False, train=options.train, seed=options.seed,
            image_size=options.image_size, on_error="raise"))

    def __len__(self) -> int:
        return len(self.audio)

    def clip_id(self, i: int) -> str:
        return str(self.audio.record(i).get("id", ""))

    def waveform(self, i: int, options: MixtureOptions) -> np.ndarray:
        item = self.audio[i]
        assert item is not None         # the clip datasets are built with on_error="raise"
        return item["waveform"]

    def image(self, i: int, options: MixtureOptions, epoch: int) -> tuple[str, np.ndarray]:
        self.frames.set_epoch(epoch)
        item = self.frames[i]
        assert item is not None
        return item["frame"], item["image"]

    def labels(self, i: int) -> np.ndarray | None:
        return self.audio.labels.multi_hot(self.audio.record(i).get("labels") or [], str(self.audio.index.path), i + 1)


def _frames_of(rec: dict) -> list[str]:
    frames = rec.get("frames") or []
    return [frames] if isinstance(frames, str) else list(frames)


class _Rendered:
    """Rows of a render root's ``examples.jsonl`` of one kind (lazy, pickles as paths)."""

    def __init__(self, root: str | os.PathLike[str], has_key: str, examples: str = EXAMPLES_FILE) -> None:
        self.root = Path(root)
        self.examples = LazyIndex(self.root / examples)
        self.rows = np.array([i for i in range(len(self.examples))
                              if has_key in self.examples.record(i)], dtype=np.int64)
        if len(self.rows) == 0:
            raise InputFormatError(str(self.examples.path), None, f"no examples with a {has_key!r} key")

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, i: int) -> dict:
        return self.examples.record(int(self.rows[i]))

    def where(self, i: int) -> str:
        return f"{self.examples.path}:{int(self.rows[i]) + 1}"

    def wave(self, rel: str, options: MixtureOptions, where: str) -> np.ndarray:
        try:
            audio, rate = decode_audio(safe_join(self.root, rel, follow_links=True))
        except MediaError as e:
            raise MediaError(e.code, f"{where}: {e.message}") from e
        return fixed_waveform(audio, rate, options.audio)

    def frame(self, i: int, options: MixtureOptions, epoch: int) -> tuple[str, np.ndarray]:
        frames = _frames_of(self.row(i))
        if not frames:
            raise MediaError("no_frames", f"{self.where(i)}: the example lists no frames")
        k = choose_frame(len(frames), options.train, item_rng(options.seed, epoch, int(self.rows[i]), 1))
        try:
            return frames[k], frame_224(safe_join(self.root, frames[k], follow_links=True), options.image_size)
        except (OSError, ValueError, SyntaxError) as e:
            raise MediaError("frame_undecodable", f"{self.where(i)}: {frames[k]}: {e}") from e


class RenderedClips(_Rendered):
    """The clip examples (rows with ``audio``) of an ``avdata render`` output as a clip source."""

    def __init__(self, root: str | os.PathLike[str], examples: str = EXAMPLES_FILE) -> None:
        super().__init__(root, "audio", examples)

    def clip_id(self, i: int) -> str:
        return str(self.row(i).get("id", ""))

    def waveform(self, i: int, options: MixtureOptions) -> np.ndarray:
        return self.wave(self.row(i)["audio"], options, self.where(i))

    def image(self, i: int, options: MixtureOptions, epoch: int) -> tuple[str, np.ndarray]:
        return self.frame(i, options, epoch)

    def labels(self, i: int) -> np.ndarray | None:
        return None


def partner(i: int, n: int, seed: int, epoch: int) -> int:
    """A random clip other than ``i`` (of ``n``), the same for a (seed, epoch, i)."""
    if n < 2:
        raise AvdataError("random partners need at least 2 clips")
    j = int(item_rng(seed, epoch, i, PARTNER_STREAM).integers(n - 1))
    return j + (j >= i)


def pairs_by_id(clips: ClipSource, id_pairs: Iterable[tuple[str, str]]) -> list[tuple[int, int]]:
    """Positions of (id1, id2) pairs (a MoM pair list's clips); an unknown id names the pair."""
    where = {clips.clip_id(i): i for i in range(len(clips))}
    out = []
    for k, (a, b) in enumerate(id_pairs, 1):
        if a not in where or b not in where:
            raise AvdataError(f"pair {k}: id {a if a not in where else b!r} is not among the clips")
        out.append((where[a], where[b]))
    return out


def check_pairs(pairs: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """Pairs of clip positions as an (N, 2) int64 array; a position outside ``0..n-1`` (a negative
    one would silently wrap to the last clips) is an error naming the pair."""
    try:
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    except (TypeError, ValueError) as e:
        raise AvdataError(f"pairs must be (clip, clip) positions ({e})") from None
    bad = np.nonzero((arr < 0).any(axis=1) | (arr >= n).any(axis=1))[0]
    if len(bad):
        a, b = arr[bad[0]]
        raise AvdataError(f"pair {int(bad[0]) + 1}: ({int(a)}, {int(b)}) is not two clip positions in 0..{n - 1} "
                          f"({len(bad)} such pair(s))")
    return arr


class MixtureDataset:
    """Map-style dataset of two-clip mixtures (see the module docstring)."""

    def __init__(self, clips: ClipSource | AVIndexDataset, options: MixtureOptions = MixtureOptions(),
                 pairs: Sequence[tuple[int, int]] | None = None) -> None:
        self.clips: ClipSource = IndexClips(clips, options) if isinstance(clips, AVIndexDataset) else clips
        self.options = options
        self.pairs = None if pairs is None else check_pairs(pairs, len(self.clips))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self.clips)

    def pair(self, i: int) -> tuple[int, int]:
        if self.pairs is not None:
            a, b = self.pairs[i]
            return int(a), int(b)
        epoch = self.epoch if self.options.train else 0
        return i, partner(i, len(self.clips), self.options.seed, epoch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i) % len(self)
        a, b = self.pair(i)
        s1 = self.clips.waveform(a, self.options)
        s2 = self.clips.waveform(b, self.options)
        item: dict[str, Any] = {"index": i, "pair": np.array([a, b]), "ids": [self.clips.clip_id(a),
                                                                              self.clips.clip_id(b)],
                                "mixture": s1 + s2, "sources": np.stack([s1, s2])}
        if self.options.image:
            item["frame"], item["image"] = self.clips.image(a, self.options, self.epoch)
        la, lb = self.clips.labels(a), self.clips.labels(b)
        if la is not None and lb is not None:
            item["labels"] = np.maximum(la, lb)
        return to_tensors(item) if self.options.tensors else item


class RenderedMoMs(_Rendered):
    """The MoM examples (rows with ``mix``) of an ``avdata render`` output, as rendered."""

    def __init__(self, root: str | os.PathLike[str], options: MixtureOptions = MixtureOptions(),
                 examples: str = EXAMPLES_FILE) -> None:
        super().__init__(root, "mix", examples)
        self.options = options
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i) % len(self)
        rec, where = self.row(i), self.where(i)
        s1 = self.wave(rec["audio1"], self.options, where)
        s2 = self.wave(rec["audio2"], self.options, where)
        item: dict[str, Any] = {"index": i, "id": str(rec.get("id", "")),
                                "ids": [str(rec.get("source1", "")), str(rec.get("source2", ""))],
                                "mixture": self.wave(rec["mix"], self.options, where), "sources": np.stack([s1, s2]),
                                "annotation": str(rec.get("annotation") or ""), "split": str(rec.get("split") or "")}
        if self.options.image:
            item["frame"], item["image"] = self.frame(i, self.options, self.epoch)
        return to_tensors(item) if self.options.tensors else item
