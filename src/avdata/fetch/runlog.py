"""``{out}/fetch_runs.jsonl``: one JSON line per fetch run with the figures the manifest cannot
hold (time paused by the circuit breaker, trips and attempt outcomes per route). Appended in one
write at the end of a run; ``avdata fetch --report`` sums the lines. A run killed before its end
leaves no line (its items are in the manifest all the same)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any


def append_run_log(path: Path, started: float, routes: dict, counts: dict) -> None:
    """Append this run's line (one ``write`` of one line, so lines never interleave)."""
    line = json.dumps({"started": started, "finished": time.time(), "counts": counts, **routes},
                      sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass                        # figures for the report only: never fail a finished run over them


def read_run_log(path: Path) -> dict:
    """Totals over all runs: ``runs``, ``paused_seconds`` and per route ``trips``, ``paused_seconds``,
    ``attempts`` (a Counter of outcomes). Unreadable lines are skipped."""
    total: dict[str, Any] = {"runs": 0, "paused_seconds": 0.0, "routes": {}}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return total
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(rec, dict):
            continue
        total["runs"] += 1
        total["paused_seconds"] += float(rec.get("paused_seconds") or 0.0)
        for name, r in (rec.get("routes") or {}).items():
            t = total["routes"].setdefault(name, {"trips": 0, "paused_seconds": 0.0, "attempts": Counter()})
            t["trips"] += int(r.get("trips") or 0)
            t["paused_seconds"] += float(r.get("paused_seconds") or 0.0)
            t["attempts"].update({k: int(v) for k, v in (r.get("attempts") or {}).items()})
    return total
