"""issue 20: `avdata lock` / `lock --check` / `diff` on the planted corpus: lock -> check passes;
one byte changed in one mp3 -> exit 1 naming it; the diff of two builds that differ by one clip
lists exactly that clip; bad locks (another format, edited, cut short, another dataset) are one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from audit_corpus import AuditCorpus

from avdata.lock import LockOptions, check_lock, diff_locks, run_lock
from avdata.lock.format import iter_clips, verify

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture()
def build(planted: AuditCorpus, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the built set (media + index) that a test may damage."""
    media = tmp_path / "media"
    shutil.copytree(planted.media, media)
    index = tmp_path / "index"
    shutil.copytree(planted.train.parent, index)
    return media, index


def _lock(index: Path, media: Path, out: Path, planted: AuditCorpus, **kw) -> Path:
    run_lock(LockOptions(index=(str(index / "src_balanced_train_segments.csv"), str(index / "src_eval_segments.csv")),
                         media=media, out=out, clips=planted.clips, progress=False, **kw))
    return out


def test_lock_records_every_file_its_hash_and_the_list_row(build, planted: AuditCorpus, tmp_path: Path) -> None:
    media, index = build
    lock = _lock(index, media, tmp_path / "a.lock", planted, extract_manifest=media / "extract_manifest.parquet",
                 fetch_manifest=planted.root / "videos" / "fetch_manifest.parquet")
    head = json.loads(lock.read_bytes().split(b"\n", 1)[0])
    assert head["coverage"]["eval"] == {"obtained": 5, "listed": 5, "fetched": 5, "extracted": 5, "coverage": 1.0}
    assert {e["file"] for e in head["lists"]} == {"balanced_train_segments.csv", "eval_segments.csv"}
    import hashlib
    for entry in head["lists"]:
        assert entry["sha256"] == hashlib.sha256((planted.root / entry["file"]).read_bytes()).hexdigest()
    clips = [rec for _, rec in iter_clips(lock)]
    assert len(clips) == 19 and verify(lock)["clips"] == 19
    list_rows = {line.split(",")[0]: line for p in planted.lists for line in p.read_text().splitlines()
                 if not line.startswith("#")}
    for rec in clips:
        assert rec["row"] == list_rows[rec["id"]]
        assert len(rec["files"]) == 5         # the mp3 and 4 frames
        for rel, size, sha in rec["files"]:
            data = (media / rel).read_bytes()
            assert len(data) == size and hashlib.sha256(data).hexdigest() == sha


def test_check_passes_then_names_the_one_changed_mp3(build, planted: AuditCorpus, tmp_path: Path) -> None:
    media, index = build
    lock = _lock(index, media, tmp_path / "a.lock", planted)
    r = _cli("lock", "--check", str(lock), "--media", str(media))
    assert r.returncode == 0 and "all 95 files of 19 clips match" in r.stdout, r.stdout + r.stderr
    victim = next(media.rglob("clean000004.p0.mp3"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    gone = next(media.rglob("clean000005.p0.4_02.jpg"))
    gone.unlink()
    r = _cli("lock", "--check", str(lock), "--media", str(media))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert "balanced_train:clean000004" in lines[0] and "clean000004.p0.mp3" in lines[0] and "SHA-256" in lines[0]
    assert "eval:clean000005" in r.stderr and "clean000005.p0.4_02.jpg" in r.stderr
    assert "1 missing and 1 changed of 95 files" in r.stdout


def test_diff_of_two_builds_that_differ_by_one_clip_lists_that_clip(build, planted: AuditCorpus,
                                                                    tmp_path: Path) -> None:
    media, index = build
    a = _lock(index, media, tmp_path / "a.lock", planted)
    ev = index / "src_eval_segments.csv"
    lines = ev.read_bytes().splitlines(keepends=True)
    gone = json.loads(lines[2])["id"]
    ev.write_bytes(b"".join(lines[:2] + lines[3:]))
    b = _lock(index, media, tmp_path / "b.lock", planted)
    d = diff_locks(a, b)
    assert d.splits["eval"].only_a == [gone] and not d.splits["eval"].only_b and not d.splits["eval"].changed
    assert d.splits["balanced_train"].only_a == d.splits["balanced_train"].only_b == []
    assert d.splits["balanced_train"].changed == []
    # one frame re-encoded: that clip is "changed", and only it
    frame = next(media.rglob("clean000000.p0.4_01.jpg"))
    frame.write_bytes(frame.read_bytes() + b"\0")
    c = _lock(index, media, tmp_path / "c.lock", planted)
    r = _cli("diff", str(b), str(c), "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["splits"]["balanced_train"]["changed"] == ["clean000000"] and not out["same"]
    assert out["splits"]["eval"] == {"only_a": [], "only_b": [], "changed": [],
                                     "coverage_a": {"obtained": 4, "listed": 5, "coverage": 0.8},
                                     "coverage_b": {"obtained": 4, "listed": 5, "coverage": 0.8}}
    text = _cli("diff", str(a), str(b)).stdout
    assert f"  - {gone}" in text and "eval: only in A 1, only in B 0, changed 0" in text


def test_bad_locks_are_one_line_exit_3(build, planted: AuditCorpus, tmp_path: Path) -> None:
    media, index = build
    a = _lock(index, media, tmp_path / "a.lock", planted)
    raw = a.read_bytes()
    cases = {
        "edited": raw.replace(b"clean000001", b"clean000991", 1),
        "cut": raw[: raw.rfind(b"{\"avdata_lock_end")],
        "version": raw.replace(b'{"avdata_lock": 1', b'{"avdata_lock": 2', 1),
        "not a lock": b"not json at all\n",
    }
    reasons = {"edited": "do not match the trailer", "cut": "without its trailer", "version": "lock format 2",
               "not a lock": "not a JSON line"}
    for name, data in cases.items():
        bad = tmp_path / f"{name.replace(' ', '_')}.lock"
        bad.write_bytes(data)
        for args in (("lock", "--check", str(bad), "--media", str(media)), ("diff", str(a), str(bad))):
            r = _cli(*args)
            assert r.returncode == 3, (name, args, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1 and reasons[name] in r.stderr, (name, r.stderr)
    # two locks of different datasets
    other = tmp_path / "other.lock"
    idx = tmp_path / "src_val.csv"
    shutil.copy(index / "src_eval_segments.csv", idx)
    run_lock(LockOptions(index=(str(idx),), media=media, out=other, progress=False))
    r = _cli("diff", str(a), str(other))
    assert r.returncode == 3 and "share no split" in r.stderr
    assert check_lock(a, media).ok            # nothing above touched the good lock or the media


def test_lines_without_media_are_one_line_each_and_exit_1(build, planted: AuditCorpus, tmp_path: Path) -> None:
    media, index = build
    ev = index / "src_eval_segments.csv"
    lines = ev.read_bytes().splitlines(keepends=True)
    rec = json.loads(lines[0])
    rec["id"] = "nothere0001"
    ev.write_bytes(json.dumps(rec).encode() + b"\n" + b"not json\n" + b"".join(lines[1:]))
    out = tmp_path / "x.lock"
    r = _cli("lock", str(ev), "--media", str(media), "-o", str(out))
    assert r.returncode == 1
    bad = r.stderr.strip().splitlines()
    assert len(bad) == 2 and f"{ev}:1: nothere0001: missing" in bad[0] and f"{ev}:2:" in bad[1]
    assert verify(out)["clips"] == 5          # the lines that could be read, the missing clip marked
    r = _cli("lock", "--check", str(out), "--media", str(media))
    assert r.returncode == 1 and "missing when the lock was written" in r.stderr


def test_a_lock_never_overwrites_an_input(build, planted: AuditCorpus) -> None:
    media, index = build
    ev = index / "src_eval_segments.csv"
    before = ev.read_bytes()
    r = _cli("lock", str(ev), "--media", str(media), "-o", str(ev))
    assert r.returncode == 3 and ev.read_bytes() == before
