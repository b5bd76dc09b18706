"""The export stage: a clip table back to a published list format."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import AvdataError
from avdata.pathcheck import FILE, Output, check_outputs
from avdata.sources.registry import get_writer
from avdata.table import read_clips


@dataclass(frozen=True)
class ExportOptions:
    """Write the rows of ``table`` (optionally only one ``split`` / ``origin_file``) as ``format``."""

    table: str
    format: str
    output: str
    split: str | None = None
    origin_file: str | None = None


def select_rows(table: pa.Table, split: str | None = None, origin_file: str | None = None) -> pa.Table:
    """The rows of one split and/or one origin file."""
    if split is not None:
        table = table.filter(pc.equal(table.column("split"), split))
    if origin_file is not None:
        table = table.filter(pc.equal(table.column("origin_file"), origin_file))
    return table


def export(options: ExportOptions) -> int:
    """Write the selected rows in the published format; return how many were written."""
    writer = get_writer(options.format)
    check_outputs([Output(options.output, FILE, "output")], [options.table])
    table = select_rows(read_clips(options.table), options.split, options.origin_file)
    if table.num_rows == 0:
        raise AvdataError(f"{options.table}: no rows to export (split={options.split}, "
                          f"origin_file={options.origin_file})")
    return writer(table, options.output)
