"""``avdata lock --check FILE.lock --media ROOT``: does a built set still match its lock?

The lock's seal is checked first (``format.verify``); then every file is looked up under the media
root (never outside it: a path from the lock is checked lexically, no absolute path, no ``..``) and hashed by a pool of
threads when its size agrees. One line per missing or changed file; exit 0 only when all match.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from avdata.embed.base import file_sha256
from avdata.errors import AvdataError
from avdata.lock.format import iter_clips, verify
from avdata.lock.write import ordered_map
from avdata.paths import join_checked
from avdata.progress import progress


@dataclass
class CheckResult:
    lock: Path
    clips: int = 0
    files: int = 0
    missing: list[str] = field(default_factory=list)     # "split:id: path: why"
    changed: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)       # both, in the lock's order

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed

    def summary_text(self) -> str:
        if self.ok:
            return f"lock --check: all {self.files} files of {self.clips} clips match {self.lock}"
        return (f"lock --check: {len(self.missing)} missing and {len(self.changed)} changed of {self.files} files "
                f"({self.clips} clips) against {self.lock}")


def _check_file(item: tuple[str, Path | None, str, int, str]) -> tuple[str, str, str] | None:
    """None when the file matches, else (kind, path, why)."""
    rel, path, where, size, sha = item
    if path is None:
        return "missing", rel, f"{where}: {rel}: path leaves the media root"
    try:
        actual = os.stat(path).st_size
    except OSError as e:
        return "missing", rel, f"{where}: {rel}: {e.strerror or 'missing'}"
    if actual != size:
        return "changed", rel, f"{where}: {rel}: {actual} bytes, the lock says {size}"
    if file_sha256(path) != sha:
        return "changed", rel, f"{where}: {rel}: its SHA-256 differs from the lock's"
    return None


def check_lock(lock: str | os.PathLike[str], media: str | os.PathLike[str], threads: int = 4,
               show_progress: bool | None = None) -> CheckResult:
    """Check every file of ``lock`` under ``media``."""
    end = verify(lock)
    res = CheckResult(Path(lock))
    root = Path(media).resolve()

    def items() -> Iterator[tuple[str, Path | None, str, int, str]]:
        for _, rec in iter_clips(lock):
            res.clips += 1
            where = f"{rec.get('split')}:{rec['id']}"
            for rel in rec.get("missing") or []:
                res.missing.append(f"{where}: {rel}: missing when the lock was written")
                res.lines.append(res.missing[-1])
            for entry in rec["files"]:
                rel, size, sha = entry
                path: Path | None = None
                try:
                    path = join_checked(root, str(rel))[1]
                except AvdataError:
                    pass
                res.files += 1
                yield str(rel), path, where, int(size), str(sha)

    bar = progress(int(end.get("clips", 0)), "lock --check", "clip", enabled=show_progress)
    seen = 0
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for found in ordered_map(pool, _check_file, items(), 8 * max(1, threads)):
            if res.clips > seen:
                bar.update(res.clips - seen)
                seen = res.clips
            if found is not None:
                (res.missing if found[0] == "missing" else res.changed).append(found[2])
                res.lines.append(found[2])
    bar.close()
    return res
