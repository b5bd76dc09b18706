"""The streaming ingest path (block by block, one Parquet row group per block) gives the same clip
table as reading everything, ``make_unique`` and ``write_clips``: real files, repeats within a
block, across blocks and across files, messy and malformed lines, unknown labels, empty files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from avdata.errors import InputError
from avdata.ingest import IngestOptions, ingest, read_lists
from avdata.sources.audioset import read_audioset, stream_audioset
from avdata.sources.ids import SortedRuns, YoutubeIdSet, make_unique
from avdata.sources.ontology import Ontology
from avdata.sources.origins import concat_with_origins, get_origins
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions
from avdata.table import ClipTableWriter, read_clips, write_clips


def _problem_lines(p: Problems) -> list[str]:
    return [str(e) for e in p.errors] + ["W " + str(w) for w in p.warnings]


def _both_ways(files: list[str], tmp_path: Path) -> tuple[pa.Table, pa.Table, Problems, Problems]:
    """(whole-table path, streaming path) as written by ``ingest``-like code, read back."""
    old_p, new_p = Problems(), Problems()
    opts = IngestOptions(format="audioset", files=tuple(files), output=str(tmp_path / "new.parquet"))
    write_clips(read_lists(opts, old_p), tmp_path / "old.parquet")
    result = ingest(opts, new_p)
    old, new = read_clips(tmp_path / "old.parquet"), read_clips(tmp_path / "new.parquet")
    assert result.rows == new.num_rows
    return old, new, old_p, new_p


def test_stream_ingest_equals_whole_table_on_real_files(test_data: Path, tmp_path: Path) -> None:
    files = [str(test_data / "balanced_train_segments.csv"), str(test_data / "eval_segments.csv"),
             str(test_data / "eval_segments.csv")]     # the same file twice: every id repeats
    old, new, old_p, new_p = _both_ways(files, tmp_path)
    assert new.num_rows == 22160 + 2 * 20371
    assert new.equals(old, check_metadata=True)
    assert new.column("clip_id").to_pylist() == old.column("clip_id").to_pylist()
    assert len(set(new.column("clip_id").to_pylist())) == new.num_rows
    again = new.slice(22160 + 20371, 1).to_pylist()[0]   # first row of the second copy
    assert again["clip_id"] == f"{again['source']}_{round(again['start'] * 1000)}"
    assert set(get_origins(new)) == {files[0], files[1]}
    assert _problem_lines(old_p) == _problem_lines(new_p)
    # written a few blocks at a time, never the table whole
    small = tmp_path / "small.parquet"
    with ClipTableWriter(small, row_group_rows=10_000) as out:
        for block in (new.slice(0, 15_000), new.slice(15_000, 30_000), new.slice(45_000)):
            out.write(block)
        out.update_metadata(new.schema.metadata)
    assert pq.ParquetFile(small).metadata.num_row_groups == 3
    assert read_clips(small).equals(new, check_metadata=True)


def _messy_file(test_data: Path, path: Path) -> None:
    lines = (test_data / "eval_segments.csv").read_text("utf-8").splitlines()
    head, rows = lines[:3], lines[3:400]
    out = ["\ufeff" + head[0]] + head[1:]
    for i, r in enumerate(rows):
        if i % 7 == 0:
            out.append(r.replace(".000,", ","))                       # integer times (slow path)
        elif i % 11 == 0:
            out.append("")                                            # blank line
        elif i % 13 == 0:
            out.append(r[:-1] + ',/x/not_a_class"')                   # unknown label id
        elif i % 17 == 0:
            out.append("tooshort, 1.000, 2.000, \"/m/09x0r\"")         # malformed
        else:
            out.append(r)
    out += rows[:60]                                                  # repeats of earlier ids (other blocks)
    out += [rows[5], rows[5], rows[5].replace("30.000", "31.000")]    # same id and start: _k suffixes
    path.write_bytes(("\r\n".join(out) + "\r\n").encode())


@pytest.mark.parametrize("block_bytes", [300, 4096, None])
def test_stream_blocks_equal_whole_table_on_a_messy_file(test_data: Path, tmp_path: Path,
                                                         block_bytes: int | None) -> None:
    messy = tmp_path / "eval_segments.csv"
    _messy_file(test_data, messy)
    empty = tmp_path / "empty_segments.csv"
    empty.write_bytes(b"")
    other = tmp_path / "other" / "eval_segments.csv"   # shares ids with the messy file
    other.parent.mkdir()
    other.write_text("\n".join((test_data / "eval_segments.csv").read_text().splitlines()[:1500]) + "\n")
    files = [str(messy), str(empty), str(other)]
    opts = ReadOptions(ontology=Ontology.load(), block_bytes=block_bytes)
    old_p, new_p = Problems(), Problems()
    old = make_unique(read_audioset(files, opts, old_p))
    blocks = list(stream_audioset(files, opts, new_p))
    new = concat_with_origins(blocks)
    assert new.num_rows == old.num_rows > 1497 + 300
    assert new.equals(old, check_metadata=True)
    assert _problem_lines(old_p) == _problem_lines(new_p)
    assert new_p.n_errors > 10 and any("not in the ontology" in w.reason for w in new_p.warnings)
    ids = new.column("clip_id").to_pylist()
    assert len(set(ids)) == len(ids) and any(i.endswith("_2") for i in ids)
    if block_bytes == 300:
        assert len(blocks) > 50
    # the whole CLI-facing path as well
    old_f, new_f = tmp_path / "old.parquet", tmp_path / "new.parquet"
    write_clips(old, old_f)
    with ClipTableWriter(new_f) as out:
        for b in blocks:
            out.write(b)
        out.update_metadata({k: v for k, v in new.schema.metadata.items()})
    assert read_clips(new_f).equals(read_clips(old_f), check_metadata=True)


def test_ingest_of_nothing_readable_writes_nothing(tmp_path: Path) -> None:
    problems = Problems()
    with pytest.raises(InputError, match="nothing written"):
        ingest(IngestOptions(format="audioset", files=(str(tmp_path / "missing.csv"),),
                             output=str(tmp_path / "c.parquet")), problems)
    assert problems.n_errors == 1 and not (tmp_path / "c.parquet").exists()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = ingest(IngestOptions(format="audioset", files=(str(empty),), output=str(tmp_path / "c.parquet")))
    assert result.rows == 0 and read_clips(tmp_path / "c.parquet").num_rows == 0


def test_youtube_id_set_is_exact() -> None:
    rng = np.random.default_rng(0)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))
    ids = ["".join(rng.choice(alphabet, 11)) for _ in range(3000)]
    # ids that differ only in the last character (the bits outside the 64-bit key) or the first
    ids += [ids[0][:10] + c for c in "AEIMQUYcgkosw048BCD"] + [c + ids[1][1:] for c in "-_09az"]
    seen_py: set[str] = set()
    s = YoutubeIdSet()
    for lo in range(0, len(ids) + 600, 600):
        part = ids[lo: lo + 600] + ids[lo: lo + 50]
        got = s.add(pa.array(part, pa.string()))
        want = []
        for i in part:
            want.append(i in seen_py)
            seen_py.add(i)
        assert got.tolist() == want
    assert len(s) == len(seen_py)
    assert s.contains(pa.array(ids[:10] + ["zzzzzzzzzzz"])).tolist() == [True] * 10 + [False]
    with pytest.raises(ValueError, match="YouTube"):
        s.add(pa.array(["short"]))


def test_sorted_runs_stay_few_and_exact() -> None:
    rng = np.random.default_rng(1)
    held: set[int] = set()
    runs = SortedRuns()
    for size in [1, 5, 3, 200, 7, 7, 7, 1000, 2, 64, 64, 64, 64, 500]:
        keys = np.unique(rng.integers(0, 2**64 - 1, size, dtype=np.uint64, endpoint=True))
        fresh = keys[~runs.find(keys)]
        assert set(fresh.tolist()) == set(keys.tolist()) - held
        runs.add_new(fresh)
        held.update(keys.tolist())
        assert len(runs) == len(held)
        assert all(len(a) > 2 * len(b) for a, b in zip(runs.runs, runs.runs[1:]))  # log-structured
        assert all(bool((np.diff(r) > 0).all()) for r in runs.runs)
    probe = np.array(sorted(held)[::7] + [0, 2**64 - 1], dtype=np.uint64)
    assert runs.find(probe).tolist() == [int(k) in held for k in probe.tolist()]
    a, b = YoutubeIdSet(), YoutubeIdSet()
    a.add(pa.array(["aaaaaaaaaaa", "bbbbbbbbbbb"]))
    b.add(pa.array(["bbbbbbbbbbb", "ccccccccccc"]))
    b.add(pa.array(["ddddddddddd"]))
    a.update(b)
    assert len(a) == 4
    assert a.contains(pa.array(["ccccccccccc", "ddddddddddd", "eeeeeeeeeee"])).tolist() == [True, True, False]
