"""VIP-ANT index files, split files, the combined training list, weights and the dataset report.

Python API (mirrors ``avdata index``, ``avdata weights``, ``avdata report``)::

    build_index(IndexOptions(clips, manifest, media, out, ...)) -> IndexResult
    write_weights(WeightsOptions(index_path, scheme="vipant")) -> WeightsResult
    build_report(ReportOptions(index_path, out)) -> ReportResult
"""

from avdata.index.build import IndexOptions, IndexResult, build_index
from avdata.index.combined import CombinedResult, write_combined

__all__ = ["IndexOptions", "IndexResult", "build_index", "CombinedResult", "write_combined"]
