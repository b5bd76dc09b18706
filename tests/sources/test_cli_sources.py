"""The ingest / info / export / demo commands, run as a user would (subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from avdata.demo import run_demo
from avdata.table import read_clips


def avdata(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_ingest_info_export_round_trip(test_data: Path, tmp_path: Path) -> None:
    r = avdata("ingest", "audioset", str(test_data / "balanced_train_segments.csv"),
               str(test_data / "eval_segments.csv"), "-o", "clips.parquet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert read_clips(tmp_path / "clips.parquet").num_rows == 22160 + 20371
    r = avdata("info", "clips.parquet", cwd=tmp_path)
    assert r.returncode == 0
    assert "balanced_train" in r.stdout and "22160" in r.stdout and "20371" in r.stdout
    assert "/m/04rlf     Music" in r.stdout and "clip durations:" in r.stdout
    r = avdata("export", "audioset", "clips.parquet", "--split", "eval", "-o", "eval.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "eval.csv").read_bytes() == (test_data / "eval_segments.csv").read_bytes()


def test_skipped_rows_print_file_line_and_exit_1(test_data: Path, tmp_path: Path) -> None:
    lines = (test_data / "eval_segments.csv").read_text().splitlines()[:30]
    lines[9] = "tooshort, 1.000, 2.000, \"/m/09x0r\""
    lines[19] = "--4gqARaEJE, 9.000, 2.000, \"/m/09x0r\""
    src = tmp_path / "eval_segments.csv"
    src.write_text("\n".join(lines) + "\n")
    r = avdata("ingest", "audioset", "eval_segments.csv", "missing.csv", "-o", "c.parquet", cwd=tmp_path)
    assert r.returncode == 1
    err = r.stderr.splitlines()
    assert any(line.startswith("error: eval_segments.csv:10: ") and "not 11 characters" in line for line in err)
    assert any(line.startswith("error: eval_segments.csv:20: ") and "not after start" in line for line in err)
    assert any(line.startswith("error: missing.csv: no such file") for line in err)
    assert read_clips(tmp_path / "c.parquet").num_rows == 25


def test_fatal_error_is_one_line_exit_3(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_text("not parquet")
    r = avdata("info", "bad.parquet", cwd=tmp_path)
    assert r.returncode == 3
    assert len(r.stderr.strip().splitlines()) == 1 and "bad.parquet" in r.stderr


def test_audiocaps_ingest_joins_segments(test_data: Path, tmp_path: Path) -> None:
    seg = tmp_path / "unbalanced_train_segments.csv"
    seg.write_text('# a\n# b\n# c\nvfY_TJq7n_U, 130.000, 140.000, "/m/09ddx"\n')
    r = avdata("ingest", "audiocaps", str(test_data / "val.csv"), "--segments", str(seg), "-o", "c.parquet",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {x["source"]: x for x in read_clips(tmp_path / "c.parquet").to_pylist()}
    assert rows["vfY_TJq7n_U"]["labels"] == ["/m/09ddx"] and len(rows["vfY_TJq7n_U"]["captions"]) == 5


def test_demo_ingests_the_bundled_sample(tmp_path: Path) -> None:
    summary = run_demo(tmp_path / "demo")
    table = read_clips(summary.clips)
    assert summary.rows == table.num_rows == 12 + 6 + 4 + 4
    assert len(set(table.column("clip_id").to_pylist())) == table.num_rows
    assert summary.problems.n_errors == 0
    assert sorted(set(table.column("dataset").to_pylist())) == ["audiocaps", "audioscope_v2", "audioset"]
    assert "Music" in summary.info and "captions: 20" in summary.info
