"""issue 28: VIP-ANT's published index files read into the clip table and written back byte for byte;
bad lines cost one line each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from avdata.ingest import IngestOptions, ingest
from avdata.sources.problems import Problems
from avdata.sources.vipant import split_of
from avdata.table import read_clips


def line(i: str, *, dir: str = "all_0_35000", negatives: int = 0, captions: list[str] | None = None,
         features: bool = True, bos: float = 30.0) -> str:
    clips = ["p0"] + [f"n{k}" for k in range(negatives)]
    d = {"dir": dir, "aclip": [f"{c}.mp3" for c in clips],
         "frame": [f"{c}.4_{k:02d}.jpg" for c in clips for k in range(1, 5)]}
    if features:
        d.update(aclip_128="p0.npz", frame_224="p0.npz")
    d.update(id=i, bos=f"{bos:.3f}", eos=f"{bos + 10:.3f}", labels=["/m/09x0r", "/m/04rlf"])
    if captions is not None:
        d["captions"] = captions
    return json.dumps(d)


def published_files(root: Path) -> dict[str, bytes]:
    """Files in the published layout, some of the awkward kinds."""
    files = {
        "src_full_balanced_train_segments.csv":
            "\n".join([line("--PJHxphWEs"), line("-0DLPzsiXXE", negatives=2), line("_abc-DEF_12", negatives=1),
                       line("AbCdEfGhIjK", dir="unbalanced_1715367_1750367")]).encode() + b"\n",
        "src_audiocaps_val.csv":
            "\n".join([line("--aE2O5G5WE", captions=["A man speaks, then a dog barks", "caf\u00e9 \u00fcber \u2014"]),
                       line("--aO5cdqSAg", captions=[], features=False)]).encode() + b"\n",
        # CRLF line ends, a BOM, no newline after the last line
        "src_full_eval_segments.csv":
            b"\xef\xbb\xbf" + "\r\n".join([line("--ekDLDTUXA"), line("-0FHUc78Gqo", dir="a.b_c-0")]).encode(),
        # json.dumps(ensure_ascii=False): raw UTF-8 in the line
        "src_train_segments.csv":
            (json.dumps({**json.loads(line("-0O3e95y4gE")), "labels": ["/m/09x0r"]}, ensure_ascii=False)
             + "\n" + line("-0SdAVK79lg", captions=["\u00e9t\u00e9"]).replace("\\u00e9", "\u00e9") + "\n").encode(),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    files = published_files(tmp_path)
    for name, data in files.items():
        table = tmp_path / f"{name}.parquet"
        r = subprocess.run([sys.executable, "-m", "avdata", "ingest", "vipant", str(tmp_path / name), "-o", str(table)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        back = tmp_path / f"back_{name}"
        r = subprocess.run([sys.executable, "-m", "avdata", "export", "vipant", str(table), "-o", str(back)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert back.read_bytes() == data, name


def test_rows_keep_what_the_media_and_the_line_need(tmp_path: Path) -> None:
    published_files(tmp_path)
    out = tmp_path / "clips.parquet"
    res = ingest(IngestOptions(format="vipant", files=(str(tmp_path / "src_full_balanced_train_segments.csv"),
                                                       str(tmp_path / "src_audiocaps_val.csv")), output=str(out)))
    assert res.rows == 6 and not res.problems.n_errors
    rows = read_clips(out).to_pylist()
    first, neg2, caps = rows[0], rows[1], rows[4]
    assert (first["dataset"], first["split"]) == ("audioset", "balanced_train")
    assert (first["start"], first["end"]) == (30.0, 40.0)
    assert first["origin_line"] == 1 and first["index_dir"] == "all_0_35000" and first["index_name"] == "--PJHxphWEs"
    assert neg2["index_aclip"] == ["p0.mp3", "n0.mp3", "n1.mp3"] and len(neg2["index_frame"]) == 12
    assert rows[3]["index_dir"] == "unbalanced_1715367_1750367"
    assert (caps["dataset"], caps["split"]) == ("audiocaps", "val")
    assert caps["captions"] == ["A man speaks, then a dog barks", "caf\u00e9 \u00fcber \u2014"]
    assert caps["index_aclip_128"] == "p0.npz" and rows[5]["index_aclip_128"] is None
    assert first["index_line"] == (tmp_path / "src_full_balanced_train_segments.csv").read_bytes().splitlines(
        keepends=True)[0]


@pytest.mark.parametrize("name,expected", [
    ("src_full_eval_segments.csv", ("audioset", "eval")),
    ("src_full_balanced_train_segments.csv", ("audioset", "balanced_train")),
    ("src_full_unbalanced_train_segments.csv", ("audioset", "unbalanced_train")),
    ("src_train_segments.csv", ("audioset", "train")),
    ("src_audiocaps_train.csv", ("audiocaps", "train")),
    ("src_audiocaps_test.csv", ("audiocaps", "test")),
])
def test_splits_come_from_the_published_names(name: str, expected: tuple[str, str]) -> None:
    assert split_of(f"/data/{name}") == expected


def test_bad_lines_cost_one_line_each_and_nothing_leaves_the_root(tmp_path: Path) -> None:
    good = line("--PJHxphWEs")
    bad = {
        2: "not json at all",
        3: json.dumps(["a", "list"]),
        4: json.dumps({"dir": "all_0_35000", "id": "x"}),                      # no bos / eos
        5: line("--ZhevVpy1s", dir="../outside"),
        6: line("--ZhevVpy1s", dir="/abs/olute"),
        7: line("--ZhevVpy1s").replace('"p0.mp3"', '"../../p0.mp3"'),
        8: line("../../etc/pw"),
        9: line("--ZhevVpy1s").replace('"eos": "40.000"', '"eos": "20.000"'),
    }
    lines = [good] + [bad[k] for k in sorted(bad)] + [line("-0DLPzsiXXE")]
    index = tmp_path / "src_full_eval_segments.csv"
    index.write_text("\n".join(lines) + "\n")
    problems = Problems()
    res = ingest(IngestOptions(format="vipant", files=(str(index),), output=str(tmp_path / "c.parquet")), problems)
    assert res.rows == 2
    assert sorted(e.line for e in problems.errors) == sorted(bad)
    assert all(str(e).startswith(f"{index}:{e.line}: ") for e in problems.errors)
    by_line = {e.line: str(e) for e in problems.errors}
    assert "'..' not allowed" in by_line[5] and "absolute path" in by_line[6]
    assert "not a plain file name" in by_line[7] and "not a plain file name" in by_line[8]
    assert "no 'bos', 'eos'" in by_line[4] and "not after" in by_line[9]


def test_weights_are_kept_per_line_and_a_misaligned_file_is_one_line(tmp_path: Path) -> None:
    index = tmp_path / "src_full_unbalanced_train_segments.csv"
    index.write_text("\n".join(line(f"-0DLPzsiX{k:02d}") for k in range(3)) + "\n")
    weights = tmp_path / "src_unbalanced_train_segments_weight.csv"
    weights.write_text("1.5\n2.25\n3.0\n")
    out = tmp_path / "c.parquet"
    ingest(IngestOptions(format="vipant", files=(str(index),), output=str(out), weights=(str(weights),)))
    assert [r["index_weight"] for r in read_clips(out).to_pylist()] == [b"1.5\n", b"2.25\n", b"3.0\n"]
    weights.write_text("1.5\n2.25\n")
    r = subprocess.run([sys.executable, "-m", "avdata", "ingest", "vipant", str(index), "--weights", str(weights),
                        "-o", str(tmp_path / "d.parquet")], capture_output=True, text=True)
    assert r.returncode == 1
    err = [x for x in r.stderr.splitlines() if str(weights) in x]
    assert len(err) == 1 and "2 lines, but its index" in err[0] and "has 3" in err[0]
    assert [r["index_weight"] for r in read_clips(tmp_path / "d.parquet").to_pylist()] == [None] * 3


def test_a_csv_list_is_not_taken_for_an_index_file(tmp_path: Path, test_data: Path) -> None:
    seg = tmp_path / "eval_segments.csv"
    seg.write_text('# YTID, start_seconds, end_seconds, positive_labels\n--4gqARaEJE, 0.000, 10.000, "/m/068hy"\n')
    r = subprocess.run([sys.executable, "-m", "avdata", "ingest", "vipant", str(seg), "-o",
                        str(tmp_path / "x.parquet")], capture_output=True, text=True)
    assert r.returncode == 3 and "not a VIP-ANT index file" in r.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_the_column_wise_reader_gives_the_line_by_line_table(tmp_path: Path) -> None:
    """A clean block is parsed column-wise (Arrow's JSON reader); a block with anything odd goes line
    by line; both give the same rows for the same clean lines."""
    from avdata.sources.vipant import _fast_block, _slow_block

    files = published_files(tmp_path)
    for name, data in files.items():
        lines = data.splitlines(keepends=True) if b"\r" not in data else data.split(b"\n")
        if b"\r" in data:
            lines = [x + b"\n" for x in lines[:-1]] + [lines[-1]]
        weights = [f"{k}.5\n".encode() for k in range(len(lines))]
        fast = _fast_block(lines, 1, weights, name, "audioset", "x")
        slow = _slow_block(lines, 1, weights, name, "audioset", "x", Problems())
        assert fast is not None, name
        assert fast.to_pylist() == slow.to_pylist(), name
    odd = [line("--PJHxphWEs").encode() + b"\n", b"\n", line("-0DLPzsiXXE").encode() + b"\n"]
    assert _fast_block(odd, 1, None, "f", "audioset", "x") is None          # a blank line: per line
    problems = Problems()
    assert _slow_block(odd, 1, None, "f", "audioset", "x", problems).num_rows == 2 and problems.n_errors == 1
