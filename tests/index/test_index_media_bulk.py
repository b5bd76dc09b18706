"""With media checks, only segments whose files must be decoded go to the executor; the rest is
settled in bulk. The result must be what the per-segment path (``per_segment=True``, every
segment through ``check_segment`` on the executor) writes, byte for byte, check rows included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mixed_inputs import SPEECH

import avdata.index.build as build
import avdata.index.validate as validate
from avdata.extract.plan import chunk_dir
from avdata.index import IndexOptions, build_index
from avdata.index.build import CHECKS_DIR, CHECKS_SCHEMA, CHECKS_TMP_GLOB, SegmentTask
from avdata.index.validate import ClipFiles, _fingerprint
from avdata.manifest import SEQ_COLUMN, read_manifest

CHUNK = chunk_dir(0, "all", 35_000)


@pytest.fixture(scope="module")
def corpus(example, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The index example (present, missing, undecodable and short audio, corrupt jpgs, failed and
    missing extractions, negatives, one without frames) plus a truncated mp3; returns the root and
    the id of the truncated clip."""
    root = tmp_path_factory.mktemp("media_bulk") / "example"
    shutil.copytree(example.root, root)
    victim = next(s for s in example.segments if s.fault is None and s.split == "unbalanced_train")
    audio = root / "media" / CHUNK / "aclip" / f"{victim.clip_id}.p0.mp3"
    data = audio.read_bytes()
    audio.write_bytes(data[: len(data) // 20])   # a torn write: half a second
    return root, victim.clip_id


def options(root: Path, out: Path, **kw) -> IndexOptions:
    return IndexOptions(root / "clips.parquet", root / "extract_manifest.parquet", root / "media", out,
                        executor="inline", progress=False, **kw)


def outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes().replace(str(out).encode(), b"OUT") for p in sorted(out.iterdir())
            if p.is_file()}


def check_rows(out: Path) -> list[dict]:
    """Every row of the checks manifest, in write order."""
    return read_manifest(out / CHECKS_DIR, CHECKS_SCHEMA).drop_columns([SEQ_COLUMN]).to_pylist()


class Sent:
    """Counts the segments handed to the executor (inline: ``build.check_segment`` in process)
    and the media decodes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.segments: list[str] = []
        self.decodes = 0
        original, audio, image = build.check_segment, validate.check_audio, validate.check_image

        def sent(task: SegmentTask):
            self.segments.append(task.clip_id)
            return original(task)

        def counted(fn):
            def run(*args, **kwargs):
                self.decodes += 1
                return fn(*args, **kwargs)
            return run

        monkeypatch.setattr(build, "check_segment", sent)
        monkeypatch.setattr(validate, "check_audio", counted(audio))
        monkeypatch.setattr(validate, "check_image", counted(image))


CASES = {
    "plain": {},
    "negatives_small_batches": dict(with_negatives=True, batch_rows=3),
    "exclude_speech_features": dict(exclude_labels=(SPEECH,), with_negatives=True, features=True, batch_rows=4),
    "keep_speech_longer_audio": dict(keep_labels=(SPEECH,), min_audio_seconds=9.5, batch_rows=5),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bulk_media_checks_write_the_bytes_of_the_per_segment_path(corpus, tmp_path, monkeypatch, case) -> None:
    root, truncated = corpus
    kw = CASES[case]
    slow = build_index(options(root, tmp_path / "slow", **kw), per_segment=True)
    sent = Sent(monkeypatch)
    fast = build_index(options(root, tmp_path / "fast", **kw))   # features made by the first run are kept
    a, b = outputs(tmp_path / "slow"), outputs(tmp_path / "fast")
    assert a.keys() == b.keys()
    for name in a:
        assert b[name] == a[name], name
    rows_fast = check_rows(tmp_path / "fast")
    assert rows_fast == check_rows(tmp_path / "slow")
    assert [r["fingerprint"] is None for r in rows_fast] == [
        r["status"] in ("label_excluded", "label_not_kept", "not_extracted") for r in rows_fast]
    assert (fast.listed, fast.excluded, fast.negatives_listed, fast.negatives_dropped, fast.features_made,
            fast.feature_errors) == (slow.listed, slow.excluded, slow.negatives_listed, slow.negatives_dropped,
                                     slow.features_made, slow.feature_errors)
    # only segments with an audio file to decode reached the executor
    statuses = {r["clip_id"]: r["status"] for r in rows_fast if r["clip"] == "p0"}
    no_decode = {"audio_missing_file", "extract_missing_video", "not_extracted", "label_excluded",
                 "label_not_kept"}
    assert sorted(sent.segments) == sorted(cid for cid, st in statuses.items() if st not in no_decode)
    assert sent.segments and len(sent.segments) < len(statuses)
    if case == "plain":   # every way to fail is in the corpus
        assert {"audio_missing_file", "audio_undecodable", "audio_too_short", "no_frame_decodes",
                "extract_missing_video", "not_extracted"} <= set(statuses.values())
    if not statuses[truncated].startswith("label_"):
        assert truncated in sent.segments and statuses[truncated] in ("audio_too_short", "audio_undecodable")

    # a rerun with nothing changed sends nothing to the executor, decodes nothing, writes the same;
    # without features the unchanged results are taken column by column (avdata.index.reuse)
    again = Sent(monkeypatch)
    settled: list[str] = []
    settle = build.settle
    monkeypatch.setattr(build, "settle", lambda task: settled.append(task.clip_id) or settle(task))
    build_index(options(root, tmp_path / "fast", **kw))
    assert again.segments == [] and again.decodes == 0
    if not kw.get("features"):    # nothing is looked at one by one
        assert settled == []
    assert outputs(tmp_path / "fast") == b
    assert check_rows(tmp_path / "fast") == rows_fast
    assert list((tmp_path / "fast").glob(CHECKS_TMP_GLOB)) == []


def test_fingerprint_from_parts_equals_the_repr_of_the_whole() -> None:
    """``fingerprint_of`` (what the bulk path computes, reusing ``repr(files)``) is the digest the
    checks of earlier runs hold: that of ``repr((files, clip_id, dir, root, min, media, features))``."""
    import hashlib

    for files, clip_id, dir_ in [
        (ClipFiles("p0", "ok", "d/aclip/x.p0.mp3", ("d/frame/x.p0.4_01.jpg",), 320000, 32000, 2), "x", "d"),
        (ClipFiles("n1", "unknown", None, (), None, None, None), "q'\"é\x00😀", ""),
        (ClipFiles("p0", "missing_video", "", ("a", "b"), 2 ** 70, 0, None), "\\", "a/b"),
    ]:
        task = SegmentTask(0, clip_id, dir_, (files,), "/m'edia", 2.5, True, False)
        old = hashlib.blake2b(repr((files, task.clip_id, task.dir, task.media_root, task.min_audio_seconds,
                                    task.check_media, task.features)).encode("utf-8"), digest_size=16).hexdigest()
        assert _fingerprint(task, files) == old


@pytest.mark.slow
def test_a_changed_negative_sends_its_whole_segment_again(corpus, example, tmp_path, monkeypatch) -> None:
    root, _ = corpus
    work = tmp_path / "in"
    shutil.copytree(root, work)
    kw = dict(with_negatives=True, batch_rows=4)
    build_index(options(work, tmp_path / "out", **kw))
    seg = next(s for s in example.segments if s.negatives == 2 and s.fault is None)
    frame = work / "media" / CHUNK / "frame" / f"{seg.clip_id}.n1.4_02.jpg"
    frame.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg any more")
    sent = Sent(monkeypatch)
    res = build_index(options(work, tmp_path / "out", **kw))
    assert sent.segments == [seg.clip_id]          # gold and negatives again, as check_segment does
    fresh = build_index(options(work, tmp_path / "fresh", **kw), per_segment=True)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "fresh")
    assert check_rows(tmp_path / "out") == check_rows(tmp_path / "fresh")
    assert res.negatives_dropped == fresh.negatives_dropped and res.negatives_dropped


def test_clip_files_repr_equals_the_dataclass_repr() -> None:
    from avdata.index.validate import clip_files_repr

    for values in [("p0", "ok", "d/aclip/x.p0.mp3", ("d/frame/x.p0.4_01.jpg",), 320000, 32000, 2),
                   ("n1", "unknown", None, (), None, None, None), ("p0", "x'\"\x00é😀", "", ("a", "b"), 2 ** 70, 0, -1)]:
        assert clip_files_repr(*values) == repr(ClipFiles(*values))
