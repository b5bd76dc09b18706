"""``collate`` in DataLoader workers: batches written into shared memory through the file
(``pwritev``) equal ``np.stack`` of the items, whatever their dtype, layout or count."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from avdata.loaders.labels import write_all_at


def test_write_all_at_continues_after_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, n, dtype=np.uint8) for n in (1000, 1, 4093, 0, 7000)] * 300   # > one pwritev
    real = os.pwritev
    calls = []

    def short(fd: int, buffers: list, offset: int) -> int:          # at most 777 bytes per call
        calls.append(len(buffers))
        room, out = 777, []
        for b in buffers:
            out.append(b[:room])
            room -= len(out[-1])
            if not room:
                break
        return real(fd, out, offset)

    monkeypatch.setattr(os, "pwritev", short)
    path = tmp_path / "f.bin"
    with open(path, "wb") as fh:
        fh.write(b"\xee" * 10)
        fh.flush()
        n = write_all_at(fh.fileno(), [a.data for a in arrays], 10)
    want = b"".join(a.tobytes() for a in arrays)
    assert n == len(want) and path.read_bytes() == b"\xee" * 10 + want
    assert max(calls) <= 512 and len(calls) > 100


class _Items:
    """Items of several dtypes and layouts (a transposed view, a big-endian array, a bool mask)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng(i)
        return {"index": i, "f": rng.standard_normal((16, 9)).astype(np.float32),
                "t": np.arange(12, dtype=np.int64).reshape(3, 4).T * i,
                "be": (np.arange(5) + i).astype(">f8"), "mask": rng.random(33) > 0.5,
                "empty": np.zeros((0, 3), np.float32), "name": f"item{i}"}


@pytest.mark.parametrize("workers", [0, 1])
def test_worker_batches_equal_np_stack(workers: int) -> None:
    torch = pytest.importorskip("torch")
    from avdata.loaders import collate

    data = _Items(23)
    loader = torch.utils.data.DataLoader(data, batch_size=7, num_workers=workers, collate_fn=collate)
    seen = 0
    for batch in loader:
        idx = batch["index"].tolist()
        for key in ("f", "t", "be", "mask", "empty"):
            want = np.stack([data[i][key] for i in idx])
            got = batch[key].numpy()
            assert got.shape == want.shape and np.array_equal(got, want), key
        assert batch["name"] == [f"item{i}" for i in idx]
        seen += len(idx)
    assert seen == 23
