"""Index files read column-wise (``avdata.index.blocks``) give what a line-by-line read gives, bad lines included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avdata.balance.embeddings import read_index_ids
from avdata.index import blocks, scan
from avdata.index import lines as index_lines
from avdata.index.scan import scan_index


def _line(i: int, labels: list[str], **extra: object) -> bytes:
    rec = {"dir": "all_0_35000", "aclip": ["p0.mp3"], "frame": ["p0.4_01.jpg", "p0.4_02.jpg"], "id": f"v{i:010d}",
           "bos": f"{i}.000", "eos": f"{i + 10}.000", "labels": labels, **extra}
    return json.dumps(rec).encode()


def _file(tmp_path: Path) -> Path:
    """Plain lines around every kind of line the column-wise path must hand back to the per-line one."""
    lines = [_line(i, [f"/m/0{i % 7}", f"/m/1{i % 3}"]) for i in range(40)]
    lines[3] = b"\xef\xbb\xbf" + lines[3]                            # a BOM: the line still counts
    lines[7] = b"not json"
    lines[11] = b""                                                   # a blank line
    lines[13] = _line(13, ["/m/01"], bos=5)                           # a number where VIP-ANT writes a string
    lines[17] = _line(17, "not a list")                               # type: ignore[arg-type]
    lines[19] = json.dumps({"id": "v0000000019", "labels": ["/m/02"], "bos": "1", "eos": "11"}).encode()
    lines[23] = _line(23, ["/m/03"], frame=None)                      # null where a list is wanted
    lines[29] = _line(29, ["é", "/m/\u00e9x"])
    lines[31] = b"\xff\xfe bytes"
    lines[37] = _line(37, [])
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\r\n".join(lines[:20]) + b"\n" + b"\n".join(lines[20:]))    # CRLF then LF, no final LF
    return path


def _reference(monkeypatch: pytest.MonkeyPatch, fn, path: Path):  # noqa: ANN001, ANN202
    with monkeypatch.context() as m:
        m.setattr(blocks, "arrow_block", lambda *a, **k: None)         # every block line by line
        m.setattr(scan, "arrow_block", lambda *a, **k: None)
        import avdata.balance.embeddings as emb
        m.setattr(emb, "arrow_block", lambda *a, **k: None)
        return fn(path)


@pytest.mark.parametrize("block_bytes", [37, 301, 1 << 24])      # reads that cut lines and CRLFs; one block
def test_scan_and_ids_agree_with_the_line_by_line_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        block_bytes: int) -> None:
    path = _file(tmp_path)
    monkeypatch.setattr(blocks.iter_line_blocks, "__defaults__", (block_bytes,))
    ref_scan = _reference(monkeypatch, scan_index, path)
    got = scan_index(path)
    assert got.lines == ref_scan.lines == 40
    assert got.label_ids == ref_scan.label_ids and got.bad == ref_scan.bad
    assert sorted(got.bad) == [7, 11, 17, 23, 31] and got.bos[13] == 5.0
    for a, b in [(got.offsets, ref_scan.offsets), (got.flat, ref_scan.flat), (got.frames, ref_scan.frames),
                 (got.aclips, ref_scan.aclips)]:
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.bos, ref_scan.bos)
    assert got.frames[19] == 0 and got.labels_of(29) == ["é", "/m/éx"] and got.bos[3] == 3.0

    ref_ids = _reference(monkeypatch, read_index_ids, path)
    ids = read_index_ids(path)
    assert ids.ids == ref_ids.ids and ids.labels == ref_ids.labels and ids.bad == ref_ids.bad
    assert sorted(ids.bad) == [7, 11, 17, 31] and ids.ids[13] == "v0000000013"
    assert ids.labels[0] is not None and ids.labels[0][0] is ids.labels[7 * 3][0]       # one object per label


def test_join_scans_equals_the_scan_of_the_joined_file_and_gives_the_same_weights(tmp_path: Path) -> None:
    from avdata.balance.outputs import write_segments
    from avdata.index.scan import join_scans
    from avdata.weights import WeightsOptions, scheme_names, write_weights

    pool = _file(tmp_path)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_bytes(b"\n".join([_line(100, ["/m/zz", "/m/01"]), b"{bad", _line(101, ["/m/12"]),
                                  _line(102, ["/m/03"], eos="x")]) + b"\n")
    chosen = np.array([1, 3, 7, 11, 13, 17, 19, 20, 23, 29, 31, 36, 37, 39])     # good and bad lines, in order
    segments = tmp_path / "segments.csv"
    write_segments(segments, pool, chosen, seeds)
    want = scan_index(segments)
    got = join_scans([(scan_index(pool), chosen), (scan_index(seeds), None)], segments)
    assert got.lines == want.lines == len(chosen) + 4
    assert got.label_ids == want.label_ids and sorted(got.bad) == sorted(want.bad)
    for name in ("offsets", "flat", "frames", "aclips", "bos", "eos"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    for scheme in scheme_names():
        a = write_weights(WeightsOptions(segments, scheme, out=tmp_path / "a.csv")).path.read_bytes()
        b = write_weights(WeightsOptions(segments, scheme, out=tmp_path / "b.csv"), got).path.read_bytes()
        assert a == b and len(a.splitlines()) == want.lines


@pytest.mark.parametrize("block_bytes", [37, 301, 1 << 24])
def test_ids_and_scan_in_one_pass_equal_each_read_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        block_bytes: int) -> None:
    from avdata.balance.embeddings import read_index_ids_and_scan

    path = _file(tmp_path)
    lines = path.read_bytes().split(b"\n")
    lines[24] = json.dumps({"id": "", "labels": ["/m/01"], "bos": "1", "eos": "2"}).encode()     # empty id: scan ok
    lines[26] = json.dumps({"id": "v26", "labels": ["/m/01"], "eos": "2"}).encode()             # no bos: ids ok
    path.write_bytes(b"\n".join(lines))
    monkeypatch.setattr(blocks.iter_line_blocks, "__defaults__", (block_bytes,))
    ids, sc, offsets = read_index_ids_and_scan(path)
    want_ids, want_scan = read_index_ids(path), scan_index(path)
    want_offsets = blocks.line_offsets(path)
    assert offsets.stamp == want_offsets.stamp and offsets.final_lf == want_offsets.final_lf
    np.testing.assert_array_equal(offsets.starts, want_offsets.starts)
    assert ids.ids == want_ids.ids and ids.labels == want_ids.labels and ids.bad == want_ids.bad
    assert 24 in ids.bad and 24 not in sc.bad and 26 in sc.bad and 26 not in ids.bad
    assert sc.label_ids == want_scan.label_ids and sc.bad == want_scan.bad
    for name in ("offsets", "flat", "frames", "aclips", "bos", "eos"):
        np.testing.assert_array_equal(getattr(sc, name), getattr(want_scan, name))


@pytest.mark.parametrize("data", [b"", b"\n", b"\n\n", b"a", b"a\r\nb\r\n", b"a\r\n\r\nb", b"{}\n\n", b"x\ry\n\r\n",
                                  b"\xef\xbb\xbfa\nb\xff\r\n" * 5])
def test_blocks_split_and_number_lines_as_the_line_reader(tmp_path: Path, data: bytes) -> None:
    """Every block size gives the lines (and numbers) of ``iter_raw_lines``, the one splitter."""
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    want = list(index_lines.iter_raw_lines(path))
    for size in (1, 2, 3, 7, 1 << 24):
        got, first = [], 1
        for block in blocks.iter_line_blocks(path, size):
            assert block.first == first and block.count == len(block.lines) >= 1
            got += block.lines
            first += block.count
        assert got == want, size
