"""Resuming the index stage: a rerun reuses each clip's check while its files are unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import avdata.index.validate as validate
from avdata.extract.plan import chunk_dir
from avdata.index import IndexOptions, build_index
from avdata.index.build import CHECKS_DIR, CHECKS_KEYS, CHECKS_SCHEMA, CHECKS_TMP_GLOB
from avdata.manifest import SEQ_COLUMN, latest, read_manifest

CHUNK = chunk_dir(0, "all", 35_000)   # the chunk folder of the first 35,000 rows

ORIGINALS = {name: getattr(validate, name)
             for name in ("check_audio", "check_image", "write_aclip_128", "write_frame_224")}


class Counter:
    """Counts the media decodes and feature writes of the index stage (inline executor)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_after: int | None = None) -> None:
        self.calls = dict.fromkeys(ORIGINALS, 0)
        self.fail_after = fail_after
        for name, fn in ORIGINALS.items():
            monkeypatch.setattr(validate, name, self._wrap(name, fn))

    def _wrap(self, name, fn):
        def counted(*args, **kwargs):
            if name == "check_audio" and self.fail_after is not None and self.calls[name] >= self.fail_after:
                raise RuntimeError("killed part way")
            self.calls[name] += 1
            return fn(*args, **kwargs)
        return counted

    @property
    def decodes(self) -> int:
        return self.calls["check_audio"] + self.calls["check_image"]


@pytest.fixture
def copy(example, tmp_path):
    """A private copy of the example (tests here change its media); copytree keeps mtimes."""
    root = tmp_path / "example"
    shutil.copytree(example.root, root)
    return root


def options(root: Path, out: Path, **kw) -> IndexOptions:
    return IndexOptions(root / "clips.parquet", root / "extract_manifest.parquet", root / "media", out,
                        executor="inline", progress=False, **kw)


def outputs(out: Path) -> dict[str, bytes]:
    """Every index file but the checks manifest (whose part names hold a time), by name; the
    summary's own ``out`` path is blanked so that two output folders compare."""
    return {p.name: p.read_bytes().replace(str(out).encode(), b"OUT") for p in sorted(out.iterdir())
            if p.is_file()}


def checks(out: Path) -> list[dict]:
    t = latest(read_manifest(out / CHECKS_DIR, CHECKS_SCHEMA), CHECKS_KEYS).drop_columns([SEQ_COLUMN])
    return sorted(t.to_pylist(), key=lambda r: (r["clip_id"], r["clip"]))


def test_rerun_with_nothing_changed_decodes_nothing_and_writes_the_same_bytes(copy, tmp_path, monkeypatch) -> None:
    out = tmp_path / "out"
    first = Counter(monkeypatch)
    build_index(options(copy, out, with_negatives=True, features=True))
    assert first.decodes > 0 and first.calls["write_aclip_128"] > 0
    before, before_checks = outputs(out), checks(out)
    assert "src_train_segments.csv" in before and "index_summary.json" in before
    features = sorted((copy / "media" / CHUNK).glob("*_224/*.npz")) + sorted(
        (copy / "media" / CHUNK).glob("aclip_128/*.npz"))
    mtimes = {p: p.stat().st_mtime_ns for p in features}
    assert features

    again = Counter(monkeypatch)
    res = build_index(options(copy, out, with_negatives=True, features=True))
    assert again.calls == {"check_audio": 0, "check_image": 0, "write_aclip_128": 0, "write_frame_224": 0}
    assert outputs(out) == before
    assert checks(out) == before_checks
    assert {p: p.stat().st_mtime_ns for p in features} == mtimes
    assert res.features_made > 0

    # a fresh run elsewhere writes the same bytes as the resumed one
    fresh = tmp_path / "fresh"
    build_index(options(copy, fresh, with_negatives=True, features=True))
    assert outputs(fresh) == outputs(out)


def test_a_replaced_audio_file_excludes_exactly_its_segment(example, copy, tmp_path, monkeypatch) -> None:
    out = tmp_path / "out"
    res = build_index(options(copy, out))
    assert dict(res.excluded) == example.expected_exclusions
    victim = next(s for s in example.segments if s.fault is None and s.split == "unbalanced_train")
    audio = copy / "media" / CHUNK / "aclip" / f"{victim.clip_id}.p0.mp3"
    size = audio.stat().st_size
    audio.write_bytes(b"\x00not an mp3" * 50)
    assert audio.stat().st_size != size

    count = Counter(monkeypatch)
    res = build_index(options(copy, out))
    assert count.calls["check_audio"] == 1 and count.calls["check_image"] == 0  # only that clip again
    expected = dict(example.expected_exclusions)
    expected["audio_undecodable"] = expected.get("audio_undecodable", 0) + 1
    assert dict(res.excluded) == expected
    ids = [line.split('"id": "')[1].split('"')[0]
           for line in (out / "src_unbalanced_train_segments.csv").read_text().splitlines()]
    assert victim.clip_id not in ids
    assert ids == [s.clip_id for s in example.segments
                   if s.split == "unbalanced_train" and s.fault is None and s is not victim]
    row = next(r for r in checks(out) if r["clip_id"] == victim.clip_id and r["clip"] == "p0")
    assert row["status"] == "audio_undecodable" and row["sizes"][0] == audio.stat().st_size


def test_a_killed_run_leaves_no_partial_index_and_the_rerun_finishes(example, copy, tmp_path, monkeypatch) -> None:
    reference = tmp_path / "reference"
    build_index(options(copy, reference))
    total = Counter(monkeypatch)
    build_index(options(copy, tmp_path / "count"))
    audio_checks = total.calls["check_audio"]

    out = tmp_path / "out"
    Counter(monkeypatch, fail_after=3)
    with pytest.raises(RuntimeError, match="killed part way"):
        build_index(options(copy, out))
    finals = [p.name for p in out.iterdir() if not p.name.startswith(".tmp-")]
    assert finals == []                                   # no split file, sidecar or checks under a final name
    assert [p.name for p in out.iterdir() if p.is_file()] == []   # no temp split file either

    rerun = Counter(monkeypatch)
    res = build_index(options(copy, out))
    assert rerun.calls["check_audio"] == audio_checks - 3   # the killed run's checks were kept
    assert dict(res.excluded) == example.expected_exclusions
    assert outputs(out) == outputs(reference)
    assert list(out.glob(CHECKS_TMP_GLOB)) == []
