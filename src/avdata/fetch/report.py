"""``avdata fetch --report``: counts per status / error class and the fraction of the source list
available (the figure AudioSet users quote when they compare their copies), each failure class
marked permanent or retryable, and from ``fetch_runs.jsonl`` the time the circuit breaker paused
the runs and the trips and attempt outcomes per route (direct or each proxy)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from avdata.fetch.runlog import read_run_log
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA, MANIFEST_KEYS, PERMANENT_CLASSES, STATUS_OK
from avdata.manifest import latest, read_manifest
from avdata.table import read_clips

NOT_ATTEMPTED = "not_attempted"


@dataclass
class FetchReport:
    sources: int                                     # distinct sources in the list (or manifest)
    available: int                                   # ok (including consumed-and-deleted)
    counts: Counter = field(default_factory=Counter)  # status -> sources
    clips: int | None = None                         # clip rows in the list
    clips_available: int | None = None
    bytes: int = 0
    runs: dict | None = None                         # read_run_log(): paused time, per-route figures

    @property
    def fraction(self) -> float:
        return self.available / self.sources if self.sources else 0.0

    def format(self) -> str:
        lines = [f"sources: {self.sources}  available: {self.available} ({100 * self.fraction:.2f}%)"]
        if self.clips is not None:
            frac = (self.clips_available or 0) / self.clips if self.clips else 0.0
            lines.append(f"clips:   {self.clips}  with a video: {self.clips_available} ({100 * frac:.2f}%)")
        lines.append(f"bytes:   {self.bytes}")
        lines.append(f"obtained {self.available:,} of {self.sources:,} videos ({100 * self.fraction:.2f}%)")
        for status, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            kind = ("" if status in (STATUS_OK, NOT_ATTEMPTED)
                    else "  permanent" if status in PERMANENT_CLASSES else "  retryable")
            lines.append(f"  {status:<18} {n:>9}  {100 * n / max(1, self.sources):6.2f}%{kind}")
        if self.runs and self.runs.get("runs"):
            lines.append(f"runs:    {self.runs['runs']}  paused by the breaker: "
                         f"{self.runs['paused_seconds']:.1f}s")
            for name, r in sorted(self.runs["routes"].items()):
                outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["attempts"].items())) or "no attempts"
                lines.append(f"  route {name}: trips {r['trips']}, paused {r['paused_seconds']:.1f}s; "
                             f"attempts: {outcomes}")
        return "\n".join(lines)


def fetch_report(manifest: str | os.PathLike[str], clips: pa.Table | str | os.PathLike[str] | None = None,
                 run_log: str | os.PathLike[str] | None = None) -> FetchReport:
    """Summarise a fetch manifest, against the clip list when given (sources never tried count as
    ``not_attempted``; mixture pair sources count too), with the runs' figures from ``run_log``."""
    rows = latest(read_manifest(Path(manifest), FETCH_MANIFEST_SCHEMA), list(MANIFEST_KEYS)).to_pylist()
    status = {r["source"]: r["status"] for r in rows}
    size = {r["source"]: r["bytes"] or 0 for r in rows}
    if clips is None:
        sources = list(status)
        n_clips = n_avail = None
    else:
        table = clips if isinstance(clips, pa.Table) else read_clips(clips)
        cols = table.select([c for c in ("source", "pair_source") if c in table.column_names]).to_pylist()
        seen: dict[str, None] = {}
        n_avail = 0
        for r in cols:
            needed = [r["source"]] + ([r["pair_source"]] if r.get("pair_source") else [])
            for s in needed:
                seen.setdefault(s)
            n_avail += all(status.get(s) == STATUS_OK for s in needed)
        sources = list(seen)
        n_clips = len(cols)
    counts = Counter(status.get(s, NOT_ATTEMPTED) for s in sources)
    return FetchReport(sources=len(sources), available=counts.get(STATUS_OK, 0), counts=counts,
                       clips=n_clips, clips_available=n_avail,
                       bytes=sum(size.get(s, 0) for s in sources if status.get(s) == STATUS_OK),
                       runs=read_run_log(Path(run_log)) if run_log is not None else None)
