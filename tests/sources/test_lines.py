"""Line blocks: the same lines, line numbers and BOM flag whatever the block size."""

from __future__ import annotations

from pathlib import Path

import pytest

from avdata.sources.lines import BOM, iter_line_blocks, split_lines


def _read(path: Path, block_bytes: int | None = None) -> tuple[list[bytes], list[int], bool]:
    """(lines, line number of each, had_bom of the first block) of ``path``."""
    blocks = list(iter_line_blocks(path) if block_bytes is None else iter_line_blocks(path, block_bytes))
    lines, numbers = [], []
    for block in blocks:
        got = split_lines(block.data)
        assert block.lines == len(got)
        lines += got
        numbers += range(block.first_line, block.first_line + len(got))
    return lines, numbers, blocks[0].had_bom


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 4, 5, 7])
def test_a_bom_is_dropped_whatever_the_block_size(tmp_path: Path, block_bytes: int) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(BOM + b'# header\r\n--PJHxphWEs, 30.000, 40.000, "/m/09x0r"\n\nlast line without LF')
    lines, numbers, had_bom = _read(path)
    assert lines == [b"# header", b'--PJHxphWEs, 30.000, 40.000, "/m/09x0r"', b"", b"last line without LF"]
    assert numbers == [1, 2, 3, 4] and had_bom
    assert _read(path, block_bytes) == (lines, numbers, True)


@pytest.mark.parametrize("content", [b"\xef\xbbx\n", b"\xef\n", b"ab\ncd\n"])
def test_no_bom_is_kept_byte_for_byte(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "plain.csv"
    path.write_bytes(content)
    for block_bytes in (None, 1, 2, 3):
        lines, _, had_bom = _read(path, block_bytes)
        assert b"\n".join(lines) + b"\n" == content and not had_bom
