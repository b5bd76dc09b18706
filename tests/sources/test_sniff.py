"""A file of the wrong kind is recognised (issue 27): every registered format, given every other
format's files (the real published ones where present) and files that are no list at all, stops
with one line naming what the file looks like and the command to use, exit 3, nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from avdata.sources.registry import READERS
from avdata.sources.sniff import check_kind, sniff_file

TESTS = Path(__file__).resolve().parents[1]
EXAMPLE = TESTS.parents[0] / "src" / "avdata" / "data" / "example"
SHARED = TESTS.parents[1] / "shared" / "data"

# one real file per registered format (AudioScope and MixIT lists written the published way)
LISTS = {
    "audioset": TESTS / "data" / "eval_segments.csv",
    "audiocaps": TESTS / "data" / "val.csv",
    "audioscope": EXAMPLE / "unfiltered_validate_clips.csv",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("kinds")
    out = dict(LISTS)
    mixit = d / "validate_clips.csv"
    mixit.write_text("data/videos/mp4/000/aaa/000aaa01.mp4,0.0,5.0,2.5\n"
                     "data/videos/mp4/111/bbb/111bbb02.mp4,1.0,11.0,0.0\n")
    out["mixit"] = mixit
    vgg = d / "vggsound.csv"
    vgg.write_bytes(b'---g-f_I2yQ,1,people marching,test\r\n--5OkAjCI7g,40,"female speech, woman speaking",train\r\n'
                    b"--8puiAGLhs,30,police car (siren),train\r\n")
    out["vggsound"] = vgg
    kin = d / "kinetics_600_val.csv"
    kin.write_text("label,youtube_id,time_start,time_end,split\nabseiling,0wR5jVB-WPk,417,427,val\n"
                   "air drumming,--nQbRBEz2s,104,114,val\n")
    out["kinetics"] = kin
    strong = d / "audioset_eval_strong.tsv"
    strong.write_text("segment_id\tstart_time_seconds\tend_time_seconds\tlabel\n"
                      "AAAAAAAAAAA_1000\t0.000\t2.500\t/m/09x0r\nAAAAAAAAAAA_1000\t2.627\t4.100\t/m/0bt9lr\n")
    out["audioset-strong"] = strong
    epic = d / "EPIC_Sounds_validation.csv"
    epic.write_text("annotation_id,participant_id,video_id,start_timestamp,stop_timestamp,start_sample,stop_sample,"
                    "description,class,class_id\nP01_11_0,P01,P01_11,00:00:01.069,00:00:03.993,25656,95832,clang,"
                    "collision,34\nP01_11_1,P01,P01_11,00:00:04.065,00:00:07.447,97561,178728,paper,rustle,4\n")
    out["epic-sounds"] = epic
    if (SHARED / "audiocaps" / "test.csv").is_file():
        out["audiocaps (shared test.csv)"] = SHARED / "audiocaps" / "test.csv"
    if (SHARED / "audioset" / "balanced_train_segments.csv").is_file():
        out["audioset (shared balanced)"] = SHARED / "audioset" / "balanced_train_segments.csv"
    return out


def _others(d: Path) -> dict[str, tuple[Path, str]]:
    """Files that are no list of any registered format, with what the message must say."""
    parquet = d / "clips.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"clip_id": ["a"]}), parquet)
    index = d / "src_eval_segments.csv"
    index.write_text(json.dumps({"dir": "all_0_35000", "aclip": ["p0.mp3"], "frame": [], "id": "x",
                                 "bos": "0.000", "eos": "10.000", "labels": []}) + "\n")
    binary = d / "noise.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    ontology = TESTS.parents[0] / "src" / "avdata" / "data" / "ontology.json"
    out = {"parquet": (parquet, "a Parquet file"), "index": (index, "a VIP-ANT index file"),
           "binary": (binary, "a binary file"), "ontology": (ontology, "AudioSet's ontology.json")}
    kinetics = SHARED / "kinetics" / "kinetics-400_val_sample.csv"
    if kinetics.is_file():
        out["kinetics"] = (kinetics, "a Kinetics list")
    vgg = SHARED / "vggsound" / "test_split_sample.csv"
    if vgg.is_file():
        out["vggsound"] = (vgg, "of the first 20 rows are not")
    return out


def _ingest(fmt: str, path: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", "ingest", fmt, str(path), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)


def test_each_file_is_recognised_as_its_own_format(files: dict[str, Path]) -> None:
    for name, path in files.items():
        fmt = name.split(" ")[0]
        scores = sniff_file(path).scores
        assert scores[fmt] == 1.0 and all(v == 0 for k, v in scores.items() if k != fmt), (name, scores)
        check_kind(path, fmt)         # passes quietly


@pytest.mark.parametrize("fmt", READERS.names())
def test_every_format_refuses_every_other_formats_file_in_one_line(fmt: str, files: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    keep = tmp_path / "keep.parquet"
    keep.write_bytes(b"the user's table")
    for name, path in files.items():
        other = name.split(" ")[0]
        if other == fmt:
            continue
        r = _ingest(fmt, path, keep)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 3 and len(lines) == 1, (fmt, name, r.stderr)
        assert lines[0].startswith(f"avdata: error: {path}: this looks like ") and \
            f"use `avdata ingest {other} {path.name}`" in lines[0], lines[0]
        assert keep.read_bytes() == b"the user's table"
    for name, (path, says) in _others(tmp_path).items():
        if (fmt, name) in (("vipant", "index"), ("kinetics", "kinetics")):
            continue                    # its own format (tests/sources/test_vipant_source.py, test_kinetics_source.py)
        r = _ingest(fmt, path, keep)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 3 and len(lines) == 1 and says in lines[0], (fmt, name, r.stderr)
        assert keep.read_bytes() == b"the user's table" and "Traceback" not in r.stderr


def test_mostly_malformed_rows_stop_early_with_a_count(tmp_path: Path) -> None:
    rows = (TESTS / "data" / "eval_segments.csv").read_text().splitlines()[3:23]
    broken = rows[:5] + [r.replace(",", ";") for r in rows[5:]]
    bad = tmp_path / "eval_segments.csv"
    bad.write_text("\n".join(broken) + "\n")
    r = _ingest("audioset", bad, tmp_path / "c.parquet")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 3 and len(lines) == 1 and "15 of the first 20 rows are not audioset rows" in lines[0]
    assert not (tmp_path / "c.parquet").exists()


def test_messy_variants_of_the_right_kind_still_pass(tmp_path: Path) -> None:
    rows = (TESTS / "data" / "eval_segments.csv").read_text().splitlines()
    messy = tmp_path / "eval_segments.csv"
    # CRLF, a BOM, blank lines, whole seconds, a spreadsheet re-export that quotes every field
    body = ["\ufeff" + rows[0], "", *[r.replace(".000", "") for r in rows[3:10]],
            *['"' + '","'.join(x.strip().strip('"') for x in r.split(", ", 3)) + '"' for r in rows[10:30]]]
    messy.write_bytes("\r\n".join(body).encode("utf-8") + b"\r\n")
    check_kind(messy, "audioset")
    r = _ingest("audioset", messy, tmp_path / "c.parquet")
    assert r.returncode == 0, r.stderr
    shutil.rmtree(tmp_path)
