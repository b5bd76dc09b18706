"""``src_knn_top{k}_segments.csv``: the chosen pool lines then every seeds line, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avdata.balance import outputs
from avdata.index import blocks


def _expected(pool: bytes, chosen: list[int], seeds: bytes) -> bytes:
    def lines(data: bytes) -> list[bytes]:
        parts = data.split(b"\n")
        return parts[:-1] if parts[-1] == b"" else parts
    return b"".join(line + b"\n" for line in [lines(pool)[i] for i in chosen] + lines(seeds))


@pytest.mark.parametrize("size", [1, 5, 64, 1 << 24])
def test_segments_copy_chosen_lines_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """CRLF, a BOM, a blank line and a last line without LF come through as they are, whatever the
    read size; runs of chosen lines and lone ones, the first and the last line."""
    pool = b"\xef\xbb\xbf" + b"".join(f'{{"id": "p{i}"}}\r\n'.encode() for i in range(30)) + b"\n" + b'{"id": "last"}'
    seeds = b'{"id": "s0"}\n{"id": "s1"}\r\n{"id": "s2"}'
    (tmp_path / "pool.jsonl").write_bytes(pool)
    (tmp_path / "seeds.jsonl").write_bytes(seeds)
    monkeypatch.setattr(blocks.iter_line_blocks, "__defaults__", (size,))
    rng = np.random.default_rng(size)
    offsets = blocks.line_offsets(tmp_path / "pool.jsonl")
    assert offsets.lines == 32 and not offsets.final_lf
    calls = []
    monkeypatch.setattr(outputs, "MAX_RUNS_PER_LINE", 1.0)         # every choice copied by runs
    copy = outputs._copy_runs
    monkeypatch.setattr(outputs, "_copy_runs", lambda *a: calls.append(len(a[2])) or copy(*a))
    for chosen in ([0, 1, 2, 30, 31], [5], [], list(range(32)), sorted(rng.choice(32, 12, replace=False).tolist())):
        for plan in (None, offsets):           # lines read from blocks; runs copied by the kernel
            out = tmp_path / "seg.csv"
            side = outputs.write_segments(out, tmp_path / "pool.jsonl", np.array(chosen, np.int64),
                                          tmp_path / "seeds.jsonl", plan)
            assert out.read_bytes() == _expected(pool, chosen, seeds), (chosen, plan)
            assert side["split_line"] == len(chosen) and side["balanced_lines"] == 3
            assert json.loads(out.with_suffix(".json").read_text()) == side
    assert calls[:4] == [2, 1, 0, 1] and len(calls) == 5


def test_segments_ignore_offsets_of_a_file_that_changed(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b'{"id": "a"}\n{"id": "b"}\n')
    offsets = blocks.line_offsets(pool)
    pool.write_bytes(b'{"id": "A longer line"}\n{"id": "B"}\n')
    (tmp_path / "seeds.jsonl").write_bytes(b"")
    outputs.write_segments(tmp_path / "s.csv", pool, np.array([1]), tmp_path / "seeds.jsonl", offsets)
    assert (tmp_path / "s.csv").read_bytes() == b'{"id": "B"}\n'


@pytest.mark.parametrize("data", [b"", b"\n", b"a", b"a\r\nb\r\n", b"a\n\nb", b"x\n" * 1000 + b"tail"])
def test_line_offsets_bound_every_line(tmp_path: Path, data: bytes) -> None:
    from avdata.index.lines import iter_raw_lines

    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    lines = list(iter_raw_lines(path))
    for size in (1, 3, 1 << 24):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(blocks.iter_line_blocks, "__defaults__", (size,))
            off = blocks.line_offsets(path)
        assert off.lines == len(lines) and off.starts[-1] == len(data)
        got = [data[a:b] for a, b in zip(off.starts[:-1].tolist(), off.starts[1:].tolist())]
        assert [g.removesuffix(b"\n").rstrip(b"\r") for g in got] == lines
        assert off.final_lf == (not data or data.endswith(b"\n"))


def test_many_scattered_runs_are_copied_from_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every other line chosen: one copy call per line would be slow, so the lines are read."""
    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b"".join(f'{{"id": "p{i}"}}\n'.encode() for i in range(100)))
    (tmp_path / "seeds.jsonl").write_bytes(b'{"id": "s"}\n')
    monkeypatch.setattr(outputs, "_copy_runs", lambda *a: pytest.fail("copied run by run"))
    chosen = np.arange(0, 100, 2)
    outputs.write_segments(tmp_path / "s.csv", pool, chosen, tmp_path / "seeds.jsonl", blocks.line_offsets(pool))
    assert (tmp_path / "s.csv").read_bytes() == _expected(pool.read_bytes(), chosen.tolist(), b'{"id": "s"}\n')
