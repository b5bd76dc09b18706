"""Without media checks the index is built a batch at a time (``avdata.index.fast``): it must write
exactly what the per-segment path (``build_index(..., per_segment=True)``) writes, byte for byte."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from mixed_inputs import NASTY, SPEECH, empty_manifest, make_mixed

from avdata.errors import UnsafePathError
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.index import IndexOptions, build_index
from avdata.index import json_columns as jc
from avdata.index.build import CHECKS_DIR, CHECKS_SCHEMA, CHECKS_TMP_GLOB, IndexResult
from avdata.index.fast import strip_prefix
from avdata.index.validate import _name_in_layout
from avdata.manifest import SEQ_COLUMN, ManifestWriter, latest, read_manifest


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    make_mixed(root, test_data / "balanced_train_segments.csv", n=3000, seed=3)
    return root


def options(root: Path, out: Path, **kw) -> IndexOptions:
    return IndexOptions(root / "clips.parquet", root / "extract_manifest.parquet", root / "media", out,
                        check_media=False, progress=False, **kw)


def outputs(out: Path) -> dict[str, bytes]:
    """Every file of an index folder but the checks, the folder's own path blanked."""
    return {p.name: p.read_bytes().replace(str(out).encode(), b"OUT") for p in sorted(out.iterdir())
            if p.is_file()}


def check_rows(out: Path) -> list[dict]:
    """The checks manifest's rows in write order."""
    return read_manifest(out / CHECKS_DIR, CHECKS_SCHEMA).drop_columns([SEQ_COLUMN]).to_pylist()


def counts(res: IndexResult) -> tuple:
    return (dict(res.listed), dict(res.excluded), {k: dict(v) for k, v in res.excluded_by_split.items()},
            res.negatives_listed, dict(res.negatives_dropped), list(res.split_files), res.features_made,
            dict(res.feature_errors), res.combined and res.combined.to_dict())


def assert_same(slow_out: Path, fast_out: Path, slow: IndexResult, fast: IndexResult) -> None:
    slow_files, fast_files = outputs(slow_out), outputs(fast_out)
    assert slow_files.keys() == fast_files.keys()
    for name in slow_files:
        assert fast_files[name] == slow_files[name], name
    assert check_rows(fast_out) == check_rows(slow_out)
    assert counts(fast) == counts(slow)
    assert list(fast_out.glob(CHECKS_TMP_GLOB)) == []


CASES = {
    "plain": {},
    "negatives": dict(with_negatives=True),
    "exclude_speech": dict(exclude_labels=(SPEECH,), with_negatives=True),
    "keep_speech": dict(keep_labels=(SPEECH,)),
    "longer_audio_small_batches": dict(min_audio_seconds=5.0, batch_rows=97, with_negatives=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_vectorised_path_writes_the_bytes_of_the_per_segment_path(mixed: Path, tmp_path: Path, case: str) -> None:
    slow = build_index(options(mixed, tmp_path / "slow", **CASES[case]), per_segment=True)
    fast = build_index(options(mixed, tmp_path / "fast", **CASES[case]))
    assert_same(tmp_path / "slow", tmp_path / "fast", slow, fast)
    # the inputs hold what they should: listed lines with escapes, and every kind of exclusion
    assert sum(fast.listed.values()) > 200
    assert (tmp_path / "fast" / "src_mydata_empty.csv").read_bytes() == b""
    reasons = set(fast.excluded)
    expected = {"not_extracted", "bad_layout", "no_audio_file", "audio_too_short", "no_frame_decodes",
                "extract_missing_video", "extract_unknown"}
    assert len(expected & reasons) >= (5 if case == "keep_speech" else len(expected))
    if case == "negatives":
        assert fast.negatives_listed > 100 and "bad_layout" in fast.negatives_dropped
    if case.endswith("speech"):
        assert {"label_excluded", "label_not_kept"} & reasons
    text = b"".join(v for k, v in outputs(tmp_path / "fast").items() if k.endswith(".csv"))
    for escaped in (rb"\"", rb"\\", rb"\n", rb"\t", rb"\u00e9", rb"\ud83d\ude00", rb"\u0000", rb"\u007f"):
        assert escaped in text, escaped
    lines = [json.loads(line) for line in text.splitlines()]
    captions = [c for e in lines for c in e.get("captions", [])]
    for nasty in ('"', "\\", "😀", "\u2028", "\x00"):
        assert any(nasty in c for c in captions), nasty


def test_nothing_extracted_gives_empty_split_files(mixed: Path, tmp_path: Path) -> None:
    manifest = empty_manifest(tmp_path)
    slow = build_index(replace(options(mixed, tmp_path / "slow"), manifest=manifest), per_segment=True)
    fast = build_index(replace(options(mixed, tmp_path / "fast"), manifest=manifest))
    assert_same(tmp_path / "slow", tmp_path / "fast", slow, fast)
    assert set(fast.excluded) == {"not_extracted"} and not fast.listed
    assert all(p.stat().st_size == 0 for p in (tmp_path / "fast").glob("src_*.csv"))


def test_unsafe_ids_are_never_listed(mixed: Path, tmp_path: Path) -> None:
    res = build_index(options(mixed, tmp_path / "out", with_negatives=True))
    ids = [json.loads(line)["id"] for p in (tmp_path / "out").glob("src_*.csv") for line in p.read_text().splitlines()]
    assert ids and not [i for i in ids if any(sep in i for sep in ("/", "\\", "\x00"))]
    rows = [r for r in check_rows(tmp_path / "out") if "/" in r["clip_id"] and r["status"] == "bad_layout"]
    assert rows and res.excluded["bad_layout"] >= len({r["clip_id"] for r in rows if r["clip"] == "p0"})


def test_reruns_equal_a_fresh_run_and_changed_inputs_are_checked_again(mixed: Path, tmp_path: Path) -> None:
    root = tmp_path / "inputs"
    shutil.copytree(mixed, root)
    fresh = tmp_path / "fresh"
    build_index(options(root, fresh, with_negatives=True))
    out = tmp_path / "out"
    build_index(options(root, out, with_negatives=True), per_segment=True)
    shutil.copytree(out / CHECKS_DIR, out / f".tmp-999999-{CHECKS_DIR}")   # as a killed run leaves it
    build_index(options(root, out, with_negatives=True))                    # vectorised rerun
    assert outputs(out) == outputs(fresh) and check_rows(out) == check_rows(fresh)
    assert list(out.glob(CHECKS_TMP_GLOB)) == []
    build_index(options(root, out, with_negatives=True), per_segment=True)  # after a vectorised run
    assert outputs(out) == outputs(fresh) and check_rows(out) == check_rows(fresh)

    # an input changes: the rerun (which reuses what still holds) must see it, in either path
    manifest = latest(read_manifest(root / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA), MANIFEST_KEYS)
    listed = {json.loads(line)["id"] for line in (fresh / "src_eval_segments.csv").read_text().splitlines()}
    victim = next(r for r in manifest.to_pylist() if r["clip"] == "p0" and r["clip_id"] in listed)
    with ManifestWriter(root / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA) as mw:
        mw.write({k: v for k, v in victim.items() if k != SEQ_COLUMN} | {"audio_samples": 100})
    for per_segment in (True, False):
        res = build_index(options(root, out, with_negatives=True), per_segment=per_segment)
        row = next(r for r in check_rows(out) if r["clip_id"] == victim["clip_id"] and r["clip"] == "p0")
        assert row["status"] == "audio_too_short" and res.excluded["audio_too_short"] > 0
        assert victim["clip_id"] not in (out / "src_eval_segments.csv").read_text()
    # and so do options: another minimum length
    res = build_index(options(root, out, with_negatives=True, min_audio_seconds=9.5), per_segment=True)
    again = build_index(options(root, tmp_path / "fresh95", with_negatives=True, min_audio_seconds=9.5))
    assert counts(res)[:5] == counts(again)[:5]
    assert check_rows(out) == check_rows(tmp_path / "fresh95")


STRINGS = [*NASTY, None, "plain", "x" * 300, "\ud7ff\ue000\uffff", "\U0001f600\U00010000", "\x1b[31m", "/", "\\\\"]


def test_json_columns_equal_json_dumps() -> None:
    rng = np.random.default_rng(5)
    pool = [chr(c) for c in (*range(0, 0x80), 0xA0, 0xE9, 0x2028, 0xFFFD, 0x1F600, 0x10FFFF)]
    randoms = ["".join(rng.choice(pool, int(rng.integers(0, 12)))) for _ in range(2000)]
    values = pa.array(STRINGS + randoms, pa.string())
    for dedupe in (False, True):
        for arr in (values, values.slice(7)):
            assert jc.strings(arr, dedupe=dedupe).to_pylist() == [json.dumps(v) for v in arr.to_pylist()]
    lists = pa.array([STRINGS[:5], [], None, randoms[:40], ["a", None]], pa.list_(pa.string()))
    for arr in (lists, lists.slice(1)):
        assert jc.lists(arr).to_pylist() == [json.dumps(v) for v in arr.to_pylist()]
    assert jc.integers(pa.array([0, -3, None, 2 ** 62])).to_pylist() == ["0", "-3", "null", str(2 ** 62)]
    joined = jc.concat("<", pa.array(["a", None, "é"]), ">")
    assert bytes(jc.joined_bytes(joined.slice(1))) == "<><é>".encode()


def test_strip_prefix_agrees_with_name_in_layout() -> None:
    ids = ["abc", "a.b", "é", "", "x/y", "ab"]
    rels = ["d/aclip/abc.p0.mp3", "d/aclip/abc.", "d/aclip/abc.sub/x", "d/aclip/abc.x\\y", "d/aclip/abcp0",
            "d/aclip/a.b.p0.mp3", "d/aclip/é.n", "d/aclip/.n", "aclip/abc.n", "d/aclip/x/y.n", "d/aclip/ab.c\x00",
            "d/aclip/abc.é", "e/aclip/abc.n", "d/aclip/abc.n.", None]
    pairs = [(r, i, d) for r in rels for i in ids for d in ("d", "", "./d")]
    got = strip_prefix(pa.array([r for r, _, _ in pairs], pa.string()),
                       pa.array([f"{'d/' if d else ''}aclip/{i}." for _, i, d in pairs], pa.string()))
    for (rel, clip_id, dir_), name in zip(pairs, got.to_pylist()):
        try:
            expected = _name_in_layout(rel, "aclip", dir_, clip_id) if rel is not None else None
        except UnsafePathError:
            expected = None
        if "/" in clip_id:  # unsafe ids are refused before the layout (fast: by _layout_prefixes)
            continue
        assert name == expected, (rel, clip_id, dir_)
    assert pc.sum(got.is_valid()).as_py() > 10
