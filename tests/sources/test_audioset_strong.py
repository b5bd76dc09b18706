"""issue 21: AudioSet-Strong. Files written in the published layout (many rows per segment, rows of
a segment apart, 3-decimal and short times, the framed file's present column, CRLF) round-trip byte
for byte; the shared third-party subset too; the vocabulary's published counts; bad rows one line
each; a synthetic corpus from the TSV to AVIndexDataset items whose events and frame targets match
the listed times (within one frame)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from avdata.extract.run import ExtractOptions, run_extract
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.index.build import IndexOptions, build_index
from avdata.ingest import IngestOptions, ingest
from avdata.manifest import STATUS_OK, ManifestWriter
from avdata.media.synth import SynthSpec, make_video
from avdata.sources.audioset_strong import vocabulary
from avdata.sources.ontology import Ontology
from avdata.sources.problems import Problems

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "audioset_strong"
HEAD = "segment_id\tstart_time_seconds\tend_time_seconds\tlabel"
PLAIN = [  # segment 1 rows apart (a row of segment 2 between), several rows per segment, a label twice
    "AAAAAAAAAAA_1000\t0.000\t2.500\t/m/09x0r",
    "AAAAAAAAAAA_1000\t2.627\t4.100\t/m/0bt9lr",
    "BBBBBBBBBBB_1000\t1.250\t10.000\t/m/04rlf",
    "AAAAAAAAAAA_1000\t6.000\t9.500\t/m/09x0r",
    "CCCCCCCCCCC_1000\t0.517\t1.907\t/t/dd00002",
]


def _avdata(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, timeout=300)


def _round_trip(tmp_path: Path, name: str, data: bytes) -> tuple[subprocess.CompletedProcess, bytes]:
    src = tmp_path / name
    src.write_bytes(data)
    r = _avdata("ingest", "audioset-strong", str(src), "-o", str(tmp_path / f"{name}.parquet"))
    assert r.returncode == 0, r.stderr
    r2 = _avdata("export", "audioset-strong", str(tmp_path / f"{name}.parquet"), "-o", str(tmp_path / f"{name}.back"))
    assert r2.returncode == 0, r2.stderr
    return r, (tmp_path / f"{name}.back").read_bytes()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_published_layouts_round_trip_byte_for_byte(tmp_path: Path, newline: str) -> None:
    plain = (newline.join([HEAD, *PLAIN]) + newline).encode()
    _, back = _round_trip(tmp_path, "audioset_eval_strong.tsv", plain)
    assert back == plain
    short = plain.replace(b"0.000\t", b"0.0\t").replace(b"10.000", b"10.0").replace(b"4.100", b"4.1") \
        .replace(b"2.500", b"2.5").replace(b"9.500", b"9.5").replace(b"6.000", b"6.0").replace(b"1.250", b"1.25")
    _, back = _round_trip(tmp_path, "short_eval.tsv", short[:-len(newline)])       # and no final line end
    assert back == short[:-len(newline)]
    framed = newline.join([HEAD + "\tpresent", *(r + ("\tPRESENT" if i % 2 else "\tNOT_PRESENT")
                                                  for i, r in enumerate(PLAIN))]) + newline
    _, back = _round_trip(tmp_path, "audioset_eval_strong_framed_posneg.tsv", framed.encode())
    assert back == framed.encode()


def test_one_clip_per_segment_with_its_events(tmp_path: Path) -> None:
    src = tmp_path / "audioset_train_strong.tsv"
    src.write_text("\n".join([HEAD, *PLAIN]) + "\n")
    ingest(IngestOptions(format="audioset-strong", files=(str(src),), output=str(tmp_path / "c.parquet")), Problems())
    rows = pq.read_table(tmp_path / "c.parquet").to_pylist()
    assert [r["clip_id"] for r in rows] == ["AAAAAAAAAAA_1000", "BBBBBBBBBBB_1000", "CCCCCCCCCCC_1000"]
    a = rows[0]
    assert (a["source"], a["start"], a["end"], a["split"]) == ("AAAAAAAAAAA", 1.0, 11.0, "train")
    assert a["labels"] == ["/m/09x0r", "/m/0bt9lr"]
    assert [(e["label"], e["onset"], e["offset"], e["line"]) for e in a["events"]] == [
        ("/m/09x0r", 0.0, 2.5, 2), ("/m/0bt9lr", 2.627, 4.1, 3), ("/m/09x0r", 6.0, 9.5, 5)]
    r = _avdata("info", str(tmp_path / "c.parquet"))
    assert "events: 5 in 3 clip(s), 4 distinct label(s)" in r.stdout


def test_bad_rows_are_one_line_each_and_the_rest_is_read(tmp_path: Path) -> None:
    bad = ["AAAAAAAAAAA_1000\tx.5\t2.0\t/m/09x0r", "AAAAAAAAAAA_1000\t11.5\t12.0\t/m/09x0r",
           "AAAAAAAAAAA_1000\t1.0\t2.0\tdog", "AAAAAAAAAAA_1000\t0.000\t2.500\t/m/09x0r", "notanid_12\t1\t2\t/m/09x0r",
           "AAAAAAAAAAA_1000\t3.0\t2.0\t/m/09x0r"]
    src = tmp_path / "audioset_eval_strong.tsv"
    src.write_text("\n".join([HEAD, *PLAIN, *bad]) + "\n")
    r = _avdata("ingest", "audioset-strong", str(src), "-o", str(tmp_path / "c.parquet"))
    assert r.returncode == 1
    lines = [x for x in r.stderr.splitlines() if str(src) in x]
    assert [int(x.split(f"{src}:")[1].split(":")[0]) for x in lines] == [7, 8, 9, 10, 11, 12]
    for word, line in zip(("not a number", "past the 10 s segment", "not in the AudioSet-Strong vocabulary",
                           "repeated event", "not YTID_<start in ms>", "before start_time_seconds"), lines):
        assert word in line, line
    assert pq.read_table(tmp_path / "c.parquet").num_rows == 3


def test_the_shared_subset_and_the_vocabulary_counts(tmp_path: Path) -> None:
    vocab = vocabulary()
    assert len(vocab) == 456 and len(set(vocab) - set(Ontology.load(None).classes)) == 32
    subset = SHARED / "derived_eval_strong_subset.tsv"
    if not subset.is_file():
        pytest.skip("../shared is not beside this checkout")
    r, back = _round_trip(tmp_path, "derived_eval_strong_subset.tsv", subset.read_bytes())
    assert back == subset.read_bytes()
    assert "wrote 11 clip(s)" in r.stdout           # 21 events over 11 segments


def test_strong_corpus_from_the_tsv_to_loader_items_with_frame_targets(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avdata.loaders import AVIndexDataset, DatasetOptions, collate, strong_labels

    videos = tmp_path / "videos"
    ids = ["AAAAAAAAAAA", "BBBBBBBBBBB", "CCCCCCCCCCC"]
    with ManifestWriter(videos / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA) as fetched:
        for k, cid in enumerate(ids, 1):
            target = make_video(videos / f"{cid}.mp4", SynthSpec(duration=12.0, width=96, height=64, fps=10,
                                                                 channels=1, seed=k))
            fetched.write({"source": cid, "source_kind": "youtube", "status": STATUS_OK, "path": target.name,
                           "offset": 0.0, "section_end": None, "bytes": target.stat().st_size, "seconds": 0.0,
                           "attempts": 1, "message": "", "backend": "test", "source_uri": "test:strong",
                           "deleted": False, "finished_at": time.time()})
    src = tmp_path / "audioset_eval_strong.tsv"
    src.write_text("\n".join([HEAD, *PLAIN]) + "\n")
    ingest(IngestOptions(format="audioset-strong", files=(str(src),), output=str(tmp_path / "c.parquet")), Problems())
    media = tmp_path / "media"
    run_extract(tmp_path / "c.parquet", ExtractOptions(videos=str(videos), out=str(media), workers=2,
                                                       fetch_manifest=str(videos / "fetch_manifest.parquet")))
    res = build_index(IndexOptions(clips=tmp_path / "c.parquet", manifest=media / "extract_manifest.parquet",
                                   media=media, out=tmp_path / "index", workers=2))
    index = tmp_path / "index" / "src_audioset_strong_eval.csv"
    assert index.is_file(), res.summary_text()
    lines = [json.loads(x) for x in index.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["AAAAAAAAAAA_1000", "BBBBBBBBBBB_1000", "CCCCCCCCCCC_1000"]
    assert lines[0]["events"] == [["/m/09x0r", 0.0, 2.5], ["/m/0bt9lr", 2.627, 4.1], ["/m/09x0r", 6.0, 9.5]]
    assert list(lines[0])[-1] == "events" and (lines[0]["bos"], lines[0]["eos"]) == ("1.000", "11.000")
    opts = DatasetOptions(media=str(media), outputs=("fbank", "labels", "events", "event_frames"),
                          labels=strong_labels())
    ds = AVIndexDataset(index, opts)
    labels = strong_labels()
    for k, line in enumerate(lines):
        item = ds[k]
        assert item["events"] == line["events"]
        target = item["event_frames"]
        assert target.shape == (1000, 456) and item["fbank"].shape[0] == 1000     # one target frame per fbank frame
        for label, onset, offset in line["events"]:
            col = labels.index(label)
            active = np.flatnonzero(target[:, col])
            segments = np.split(active, np.flatnonzero(np.diff(active) > 1) + 1)
            assert any(abs(s[0] - onset * 100) <= 1 and abs(s[-1] + 1 - offset * 100) <= 1 for s in segments), \
                (label, onset, offset)
        assert set(np.flatnonzero(target.any(axis=0))) == {labels.index(e[0]) for e in line["events"]}
    batch = collate([ds[0], ds[1]])
    assert tuple(batch["event_frames"].shape) == (2, 1000, 456) and batch["events"][1] == lines[1]["events"]
