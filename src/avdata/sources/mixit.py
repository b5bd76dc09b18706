"""MixIT YFCC100M clip lists (NeurIPS 2020): ``video path, start, end, output offset``; the test
MoM list has two such clips per row (8 columns). Clips shorter than 10 s are padded with zeros and
start at the output offset within the 10 s output clip."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from avdata.sources.cliplists import ListInfo, read_clip_lists, write_clip_list
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, register_reader, register_writer
from avdata.sources.sniff import clip_columns, register_sniffer

FORMAT = "mixit"
DATASET = "mixit_yfcc"


@register_sniffer(FORMAT)
def looks_like_mixit_row(row: list[str]) -> bool:
    """``video path, start, end, output offset`` (the test MoM list: two such clips)."""
    return clip_columns(row, 4)
_SPLIT = re.compile(r"(?:^|[_\-.])(train|validate|validation|val|test|eval)(?:$|[_\-.])")


def list_info(path: str | os.PathLike[str]) -> ListInfo:
    """Split from a ``train``/``validate``/``test`` word in the file name; MoM from ``mom``."""
    stem = Path(path).name.split(".")[0]
    m = _SPLIT.search(stem)
    pair = True if re.search(r"(?:^|_)mom(?:_|$)", stem) else None
    return ListInfo(dataset=DATASET, split=m.group(1) if m else None, pair=pair)


@register_reader(FORMAT)
def read_mixit(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: read MixIT YFCC100M lists."""
    return read_clip_lists(paths, list_info, options.split, True, problems, FORMAT)


@register_writer(FORMAT)
def write_mixit(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Registry entry: ``path, start, end, offset`` rows (eight columns for pairs)."""
    return write_clip_list(table, path, FORMAT, with_offset=True)
