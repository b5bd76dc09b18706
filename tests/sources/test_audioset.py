"""AudioSet segment CSVs: real files, round trips, messy variants, malformed rows."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from avdata.sources.audioset import SegmentsReadOptions, read_segments, segment_counts, write_segments
from avdata.sources.ontology import Ontology
from avdata.sources.problems import Problems

CONTENT = ["clip_id", "source", "source_kind", "start", "end", "labels", "captions", "dataset", "split"]


def _content(table: pa.Table) -> list[dict]:
    return table.select(CONTENT).to_pylist()


@pytest.mark.parametrize("name, counts", [
    ("balanced_train_segments.csv", dict(num_ytids=22160, num_segs=22160, num_unique_labels=527,
                                         num_positive_labels=52882)),
    ("eval_segments.csv", dict(num_ytids=20371, num_segs=20371, num_unique_labels=527,
                               num_positive_labels=51804)),
])
def test_real_files_reproduce_header_counts_and_round_trip(test_data: Path, tmp_path: Path, name: str,
                                                           counts: dict) -> None:
    problems = Problems()
    table = read_segments(test_data / name, problems=problems, ontology=Ontology.load())
    assert segment_counts(table) == counts
    assert problems.n_errors == 0 and problems.n_warnings == 0
    assert table.column("split")[0].as_py() == name.removesuffix("_segments.csv")
    assert table.column("origin_line")[0].as_py() == 4
    out = tmp_path / name
    write_segments(table, out)
    assert out.read_bytes() == (test_data / name).read_bytes()


def test_small_blocks_and_one_thread_give_the_same_table(test_data: Path) -> None:
    path = test_data / "eval_segments.csv"
    a = read_segments(path)
    b = read_segments(path, SegmentsReadOptions(block_bytes=4096, threads=1))
    assert a.equals(b)


def _clean_lines(test_data: Path, n: int = 40) -> list[str]:
    text = (test_data / "balanced_train_segments.csv").read_text("utf-8")
    return text.splitlines()[: 3 + n]


def _messy(lines: list[str], kind: str) -> bytes:
    head, rows = lines[:3], lines[3:]
    if kind == "crlf":
        return ("\r\n".join(lines) + "\r\n").encode()
    if kind == "bom":
        return b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode()
    if kind == "blank":
        out = head + [r for row in rows for r in (row, "", "   ")]
        return ("\n".join(out)).encode()  # and no final newline
    if kind == "integer_times":
        return ("\n".join(head + [r.replace(".000,", ",") for r in rows]) + "\n").encode()
    if kind == "spreadsheet":
        out = []
        for r in rows:
            ytid, start, end, labels = r.split(", ", 3)
            labs = labels.strip('"').split(",")
            out.append(",".join([ytid, start, end] + [f" {lab} " for lab in labs]) + ",,,,")
        return ("\r\n".join([h + ",,,," for h in head] + out) + "\r\n").encode()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["crlf", "bom", "blank", "integer_times", "spreadsheet"])
def test_messy_variants_read_like_their_clean_twin(test_data: Path, tmp_path: Path, kind: str) -> None:
    lines = _clean_lines(test_data)
    assert any(r.startswith("-") for r in lines[3:])  # ids starting with '-' are in the sample
    clean = tmp_path / "balanced_train_segments.csv"
    clean.write_text("\n".join(lines) + "\n")
    messy = tmp_path / "messy" / "balanced_train_segments.csv"
    messy.parent.mkdir()
    messy.write_bytes(_messy(lines, kind))
    p_clean, p_messy = Problems(), Problems()
    a = read_segments(clean, problems=p_clean)
    b = read_segments(messy, problems=p_messy)
    assert a.num_rows == 40
    assert _content(a) == _content(b)
    assert p_messy.n_errors == 0
    # the clean twin (40 of 22160 rows) disagrees with its header counts: a warning, not an error
    assert p_clean.n_warnings == 1 and "num_segs=22160 stated, 40 read" in str(p_clean.warnings[0])


@pytest.mark.parametrize("bad, reason", [
    ("--PJHxphWEs, 30.000", "found 2 field(s)"),
    ("--PJHxphWEs, 30.000, 40.000", "found 3 field(s)"),
    ("--PJHxphWEs, thirty, 40.000, \"/m/09x0r\"", "not a number"),
    ("--PJHxphWEs, -5.000, 40.000, \"/m/09x0r\"", ">= 0"),
    ("--PJHxphWEs, 40.000, 30.000, \"/m/09x0r\"", "not after start"),
    ("--PJHxphWEs, 30.000, 30.000, \"/m/09x0r\"", "not after start"),
    ("PJHxphWEs, 30.000, 40.000, \"/m/09x0r\"", "not 11 characters"),
    ("--PJHxph.Es, 30.000, 40.000, \"/m/09x0r\"", "not 11 characters"),
    ("--PJHxphWEs, 30.000, 40.000, \"/m/09x0r,,/m/04rlf\"", "empty label"),
])
def test_each_malformed_row_is_one_error_with_file_and_line(test_data: Path, tmp_path: Path, bad: str,
                                                            reason: str) -> None:
    lines = _clean_lines(test_data, 10)
    lines.insert(8, bad)  # physical line 9
    path = tmp_path / "eval_segments.csv"
    path.write_text("\n".join(lines) + "\n")
    problems = Problems()
    table = read_segments(path, problems=problems)
    assert problems.n_errors == 1
    err = problems.errors[0]
    assert (err.file, err.line) == (str(path), 9) and reason in err.reason
    assert str(err).startswith(f"{path}:9: ")
    assert table.num_rows == 10
    assert 9 not in table.column("origin_line").to_pylist()
    assert table.column("origin_line").to_pylist()[-1] == 14


def test_unknown_label_ids_are_one_warning_naming_lines(test_data: Path, tmp_path: Path) -> None:
    lines = _clean_lines(test_data, 6)
    lines[5] = lines[5][:-1] + ',/x/not_a_class"'
    path = tmp_path / "eval_segments.csv"
    path.write_text("\n".join(lines) + "\n")
    problems = Problems()
    table = read_segments(path, problems=problems, ontology=Ontology.load())
    assert table.num_rows == 6 and problems.n_errors == 0
    unknown = [w for w in problems.warnings if "not in the ontology" in w.reason]
    assert len(unknown) == 1 and "/x/not_a_class" in unknown[0].reason and unknown[0].line == 6


def test_arrow_and_numpy_fast_paths_agree_on_real_rows(test_data: Path) -> None:
    from avdata.sources.segments_fast import parse_block, parse_block_csv

    data = (test_data / "eval_segments.csv").read_bytes()
    assert parse_block_csv(data) is None  # header lines are not rows: the caller cuts them off
    body = data.split(b"\n", 3)[3]
    a, b = parse_block_csv(body), parse_block(body)
    assert a is not None
    assert len(a.other_lines) == len(b.other_lines) == 0
    assert a.ytid.equals(b.ytid) and a.labels.equals(b.labels)
    assert (a.start_ms == b.start_ms).all() and (a.end_ms == b.end_ms).all()
    assert len(a.line_index) == 20371
    from avdata.sources.ids import youtube_keys

    for got, want in zip(a.keys, youtube_keys(a.ytid)):   # the id-set keys worked out while parsing
        assert got.tolist() == want.tolist()


@pytest.mark.parametrize("time", ["1.2.000", "30.000.", "3.0000", "030.000", "30,000", "1234567.000", "30.00",
                                  ".000", "30.", "5e1.000", "+30.000", "3.0.00", "0.000", "123456.789", "9.999"])
def test_fast_paths_take_only_canonical_times(time: str) -> None:
    from avdata.sources.audioset import parse_segment_line
    from avdata.sources.segments_fast import parse_block, parse_block_csv

    ok = "--PJHxphWEs, 1.000, 2.000, \"/m/09x0r\""
    lines = [ok, f"--PJHxphWEs, {time}, 999999.000, \"/m/09x0r\"", ok,
             f"--PJHxphWEs, 0.000, {time}, \"/m/09x0r,/t/dd00088\"", ok]
    data = ("\n".join(lines) + "\n").encode()
    canonical = re.fullmatch(r"(0|[1-9]\d{0,5})\.\d{3}", time) is not None
    for fast in (parse_block_csv(data), parse_block(data)):
        assert fast is not None
        slow = [i for i, fits in ((1, canonical), (3, canonical and float(time) > 0)) if not fits]
        assert fast.other_lines.tolist() == slow
        for k, i in enumerate(fast.line_index.tolist()):
            seg = parse_segment_line(lines[i])
            assert fast.ytid[k].as_py() == seg.ytid and tuple(fast.labels[k].as_py()) == seg.labels
            assert (fast.start_ms[k] / 1000, fast.end_ms[k] / 1000) == (seg.start, seg.end)
