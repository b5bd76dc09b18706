"""One fetch manifest row as a dataclass (``FetchResult``), and the row of a file that landed,
built the same way by the driver and by a Ray worker recording it in the archive."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from avdata.fetch.backend import Fetched, FetchJob
from avdata.fetch.schema import STATUS_OK


@dataclass
class FetchResult:
    """One manifest row plus the absolute local file (``file``, not stored)."""

    source: str
    source_kind: str
    status: str
    path: str | None = None
    offset: float | None = None
    section_end: float | None = None
    bytes: int | None = None
    seconds: float = 0.0
    attempts: int = 0
    error_class: str | None = None
    transient: bool | None = None
    message: str = ""
    backend: str = ""
    source_uri: str = ""
    url: str | None = None
    checksum: str | None = None
    deleted: bool = False
    finished_at: float = 0.0
    file: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("file")
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FetchResult:
        names = {f.name for f in fields(cls)} - {"file"}
        return cls(**{k: v for k, v in row.items() if k in names})


def landed_result(job: FetchJob, f: Fetched, *, out: Path, backend: str, source_uri: str, seconds: float,
                  attempts: int) -> FetchResult:
    """The ok row of ``f`` (its path relative to the resolved output root ``out`` when it lives there)."""
    rel = os.path.relpath(f.file, out).replace(os.sep, "/") if f.owned else str(f.file)
    return FetchResult(source=job.source, source_kind=job.kind, status=STATUS_OK, seconds=seconds,
                       attempts=attempts, backend=backend, source_uri=source_uri, finished_at=time.time(),
                       path=rel, offset=float(f.offset), section_end=f.section_end, bytes=f.bytes, url=f.url,
                       checksum=f.checksum, transient=None, file=f.file)
