"""LazyIndex: exact lines by position, a sidecar rebuilt on change, pickling as paths, bounded memory."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from avdata.errors import InputFormatError
from avdata.loaders.lazy_index import LazyIndex, line_offsets, sidecar_path


def write_lines(path: Path, lines: list[str], trailing_newline: bool = True) -> None:
    path.write_bytes(("\n".join(lines) + ("\n" if trailing_newline else "")).encode("utf-8"))


def test_random_access_returns_the_exact_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = [json.dumps({"id": f"v{i}", "labels": ["/m/0" + "x" * int(rng.integers(0, 50))], "t": "é✓"})
             for i in range(5000)]
    idx = tmp_path / "index.csv"
    write_lines(idx, lines, trailing_newline=False)
    lazy = LazyIndex(idx)
    assert len(lazy) == 5000
    for i in rng.integers(0, 5000, 300).tolist() + [0, 4999, -1]:
        assert lazy.line(i) == lines[i]
        assert lazy.record(i) == json.loads(lines[i])
    with pytest.raises(IndexError):
        lazy.line(5000)
    assert sidecar_path(idx).is_file()


def test_offsets_match_python_line_splitting(tmp_path: Path) -> None:
    idx = tmp_path / "a.csv"
    idx.write_bytes(b'{"a": 1}\n\n{"b": 2}\r\n{"c": 3}\n')
    offsets = line_offsets(idx)
    data = idx.read_bytes()
    assert [data[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)] == data.splitlines(keepends=True)
    lazy = LazyIndex(idx)
    assert [lazy.line(i) for i in range(len(lazy))] == ['{"a": 1}', "", '{"b": 2}', '{"c": 3}']
    with pytest.raises(InputFormatError, match=r"a\.csv:2: not a JSON line"):
        lazy.record(1)


def test_sidecar_is_rebuilt_when_the_index_changes(tmp_path: Path) -> None:
    idx = tmp_path / "index.csv"
    write_lines(idx, ['{"id": "a"}', '{"id": "b"}'])
    assert len(LazyIndex(idx)) == 2
    write_lines(idx, ['{"id": "c"}', '{"id": "d"}', '{"id": "e"}'])
    lazy = LazyIndex(idx)
    assert len(lazy) == 3 and lazy.record(2) == {"id": "e"}
    # same size, new content and mtime: still rebuilt
    write_lines(idx, ['{"id": "x"}', '{"id": "yy"}', '{"id": "z"}'][:2] + ['{"i": "w"}'])
    os.utime(idx, ns=(1_000_000_000, 1_000_000_000))
    assert [LazyIndex(idx).line(i) for i in range(3)] == ['{"id": "x"}', '{"id": "yy"}', '{"i": "w"}']


def test_pickles_as_paths_and_reopens(tmp_path: Path) -> None:
    idx = tmp_path / "index.csv"
    write_lines(idx, [json.dumps({"id": f"{i:06d}"}) for i in range(100_000)])
    lazy = LazyIndex(idx)
    assert lazy.record(77_777) == {"id": "077777"}
    blob = pickle.dumps(lazy)
    assert len(blob) < 500            # paths only, not 100,000 offsets
    again = pickle.loads(blob)
    assert again.record(99_999) == {"id": "099999"} and len(again) == 100_000


MEMORY_PROBE = textwrap.dedent('''
    import json, sys, numpy as np
    from avdata.loaders.lazy_index import LazyIndex

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    base = status("VmRSS:")
    lazy = LazyIndex(sys.argv[1])
    n = len(lazy)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, n, 20000)
    ok = all(lazy.record(int(i))["id"] == f"{int(i):08d}" for i in picks[:2000])
    for i in picks:
        lazy.line(int(i))
    print(json.dumps({"lines": n, "ok": ok, "rss": status("VmRSS:") - base, "peak": status("VmHWM:") - base}))
''')


@pytest.mark.slow
def test_memory_of_an_opened_two_million_line_index(tmp_path: Path) -> None:
    """2,000,000 lines: building the sidecar, opening and 20,000 random reads stay under 100 MB."""
    n = 2_000_000
    idx = tmp_path / "big.csv"
    with open(idx, "w") as fh:
        for start in range(0, n, 100_000):
            fh.write("".join(f'{{"dir": "all_0_35000", "id": "{i:08d}", "labels": ["/m/09x0r"]}}\n'
                             for i in range(start, start + 100_000)))
    for _ in range(2):  # first run builds the sidecar, second maps the one on disk
        run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(idx)], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        got = json.loads(run.stdout)
        assert got["lines"] == n and got["ok"]
        assert got["peak"] < 100 * 2**20, got
