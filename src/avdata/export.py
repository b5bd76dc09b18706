"""The export stage: a clip table back to a published list format."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import AvdataError, did_you_mean
from avdata.pathcheck import DIR, FILE, Output, check_outputs
from avdata.sources.problems import Problems
from avdata.sources.registry import get_index_writer, get_writer
from avdata.table import read_clips


@dataclass(frozen=True)
class ExportOptions:
    """Write the rows of ``table`` (optionally only one ``split`` / ``origin_file``) as ``format``."""

    table: str
    format: str
    output: str
    split: str | None = None
    origin_file: str | None = None
    media: str | None = None          # media root, for formats written from an index file (lhotse)
    root: str | None = None           # lhotse: paths relative to this folder (default: the output folder)
    absolute_paths: bool = False      # lhotse: absolute paths instead
    more: tuple[str, ...] = ()        # hf: further index files (one split each) beside ``table``


def select_rows(table: pa.Table, split: str | None = None, origin_file: str | None = None) -> pa.Table:
    """The rows of one split and/or one origin file."""
    if split is not None:
        table = table.filter(pc.equal(table.column("split"), split))
    if origin_file is not None:
        table = table.filter(pc.equal(table.column("origin_file"), origin_file))
    return table


def _what_there_is(table: pa.Table, options: ExportOptions) -> str:
    """The splits (and origin files) the table has, with the closest to what was asked."""
    parts = []
    for column, asked in (("split", options.split), ("origin_file", options.origin_file)):
        if column in table.column_names and table.num_rows and (asked is not None or column == "split"):
            values = sorted({str(v) for v in table.column(column).to_pylist() if v is not None})
            hint = did_you_mean(str(asked), values) if asked is not None else ""
            parts.append(f"{column}s there: {', '.join(values[:20]) or 'none'}{hint}")
    return "; ".join(parts) or "the table has no rows"


def export(options: ExportOptions, problems: Problems | None = None) -> int:
    """Write the selected rows in the published format; return how many were written.

    Formats made from an index file (``INDEX_FORMAT_MODULES``: lhotse) take ``table`` as the index
    file and need ``media``; lines they cannot use go to ``problems``.
    """
    index_writer = get_index_writer(options.format)
    if index_writer is not None:
        if not options.media:
            raise AvdataError(f"export {options.format}: --media (the index's media root) is required")
        check_outputs([Output(options.output, DIR, "output")], [options.table, *options.more, options.media])
        tables = (options.table, *options.more) if options.more else options.table
        return index_writer(tables, options.media, options.output, problems or Problems(),
                            root=options.root, absolute=options.absolute_paths)
    if options.more:
        raise AvdataError(f"export {options.format}: one TABLE at a time (several index files: export hf)")
    writer = get_writer(options.format)
    check_outputs([Output(options.output, FILE, "output")], [options.table])
    from_file = getattr(writer, "from_file", None)      # a writer that streams the table's file itself
    if callable(from_file):
        n = from_file(options.table, options.output, split=options.split, origin_file=options.origin_file)
        if n:
            return int(n)
    whole = read_clips(options.table)
    table = select_rows(whole, options.split, options.origin_file)
    if table.num_rows == 0:
        raise AvdataError(f"{options.table}: no rows to export (split={options.split}, "
                          f"origin_file={options.origin_file}); {_what_there_is(whole, options)}")
    return writer(table, options.output)
