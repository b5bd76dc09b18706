"""One line of a VIP-ANT index file, and the published split file names.

A line is a JSON object with the keys in this order (``json.dump`` defaults, as VIP-ANT wrote them):

    {"dir": "all_0_35000", "aclip": ["p0.mp3"], "frame": ["p0.4_01.jpg", ...],
     "aclip_128": "p0.npz", "frame_224": "p0.npz", "id": "--PJHxphWEs",
     "bos": "30.000", "eos": "40.000", "labels": ["/m/09x0r", ...], "captions": [...]}

``aclip_128``/``frame_224`` appear only when the features were made; ``captions`` only for caption
sets (AudioCaps); ``events`` (``[[label, onset, offset], ...]``, seconds from ``bos``) only for
clips with timed events (AudioSet-Strong). File names in ``aclip``/``frame`` are the media file
names without the ``{id}.`` prefix: the media live at ``{dir}/aclip/{id}.{aclip}`` and ``{dir}/frame/{id}.{frame}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from avdata.paths import safe_name

INDEX_KEYS = ("dir", "aclip", "frame", "aclip_128", "frame_224", "id", "bos", "eos", "labels", "captions",
              "events")
CAPTION_DATASETS = frozenset({"audiocaps"})

# (dataset, split) -> published file name
SPLIT_FILES: dict[tuple[str, str], str] = {
    ("audioset", "eval"): "src_eval_segments.csv",
    ("audioset", "balanced_train"): "src_balanced_train_segments.csv",
    ("audioset", "unbalanced_train"): "src_unbalanced_train_segments.csv",
    ("audiocaps", "train"): "src_audiocaps_train.csv",
    ("audiocaps", "val"): "src_audiocaps_val.csv",
    ("audiocaps", "test"): "src_audiocaps_test.csv",
}
COMBINED_FILE = "src_train_segments.csv"
UNBALANCED_FILE = SPLIT_FILES[("audioset", "unbalanced_train")]
BALANCED_FILE = SPLIT_FILES[("audioset", "balanced_train")]


def split_file_name(dataset: str, split: str) -> str:
    """The published file name for a split; other sets get ``src_{dataset}_{split}.csv``."""
    name = SPLIT_FILES.get((dataset, split))
    if name is None:
        name = f"src_{safe_name(dataset)}_{safe_name(split)}.csv"
    return name


def line_events(events: Sequence[Mapping[str, Any]] | None) -> list[list] | None:
    """A clip's timed events as an index line's ``events``: ``[label, onset, offset]`` of those not
    marked absent (a framed file's ``NOT_PRESENT`` rows), in their order; None when the clip has none."""
    if not events:
        return None
    return [[e["label"], float(e["onset"]), float(e["offset"])] for e in events if e.get("present") is not False]


def format_time(seconds: float) -> str:
    """Seconds as the published index writes them: ``"130.000"``."""
    return f"{seconds:.3f}"


@dataclass(frozen=True)
class IndexEntry:
    """The fields of one index line; ``to_line`` writes them in the published order."""

    dir: str
    aclip: Sequence[str]
    frame: Sequence[str]
    id: str
    bos: str
    eos: str
    labels: Sequence[str]
    aclip_128: str | None = None
    frame_224: str | None = None
    captions: Sequence[str] | None = None
    events: Sequence[Sequence] | None = None     # [[label, onset, offset], ...] seconds from bos (AudioSet-Strong)

    def to_dict(self) -> dict:
        d: dict = {"dir": self.dir, "aclip": list(self.aclip), "frame": list(self.frame)}
        if self.aclip_128 is not None:
            d["aclip_128"] = self.aclip_128
        if self.frame_224 is not None:
            d["frame_224"] = self.frame_224
        d["id"] = self.id
        d["bos"] = self.bos
        d["eos"] = self.eos
        d["labels"] = list(self.labels)
        if self.captions is not None:
            d["captions"] = list(self.captions)
        if self.events is not None:
            d["events"] = [list(e) for e in self.events]
        return d

    def to_line(self) -> str:
        """One JSON line, newline included."""
        return json.dumps(self.to_dict()) + "\n"


def parse_line(line: str) -> dict:
    """Parse one index line (a JSON object)."""
    return json.loads(line)
