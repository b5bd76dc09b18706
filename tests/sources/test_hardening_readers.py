"""Issue 8, defects 4-6 and the list parts of 16: every reader reads old-Mac line ends, reports a
non-UTF-8 line or an oversized field with its real line number and reads the rest, and refuses the
small lies (``1_0`` times, unclosed quotes, ``abc`` caption ids, NUL bytes, columns after a quoted
label list) with one error naming the line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, get_reader

SEG = '--PJHxphWEs, 30.000, 40.000, "/m/09x0r"'


def _seg(i: int) -> str:
    return f'--PJHxphWE{"abcdefghij"[i]}, {i}.000, {i + 10}.000, "/m/09x0r,/t/dd00088"'


# Good rows of each format (five each), a name the reader takes the split from, and the key each
# row is known by after reading.
ROWS = {
    "audioset": ("eval_segments.csv", [_seg(i) for i in range(5)], "source"),
    "audiocaps": ("val.csv", [f"{100 + i},--PJHxphWE{'abcde'[i]},{i}.0,a dog barks number {i}" for i in range(5)],
                  "source"),
    "audioscope": ("unfiltered_validate_clips.csv",
                   [f"data/videos/mp4/827/f6b/{i}27f6b53.mp4,{i}.0,{i + 5}.0" for i in range(5)], "source"),
    "mixit": ("train_clips.csv", [f"data/videos/mp4/827/f6b/{i}27f6b53.mp4,{i}.0,{i + 5}.0,0.0" for i in range(5)],
              "source"),
}


def _read(path: Path, fmt: str) -> tuple[list, Problems]:
    problems = Problems()
    table = get_reader(fmt)([str(path)], ReadOptions(threads=1, block_bytes=64), problems)
    return table.column("origin_line").to_pylist(), problems


def _errors(problems: Problems) -> list[tuple[int | None, str]]:
    return [(e.line, e.reason) for e in problems.errors]


@pytest.mark.parametrize("fmt", list(ROWS))
def test_old_mac_line_ends_are_read_by_every_reader(tmp_path: Path, fmt: str) -> None:
    name, rows, _ = ROWS[fmt]
    path = tmp_path / name
    path.write_bytes("\r".join(rows).encode() + b"\r")
    lines, problems = _read(path, fmt)
    assert lines == [1, 2, 3, 4, 5] and problems.n_errors == 0


def test_old_mac_audioset_file_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "eval_segments.csv").write_bytes(
        b"# created\r# num_ytids=5\r# YTID, start_seconds, end_seconds, positive_labels\r"
        + "\r".join(ROWS["audioset"][1]).encode() + b"\r")
    r = subprocess.run([sys.executable, "-m", "avdata", "ingest", "audioset", "eval_segments.csv", "-o", "c.parquet"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "wrote 5 clip(s) to c.parquet"


@pytest.mark.parametrize("fmt", list(ROWS))
def test_a_non_utf8_line_is_reported_with_its_number_and_the_rest_is_read(tmp_path: Path, fmt: str) -> None:
    name, rows, _ = ROWS[fmt]
    data = [r.encode() for r in rows]
    data[2] = data[2].replace(b"0", b"\xff", 1)
    path = tmp_path / name
    path.write_bytes(b"\n".join(data) + b"\n")
    lines, problems = _read(path, fmt)
    assert lines == [1, 2, 4, 5]
    [(line, reason)] = _errors(problems)
    assert line == 3 and reason.startswith("line is not valid UTF-8")


@pytest.mark.parametrize("fmt", ["audiocaps", "audioscope", "mixit"])
def test_a_field_over_the_csv_limit_is_reported_and_the_rest_is_read(tmp_path: Path, fmt: str) -> None:
    name, rows, _ = ROWS[fmt]
    rows = list(rows)
    rows[1] = rows[1] + "x" * 140_000
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    lines, problems = _read(path, fmt)
    assert lines == [1, 3, 4, 5]
    [(line, reason)] = _errors(problems)
    assert line == 2 and "field larger than field limit" in reason


@pytest.mark.parametrize("fmt", list(ROWS))
def test_an_unclosed_quote_at_the_end_of_the_file_is_an_error(tmp_path: Path, fmt: str) -> None:
    name, rows, _ = ROWS[fmt]
    last = rows[4]
    cut = last.rindex(",") + 1
    bad = last[:-1] if fmt == "audioset" else last[:cut] + '"' + last[cut:]    # the closing quote lost
    rows = [*rows[:4], bad]
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    lines, problems = _read(path, fmt)
    assert lines == [1, 2, 3, 4]
    [(line, reason)] = _errors(problems)
    assert line == 5 and "not closed" in reason


def test_audioset_time_with_digit_grouping_is_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "eval_segments.csv"
    path.write_text(f'{SEG}\n--PJHxphWEa, 1_0, 40.000, "/m/09x0r"\n--PJHxphWEb, 1.000, 4_0, "/m/09x0r"\n')
    lines, problems = _read(path, "audioset")
    assert lines == [1]
    assert _errors(problems) == [(2, "start time '1_0' is not a number"), (3, "end time '4_0' is not a number")]


def test_audioset_quoted_labels_followed_by_more_columns_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "eval_segments.csv"
    path.write_text(f'{SEG}\n--PJHxphWEa, 1.000, 4.000, "/m/09x0r", 7, 8\n'
                    f'--PJHxphWEb, 1.000, 4.000, /m/09x0r, /t/dd00088\n')    # unquoted spread: read
    problems = Problems()
    table = get_reader("audioset")([str(path)], ReadOptions(threads=1), problems)
    assert table.column("labels").to_pylist() == [["/m/09x0r"], ["/m/09x0r", "/t/dd00088"]]
    assert _errors(problems) == [(2, "2 more field(s) after the quoted label list")]


def test_audioset_text_after_the_closing_quote_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "eval_segments.csv"
    path.write_text(f'{SEG}\n--PJHxphWEa, 1.000, 4.000, "/m/09x0r,"/t/dd00088\n{SEG}\n')
    lines, problems = _read(path, "audioset")
    assert lines == [1, 3]
    assert [e.line for e in problems.errors] == [2] and "expected after" in problems.errors[0].reason


def test_audiocaps_caption_id_and_nul_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "val.csv"
    path.write_text("audiocap_id,youtube_id,start_time,caption\n"
                    "1,--PJHxphWEs,0.0,a dog\n"
                    "abc,--PJHxphWEa,0.0,a cat\n"
                    "3,--PJHxphWEb,0.0,a c\x00ow\n"
                    "4,--PJHxphWEc,1_0,a bird\n"
                    "5,--PJHxphWEd,2.0,rain\n")
    lines, problems = _read(path, "audiocaps")
    assert lines == [2, 6]
    assert _errors(problems) == [(3, "audiocap_id 'abc' is not a whole number"), (4, "a NUL character in the row"),
                                 (5, "start_time '1_0' is not a number")]


def test_line_numbers_stay_physical_across_bad_lines_and_crlf(tmp_path: Path) -> None:
    rows = [r.encode() for r in ROWS["audioscope"][1]]
    path = tmp_path / "unfiltered_test_clips.csv"
    path.write_bytes(b"\r\n".join([rows[0], b"\xfe\xfe", rows[1], b"x" * 200_000, rows[2], b"\xc3", rows[3]])
                     + b"\r\n")
    lines, problems = _read(path, "audioscope")
    assert lines == [1, 3, 5, 7]
    assert sorted(e.line for e in problems.errors) == [2, 4, 6]     # UTF-8 errors come as a block is read
