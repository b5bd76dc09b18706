"""issue 21 (Kinetics): the Kinetics-400, Kinetics-600 and test layouts in and out byte for byte
(header, quoting of labels with spaces in K400, is_cc, line ends), each row its own span."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdata.ingest import IngestOptions, ingest
from avdata.sources.problems import Problems
from avdata.table import read_clips

SHARED_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "kinetics" / "kinetics-400_val_sample.csv"
LAYOUTS = {
    "kinetics-400_val.csv": b'label,youtube_id,time_start,time_end,split,is_cc\nabseiling,0wR5jVB-WPk,417,427,val,0\n'
                            b'"air drumming",--nQbRBEz2s,104,114,val,0\n"playing bagpipes",-3rcJ2F2qBk,3,13,val,1\n',
    "kinetics_600_val.csv": b"label,youtube_id,time_start,time_end,split\nabseiling,0wR5jVB-WPk,417,427,val\n"
                            b"air drumming,--nQbRBEz2s,104,114,val\n",
    "kinetics_600_test.csv": b"youtube_id,time_start,time_end,split\n0wR5jVB-WPk,417,427,test\n"
                             b"--nQbRBEz2s,104,114,test",
}


def _round_trip(src: Path, tmp_path: Path) -> bytes:
    for args in (["ingest", "kinetics", str(src), "-o", str(tmp_path / "c.parquet")],
                 ["export", "kinetics", str(tmp_path / "c.parquet"), "-o", str(tmp_path / "back.csv")]):
        r = subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    return (tmp_path / "back.csv").read_bytes()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_round_trip_is_byte_identical(tmp_path: Path, name: str) -> None:
    src = tmp_path / name
    src.write_bytes(LAYOUTS[name])
    assert _round_trip(src, tmp_path) == LAYOUTS[name]


def test_the_published_sample_round_trips(tmp_path: Path) -> None:
    if not SHARED_SAMPLE.is_file():
        pytest.skip("../shared is not beside the project")
    assert _round_trip(SHARED_SAMPLE, tmp_path) == SHARED_SAMPLE.read_bytes()


def test_rows_keep_their_own_span_label_and_is_cc(tmp_path: Path) -> None:
    src = tmp_path / "kinetics-400_val.csv"
    src.write_bytes(LAYOUTS["kinetics-400_val.csv"])
    ingest(IngestOptions(format="kinetics", files=(str(src),), output=str(tmp_path / "c.parquet")))
    rows = read_clips(tmp_path / "c.parquet").to_pylist()
    assert [(r["clip_id"], r["start"], r["end"], r["labels"], r["split"], r["kinetics_is_cc"]) for r in rows] == [
        ("0wR5jVB-WPk", 417.0, 427.0, ["abseiling"], "val", "0"),
        ("--nQbRBEz2s", 104.0, 114.0, ["air drumming"], "val", "0"),
        ("-3rcJ2F2qBk", 3.0, 13.0, ["playing bagpipes"], "val", "1")]


def test_bad_rows_cost_one_line_each(tmp_path: Path) -> None:
    src = tmp_path / "kinetics_600_val.csv"
    src.write_text("label,youtube_id,time_start,time_end,split\nabseiling,0wR5jVB-WPk,417,427,val\n"
                   "abseiling,bad id,1,11,val\nabseiling,--nQbRBEz2s,x,11,val\nabseiling,--nQbRBEz2s,20,10,val\n"
                   "abseiling,0wR5jVB-WPk,417,427,val\nabseiling,--nQbRBEz2s,1,11\n")
    problems = Problems()
    res = ingest(IngestOptions(format="kinetics", files=(str(src),), output=str(tmp_path / "c.parquet")), problems)
    assert res.rows == 1
    reasons = {e.line: e.reason for e in problems.errors}
    assert sorted(reasons) == [3, 4, 5, 6, 7]
    assert "YouTube id" in reasons[3] and "not numbers" in reasons[4] and "not after" in reasons[5]
    assert "repeated segment" in reasons[6] and "expected 5 fields" in reasons[7]


def test_the_shipped_class_lists_and_the_kinetics_sounds_mapping() -> None:
    from avdata.loaders import kinetics_labels, kinetics_sounds_labels, kinetics_sounds_mapping

    k400, k600 = kinetics_labels(400), kinetics_labels(600)
    assert len(k400) == len(set(k400)) == 400 and len(k600) == len(set(k600)) == 600
    assert list(k400) == sorted(k400) and "air drumming" in k400 and "playing bagpipes" in k600
    mapping = kinetics_sounds_mapping()
    assert len(mapping) == 34 and sorted(n for n, lab in mapping.items() if lab is None) == [
        "fingerpicking", "patting", "typing"]
    assert mapping["blowing out"] == "blowing out candles" and mapping["stomping"] == "stomping grapes"
    assert mapping["mowing the lawn by pushing lawnmower"] == "mowing lawn"
    assert mapping["dribbling ball"] == "dribbling basketball"
    ks = kinetics_sounds_labels()
    assert len(ks) == 31 and set(ks) <= set(k400) and set(ks) <= set(k600)
    if SHARED_SAMPLE.is_file():                               # the L3-Net list as shipped in ../shared
        names = [x.strip() for x in SHARED_SAMPLE.with_name("kinetics_sounds_l3_34.txt").read_text().splitlines()]
        assert list(mapping) == [x for x in names if x]
        sample_labels = {r.split(",")[0].strip('"') for r in SHARED_SAMPLE.read_text().splitlines()[1:]}
        assert sample_labels <= set(k400)


def test_subset_keeps_the_kinetics_sounds_rows_byte_for_byte(tmp_path: Path) -> None:
    src = tmp_path / "kinetics-400_val.csv"
    rows = [b'"playing bagpipes",-3rcJ2F2qBk,3,13,val,1', b"abseiling,0wR5jVB-WPk,417,427,val,0",
            b'"blowing out candles",2cPLjY5AWXU,1,11,val,0', b'"mowing lawn",3K0Sw7rbzPU,114,124,val,0']
    header = b"label,youtube_id,time_start,time_end,split,is_cc"
    src.write_bytes(b"\n".join([header, *rows]) + b"\n")
    r = subprocess.run([sys.executable, "-m", "avdata", "ingest", "kinetics", str(src), "--subset", "kinetics-sounds",
                        "-o", str(tmp_path / "ks.parquet")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "kinetics-sounds: kept 3 of 4 row(s)" in r.stdout and "no Kinetics class: typing, fingerpicking, patting" \
        in r.stdout
    r = subprocess.run([sys.executable, "-m", "avdata", "export", "kinetics", str(tmp_path / "ks.parquet"), "-o",
                        str(tmp_path / "back.csv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.csv").read_bytes() == b"\n".join([header, rows[0], rows[2], rows[3]]) + b"\n"
    r = subprocess.run([sys.executable, "-m", "avdata", "ingest", "vggsound", str(src), "--subset", "kinetics-sounds",
                        "-o", str(tmp_path / "v.parquet")], capture_output=True, text=True)
    assert r.returncode == 3 and r.stderr.strip().splitlines() == [
        "avdata: error: --subset kinetics-sounds is a subset of kinetics, not of vggsound (vggsound has none)"]
    assert not (tmp_path / "v.parquet").exists()
