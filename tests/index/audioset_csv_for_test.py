"""Reads AudioSet segment CSV rows with the csv module, until ``avdata.sources.audioset`` is merged.

The lead replaces ``read_audioset_rows_for_test`` by the real reader at merge.
"""

from __future__ import annotations

import csv
from pathlib import Path


def read_audioset_rows_for_test(path: Path, limit: int | None = None) -> list[tuple[str, str, str, list[str]]]:
    """(YTID, start, end, labels) of an AudioSet segments CSV, fields as written (``"30.000"``).

    Stand-in for ``avdata.sources.audioset`` (written in parallel); the lead replaces this helper.
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for rec in csv.reader((line for line in fh if not line.startswith("#")), skipinitialspace=True):
            rows.append((rec[0], rec[1], rec[2], rec[3].split(",")))
            if limit is not None and len(rows) == limit:
                break
    return rows
