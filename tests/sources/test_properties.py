"""Property-based tests: random valid tables survive write-then-read; garbage never crashes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avdata.sources.audiocaps import read_captions, write_audiocaps
from avdata.sources.audioset import SegmentsReadOptions, read_segments, write_segments
from avdata.sources.build import build_clips
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, get_reader, get_writer

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ytids = st.text(ID_CHARS, min_size=11, max_size=11)
labels = st.lists(st.from_regex(r"/[mgt]/[0-9a-z_]{2,8}", fullmatch=True), min_size=1, max_size=5)
millis = st.integers(0, 50_000_000)


@st.composite
def segment_rows(draw):
    n = draw(st.integers(0, 30))
    rows = []
    for _ in range(n):
        s = draw(millis)
        e = s + draw(st.integers(1, 20_000_000))
        rows.append((draw(ytids), s / 1000, e / 1000, draw(labels)))
    return rows


def _segments_table(rows):
    return build_clips(len(rows), {
        "clip_id": [r[0] for r in rows], "source": [r[0] for r in rows], "source_kind": "youtube",
        "start": [r[1] for r in rows], "end": [r[2] for r in rows], "labels": [r[3] for r in rows],
        "dataset": "audioset", "split": "eval", "origin_file": "x", "origin_line": list(range(4, 4 + len(rows))),
    })


@SETTINGS
@given(rows=segment_rows(), block=st.sampled_from([64, 4096, 1 << 20]))
def test_segments_write_then_read_is_unchanged(rows, block) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "eval_segments.csv"
        write_segments(_segments_table(rows), path)
        problems = Problems()
        back = read_segments(path, SegmentsReadOptions(block_bytes=block), problems)
        assert problems.n_errors == 0 and problems.n_warnings == 0
        got = list(zip(*(back.column(c).to_pylist() for c in ("source", "start", "end", "labels"))))
        assert got == [(y, s, e, lab) for y, s, e, lab in rows]
        assert back.column("origin_line").to_pylist() == list(range(4, 4 + len(rows)))
        again = Path(d) / "again.csv"
        write_segments(back, again)
        assert again.read_bytes() == path.read_bytes()


captions = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                   max_size=40).filter(lambda c: c.strip())


@SETTINGS
@given(clips=st.lists(st.tuples(ytids, st.integers(0, 5000), st.lists(captions, min_size=1, max_size=4)),
                      max_size=12, unique_by=lambda c: (c[0], c[1])))
def test_captions_write_then_read_is_unchanged(clips) -> None:
    n = len(clips)
    table = build_clips(n, {
        "clip_id": [c[0] for c in clips], "source": [c[0] for c in clips], "source_kind": "youtube",
        "start": [float(c[1]) for c in clips], "end": [c[1] + 10.0 for c in clips],
        "captions": [c[2] for c in clips], "dataset": "audiocaps", "split": "val", "origin_file": "x",
        "origin_line": list(range(n)),
    })
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "val.csv"
        write_audiocaps(table, path)
        problems = Problems()
        back = read_captions(path, problems)
        assert problems.n_errors == 0
        got = list(zip(*(back.column(c).to_pylist() for c in ("source", "start", "captions"))))
        assert got == [(c[0], float(c[1]), c[2]) for c in clips]
        again = Path(d) / "again.csv"
        write_audiocaps(back, again)
        assert again.read_bytes() == path.read_bytes()


paths = st.from_regex(r"data/videos/mp4/[0-9a-f]{3}/[0-9a-f]{3}/[0-9a-f]{6,32}\.mp4", fullmatch=True)
times = st.integers(0, 10_000_000).map(lambda m: m / 1000)


@SETTINGS
@given(rows=st.lists(st.tuples(paths, times, st.integers(1, 600_000), paths, times, st.integers(1, 600_000),
                               st.integers(0, 9_000), st.integers(0, 9_000)), max_size=15),
       fmt=st.sampled_from(["audioscope", "mixit"]), pair=st.booleans())
def test_clip_lists_write_then_read_is_unchanged(rows, fmt, pair) -> None:
    n = len(rows)
    offset = fmt == "mixit"
    cols = {"clip_id": [f"c{i}" for i in range(n)], "source": [r[0] for r in rows], "source_kind": "path",
            "start": [r[1] for r in rows], "end": [r[1] + r[2] / 1000 for r in rows], "dataset": fmt,
            "split": "test", "origin_file": "x", "origin_line": list(range(n))}
    if pair:
        cols.update(pair_source=[r[3] for r in rows], pair_start=[r[4] for r in rows],
                    pair_end=[r[4] + r[5] / 1000 for r in rows])
    if offset:
        cols["offset"] = [r[6] / 1000 for r in rows]
        if pair:
            cols["pair_offset"] = [r[7] / 1000 for r in rows]
    table = build_clips(n, cols)
    names = ["source", "start", "end", "offset", "pair_source", "pair_start", "pair_end", "pair_offset"]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("test_mom_clips.csv" if pair else "test_clips.csv")
        get_writer(fmt)(table, path)
        problems = Problems()
        back = get_reader(fmt)([str(path)], ReadOptions(), problems)
        assert problems.n_errors == 0
        for c in names:
            assert back.column(c).to_pylist() == table.column(c).to_pylist(), c
        again = Path(d) / "again.csv"
        get_writer(fmt)(back, again)
        assert again.read_bytes() == path.read_bytes()


garbage = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"--PJHxphWEs", b", ", b",", b"30.000", b"40", b'"', b"/m/09x0r", b"\n", b"\r\n",
                              b"#", b" ", b"\xef\xbb\xbf", b"-1", b"nan", b"data/x.mp4", b"..", b"\xff", b"1e999"]),
             max_size=60).map(b"".join),
)


@SETTINGS
@given(data=garbage, fmt=st.sampled_from(["audioset", "audiocaps", "audioscope", "mixit"]))
def test_garbage_never_crashes_a_reader(data, fmt) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "eval_segments.csv"
        path.write_bytes(data)
        problems = Problems()
        table = get_reader(fmt)([str(path)], ReadOptions(threads=1), problems)
        assert table.num_rows + problems.n_errors <= data.count(b"\n") + data.count(b"\r") + 1
        for e in problems.errors:
            assert e.file == str(path) and (e.line is None or e.line >= 1)
