"""issue 21 (VGGSound): `vggsound.csv` in and out byte for byte (CRLF, final CRLF, only labels with a
comma quoted), class names as labels, the row's own split; bad rows cost one line each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdata.ingest import IngestOptions, ingest
from avdata.sources.problems import Problems
from avdata.table import read_clips

PUBLISHED = (b'---g-f_I2yQ,1,people marching,test\r\n--0PQM4-hqg,30,waterfall burbling,train\r\n'
             b'--5OkAjCI7g,40,"female speech, woman speaking",train\r\n--8puiAGLhs,30,police car (siren),train\r\n'
             b'-5W3RIaAmdc,0,"bird chirping, tweeting",test\r\n')


@pytest.mark.parametrize("variant", ["published", "lf", "no final newline"])
def test_round_trip_is_byte_identical(tmp_path: Path, variant: str) -> None:
    data = {"published": PUBLISHED, "lf": PUBLISHED.replace(b"\r\n", b"\n"),
            "no final newline": PUBLISHED[:-2]}[variant]
    src = tmp_path / "vggsound.csv"
    src.write_bytes(data)
    for args in (["ingest", "vggsound", str(src), "-o", str(tmp_path / "c.parquet")],
                 ["export", "vggsound", str(tmp_path / "c.parquet"), "-o", str(tmp_path / "back.csv")]):
        r = subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.csv").read_bytes() == data


def test_rows_are_10_s_clips_labelled_by_class_name(tmp_path: Path) -> None:
    src = tmp_path / "vggsound.csv"
    src.write_bytes(PUBLISHED)
    ingest(IngestOptions(format="vggsound", files=(str(src),), output=str(tmp_path / "c.parquet")))
    rows = read_clips(tmp_path / "c.parquet").to_pylist()
    assert [(r["clip_id"], r["start"], r["end"], r["split"]) for r in rows[:2]] == [
        ("---g-f_I2yQ", 1.0, 11.0, "test"), ("--0PQM4-hqg", 30.0, 40.0, "train")]
    assert rows[2]["labels"] == ["female speech, woman speaking"] and rows[3]["labels"] == ["police car (siren)"]
    assert {r["dataset"] for r in rows} == {"vggsound"} and rows[4]["origin_line"] == 5


def test_bad_rows_cost_one_line_each(tmp_path: Path) -> None:
    lines = [b"---g-f_I2yQ,1,people marching,test", b"not-an-id,1,people marching,test",
             b"--0PQM4-hqg,-3,waterfall burbling,train", b"--0PQM4-hqg,abc,waterfall burbling,train",
             b"--56QUhyDQM,185,,train", b"--56QUhyDQM,185,playing tennis", b"---g-f_I2yQ,1,people marching,test",
             b"--8puiAGLhs,30,police car (siren),train"]
    src = tmp_path / "vggsound.csv"
    src.write_bytes(b"\r\n".join(lines) + b"\r\n")
    problems = Problems()
    res = ingest(IngestOptions(format="vggsound", files=(str(src),), output=str(tmp_path / "c.parquet")), problems)
    assert res.rows == 2
    reasons = {e.line: e.reason for e in problems.errors}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert "not a YouTube id" in reasons[2] and "number >= 0" in reasons[3] and "number >= 0" in reasons[4]
    assert "empty label" in reasons[5] and "expected 4 fields" in reasons[6] and "repeated segment" in reasons[7]
