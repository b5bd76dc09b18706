"""AudioScope (ICLR 2021, filtered) and AudioScopeV2 (ECCV 2022, unfiltered) YFCC100M clip lists.

Rows: ``video path, start, end``; MoM pair lists: two such clips per row (the MoM takes video from
the first). Published file names tell filtering, split and human-label subset, e.g.
``filtered_train_clips.csv``, ``unfiltered_validate_onscreen_unanimous_clips.csv``,
``filtered_test_offscreen_unanimous_plus_offscreen_unanimous_mom_clips.csv``,
``unfiltered_test_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv``.
"""

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

FORMAT = "audioscope"


@register_sniffer(FORMAT)
def looks_like_audioscope_row(row: list[str]) -> bool:
    """``video path, start, end`` (a MoM pair list: two such clips)."""
    return clip_columns(row, 3)
_NAME = re.compile(r"^(?P<filtering>filtered|unfiltered)_(?P<split>train|validate|test)"
                   r"(?:_(?P<label>[a-z_]+?))?(?P<mom>_mom)?_clips$")


def list_info(path: str | os.PathLike[str]) -> ListInfo:
    """What a published AudioScope file name tells; an unknown name tells only the dataset."""
    m = _NAME.match(Path(path).name.split(".")[0])
    if not m:
        return ListInfo(dataset="audioscope")
    filtered = m["filtering"] == "filtered"
    return ListInfo(dataset="audioscope" if filtered else "audioscope_v2", split=m["split"],
                    annotation=m["label"], filtered=filtered, pair=bool(m["mom"]))


@register_reader(FORMAT)
def read_audioscope(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: read AudioScope / AudioScopeV2 lists."""
    return read_clip_lists(paths, list_info, options.split, False, problems, FORMAT)


@register_writer(FORMAT)
def write_audioscope(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Registry entry: ``path, start, end`` rows (six columns for pairs)."""
    return write_clip_list(table, path, FORMAT, with_offset=False)
