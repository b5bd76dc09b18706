"""What several benchmarks share: running a command in a fresh process and reading its time and
peak memory (``ru_maxrss``), so that each figure is that process's own."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# `python -c RUN avdata-args...`: run avdata as a child and print "0 seconds peak_kb" (exit 0 or 1 accepted)
RUN = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
r = subprocess.run([sys.executable, "-m", "avdata", *sys.argv[1:]], capture_output=True, text=True)
assert r.returncode in (0, 1), r.stderr[-2000:]
print(0, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def timed_fields(code: str, *args: str) -> list[str]:
    """Run ``python -c code args`` in a fresh process (this checkout's avdata); its stdout's fields."""
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    return r.stdout.split()


def timed(code: str, *args: str) -> tuple[float, float]:
    """(seconds, peak MB) of a snippet that prints ``N seconds peak_kb`` (as ``RUN`` does)."""
    _, seconds, rss_kb = timed_fields(code, *args)[:3]
    return float(seconds), int(rss_kb) / 1024


def ingest_export_round(fmt: str, src: Path, rows: int, tmp: Path, base_s: float, unit: str = "rows") -> None:
    """Time ``avdata ingest FMT src`` and ``avdata export FMT`` back, each in a fresh process; print
    both beside the baseline's seconds, and whether the export is byte-identical to ``src``."""
    ing_s, ing_mb = timed(RUN, "ingest", fmt, str(src), "-o", str(tmp / "clips.parquet"))
    print(f"  avdata ingest {fmt:16s}{ing_s:7.1f} s  {rows / ing_s:10,.0f} {unit}/s  peak {ing_mb:6.0f} MB  "
          f"({ing_s / base_s:.2f}x the baseline's time)")
    back = tmp / f"back{src.suffix}"
    exp_s, exp_mb = timed(RUN, "export", fmt, str(tmp / "clips.parquet"), "-o", str(back))
    same = filecmp.cmp(src, back, shallow=False)
    print(f"  avdata export {fmt:16s}{exp_s:7.1f} s  {rows / exp_s:10,.0f} {unit}/s  peak {exp_mb:6.0f} MB  "
          f"(byte-identical: {'yes' if same else 'NO'})")
