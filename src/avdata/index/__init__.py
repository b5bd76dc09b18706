"""VIP-ANT index files, split files, the combined training list, weights and the dataset report.

Python API (mirrors ``avdata index``, ``avdata weights``, ``avdata report``)::

    build_index(IndexOptions(clips, manifest, media, out, ...)) -> IndexResult
    write_weights(WeightsOptions(index_path, scheme="vipant")) -> WeightsResult
    build_report(ReportOptions(index_path, out)) -> ReportResult
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"IndexOptions": "build", "IndexResult": "build", "build_index": "build",
         "CombinedResult": "combined", "write_combined": "combined"}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    """The API names, imported on first use: reading an index file (``avdata.index.lines``,
    ``scan``, ``blocks``) does not load the media stack the build needs."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"avdata.index.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'avdata.index' has no attribute {name!r}")
