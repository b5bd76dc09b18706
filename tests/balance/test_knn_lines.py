"""``knn_top{k}.jsonl`` built column-wise is byte for byte what ``json.dumps`` and ``%.6f`` write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avdata.balance.outputs import KnnStream, fixed6, write_knn_jsonl


def _reference(seed_ids: list[str], pool_ids: list[str], D: np.ndarray, I: np.ndarray) -> bytes:
    out = []
    for sid, scores, pos in zip(seed_ids, D.tolist(), I.tolist()):
        pairs = [f"[{json.dumps(pool_ids[p])}, {s:.6f}]" for s, p in zip(scores, pos) if p >= 0]
        out.append(f"{{{json.dumps(sid)}: [{', '.join(pairs)}]}}\n")
    return "".join(out).encode()


def test_knn_lines_equal_json_dumps_and_fixed_six_decimals(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pool_ids = [f"p{i:010d}" for i in range(3000)]
    pool_ids[5], pool_ids[7], pool_ids[9] = 'we"ird\\id', "é", "tab\there"
    seed_ids = [f"s{i:010d}" for i in range(2100)]
    seed_ids[4] = "ü-seed"
    D = np.sort(rng.uniform(-1, 1, (2100, 40)).astype(np.float32), axis=1)[:, ::-1].copy()
    D[0, :6] = [1.0, np.float32(0.9999996), 1e-9, 0.0, -0.0, -1e-9]
    D[1] = np.abs(D[1])
    I = rng.integers(0, 3000, (2100, 40))
    I[2, 30:] = -1                       # fewer neighbours than k
    I[3, :] = -1                         # none
    I[6, :3] = [5, 7, 9]
    expected = _reference(seed_ids, pool_ids, D, I)
    write_knn_jsonl(tmp_path / "a.jsonl", seed_ids, pool_ids, D, I)
    assert (tmp_path / "a.jsonl").read_bytes() == expected
    with KnnStream(tmp_path / "b.jsonl", seed_ids, pool_ids) as stream:         # block by block, threaded
        for a in range(0, 2100, 700):
            stream.add(a, D[a:a + 700], I[a:a + 700])
        assert not (tmp_path / "b.jsonl").exists()                             # only complete files appear
    assert (tmp_path / "b.jsonl").read_bytes() == expected
    positive = np.abs(D[5:9])
    assert fixed6(positive.ravel()).to_pylist() == [f"{v:.6f}" for v in positive.ravel().tolist()]
    assert fixed6(np.array([12.5, -100.25, np.inf], np.float32)).to_pylist() == ["12.500000", "-100.250000", "inf"]


def test_a_failed_stream_leaves_no_file(tmp_path: Path) -> None:
    D, I = np.ones((4, 2), np.float32), np.zeros((4, 2), np.int64)
    try:
        with KnnStream(tmp_path / "c.jsonl", ["a", "b", "c", "d"], ["x"]) as stream:
            stream.add(0, D[:2], I[:2])
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert list(tmp_path.iterdir()) == []


def test_fixed_width_lines_equal_json_dumps_and_fall_back_block_by_block(tmp_path: Path, monkeypatch) -> None:
    from avdata.balance import outputs

    rng = np.random.default_rng(4)
    pool_ids = [f"-{i:09d}_" for i in range(500)]                     # one length, as YouTube ids
    seed_ids = [f"Y{i:010d}" for i in range(300)]
    D = np.sort(rng.uniform(0, 1, (300, 24)).astype(np.float32), axis=1)[:, ::-1].copy()
    D[0, :4] = [1.0, np.float32(0.9999996), np.float32(0.5e-6), 0.0]
    I = rng.integers(0, 500, (300, 24))
    D[120, 3] = -0.0                                                  # its block is written the general way
    I[290, 20:] = -1
    expected = _reference(seed_ids, pool_ids, D, I)
    calls = []
    general = outputs.knn_lines
    monkeypatch.setattr(outputs, "knn_lines", lambda *a: calls.append(len(a[0])) or general(*a))
    monkeypatch.setattr(outputs, "WRITE_ROWS", 100)
    with KnnStream(tmp_path / "f.jsonl", seed_ids, pool_ids) as stream:
        stream.add(0, D[:150], I[:150])
        stream.add(150, D[150:], I[150:])
    assert (tmp_path / "f.jsonl").read_bytes() == expected
    assert calls == [50, 50]                                          # only the blocks with -0.0 and padding
    assert outputs.fixed_width(outputs.json_strings(["ab", "abc"])) is None


def test_reused_line_matrix_follows_block_size_and_seed_width(tmp_path: Path, monkeypatch) -> None:
    """The fixed-width writer reuses one matrix: a shorter block, then seeds of another width, then
    a block written the general way in between all still give ``json.dumps`` bytes."""
    from avdata.balance import outputs

    rng = np.random.default_rng(5)
    pool_ids = [f"{i:011d}" for i in range(400)]
    seed_ids = [f"s{i:04d}" for i in range(100)] + [f"seed{i:07d}" for i in range(100)] + ["é"] * 10
    D = np.sort(rng.uniform(0, 9.99, (210, 16)).astype(np.float32), axis=1)[:, ::-1].copy()
    I = rng.integers(0, 400, (210, 16))
    monkeypatch.setattr(outputs, "WRITE_ROWS", 60)
    with KnnStream(tmp_path / "r.jsonl", seed_ids, pool_ids) as stream:
        for a, b in [(0, 100), (100, 130), (130, 210)]:
            stream.add(a, D[a:b], I[a:b])
    assert (tmp_path / "r.jsonl").read_bytes() == _reference(seed_ids, pool_ids, D, I)
