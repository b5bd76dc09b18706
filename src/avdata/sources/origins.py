"""What a reader learned about each input file that the clip table's columns cannot hold.

Header lines, line ends, number format and column layout are kept per origin file in the Parquet
schema metadata (key ``avdata.origins``, a JSON object ``{origin_file: {...}}``) so that an export
can write the published file back byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

ORIGINS_KEY = b"avdata.origins"


def get_origins(table: pa.Table | pa.Schema) -> dict[str, dict[str, Any]]:
    """The per-file format notes stored in a table's metadata (empty when none)."""
    schema = table if isinstance(table, pa.Schema) else table.schema
    raw = (schema.metadata or {}).get(ORIGINS_KEY)
    return json.loads(raw) if raw else {}


def origins_metadata(origins: dict[str, dict[str, Any]]) -> dict[bytes, bytes]:
    """The schema metadata entry that stores ``origins``."""
    return {ORIGINS_KEY: json.dumps(origins, sort_keys=True).encode()}


def with_origins(table: pa.Table, origins: dict[str, dict[str, Any]]) -> pa.Table:
    """``table`` with ``origins`` merged into its stored per-file notes."""
    merged = {**get_origins(table), **origins}
    meta = dict(table.schema.metadata or {})
    meta.update(origins_metadata(merged))
    return table.replace_schema_metadata(meta)


def concat_with_origins(tables: list[pa.Table]) -> pa.Table:
    """Concatenate clip tables (extra columns missing from some become nulls), keeping every
    table's origin notes."""
    if not tables:
        from avdata.sources.build import build_clips

        return build_clips(0, {})
    origins: dict[str, dict[str, Any]] = {}
    for t in tables:
        origins.update(get_origins(t))
    out = pa.concat_tables([t.replace_schema_metadata(None) for t in tables], promote_options="default")
    meta = dict(tables[0].schema.metadata or {})
    out = out.replace_schema_metadata(meta)
    return with_origins(out, origins)
