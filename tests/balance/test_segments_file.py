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
    for chosen in ([0, 1, 2, 30, 31], [5], [], list(range(32)), sorted(rng.choice(32, 12, replace=False).tolist())):
        out = tmp_path / "seg.csv"
        side = outputs.write_segments(out, tmp_path / "pool.jsonl", np.array(chosen, np.int64),
                                      tmp_path / "seeds.jsonl")
        assert out.read_bytes() == _expected(pool, chosen, seeds), chosen
        assert side["split_line"] == len(chosen) and side["balanced_lines"] == 3
        assert json.loads(out.with_suffix(".json").read_text()) == side
