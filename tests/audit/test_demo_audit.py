"""issue 20: the demo's audit and lock steps: its planted set (seeded synthetic videos) flagged
exactly as planted, the leak named, the lock of the build checks, the diff lists what --clean left out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from avdata.audit.demo_steps import VIDEOS
from avdata.lock import check_lock, diff_locks

pytestmark = pytest.mark.slow


def test_the_demo_flags_its_planted_set_exactly(demo_dir: Path) -> None:
    rows = {r["id"]: r for r in pq.read_table(demo_dir / "audit" / "audit" / "clips.parquet").to_pylist()}
    assert set(rows) == {cid for cid, *_ in VIDEOS}
    flagged = {cid: sorted(f for f in ("still", "silent", "short") if r[f]) for cid, r in rows.items()}
    assert {cid: f for cid, f in flagged.items() if f} == {"stillpic01a": ["still"], "silent001aa": ["silent"],
                                                          "shortvid01a": ["short"]}
    groups = {}
    for cid, r in rows.items():
        if r["dup_group"] is not None:
            groups.setdefault(r["dup_group"], set()).add(cid)
    assert sorted(map(sorted, groups.values())) == [["clean0001aa", "reupload01a"], ["clean0005aa", "reupload05a"]]
    assert rows["reupload05a"]["leak_with"] == "eval:clean0005aa" and not rows["reupload01a"]["leak"]


def test_the_demo_lock_checks_and_the_diff_names_what_clean_left_out(demo_dir: Path) -> None:
    folder = demo_dir / "audit"
    assert check_lock(folder / "build.lock", folder / "media").ok
    d = diff_locks(folder / "build.lock", folder / "clean.lock")
    assert d.splits["balanced_train"].only_a == ["reupload01a", "reupload05a", "shortvid01a", "silent001aa",
                                                 "stillpic01a"]
    assert not d.splits["eval"].only_a and not d.splits["eval"].only_b
    r = subprocess.run([sys.executable, "-m", "avdata", "lock", "--check", str(folder / "build.lock"), "--media",
                        str(folder / "media")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "all 55 files of 11 clips match" in r.stdout
