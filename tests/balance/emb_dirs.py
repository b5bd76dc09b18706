"""Write what ``avdata embed`` writes, for the balance tests: an index file and its embeddings dir."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avdata.balance.embeddings import sha256_file
from avdata.index.entry import IndexEntry

FINGERPRINT = "signal-test-0001"


def write_index(path: Path, ids: Sequence[str], labels: Sequence[Sequence[str]]) -> Path:
    """A VIP-ANT index file, one line per id (published field order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i, (vid, labs) in enumerate(zip(ids, labels)):
            fh.write(IndexEntry(dir="all_0_35000", aclip=["p0.mp3"], frame=[f"p0.4_0{j}.jpg" for j in range(1, 5)],
                                id=vid, bos=f"{i % 300}.000", eos=f"{i % 300 + 10}.000", labels=list(labs)).to_line())
    return path


def write_embeddings(directory: Path, index: Path, matrix: np.ndarray, *, fingerprint: str = FINGERPRINT,
                     embedder: str = "signal") -> Path:
    """``embeddings.npy`` + ``meta.json`` for ``index`` (rows must match its lines)."""
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "embeddings.npy", matrix)
    lines = sum(1 for _ in open(index, "rb"))
    meta = {"embedder": embedder, "dim": int(matrix.shape[1]), "dtype": str(matrix.dtype),
            "fingerprint": fingerprint, "rows": int(matrix.shape[0]),
            "index": {"path": str(index), "lines": lines, "sha256": sha256_file(index)}}
    (directory / "meta.json").write_text(json.dumps(meta), "utf-8")
    return directory


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng: np.random.Generator, n: int, dim: int, centres: int, spread: float = 0.35
              ) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``centres`` random centres (as real embeddings cluster); and the cluster of each."""
    c = unit_rows(rng, centres, dim)
    which = rng.integers(0, centres, n)
    x = c[which] + spread * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), which


def yt_ids(prefix: str, n: int) -> list[str]:
    """``n`` distinct 11-character YouTube-like ids."""
    return [f"{prefix}{i:0{11 - len(prefix)}d}" for i in range(n)]


def filter_set(data_root: Path, filter_spec: str) -> set[str]:
    """The logic of VIP-ANT's ``cvap/data/audioset_hub.py: build_filter_set`` (without its catch-all)."""
    name, topk = filter_spec.split(",")
    filter_file = f"{data_root}/{name}"
    if filter_file[-3:] == "csv":
        samples = set()
        with open(filter_file) as fr:
            for line in fr:
                samples.add(line.strip())
    elif filter_file[-1] == "k":
        samples_per_label = json.load(open(filter_file))
        samples = set()
        for _k, v in samples_per_label.items():
            samples.update(v)
    else:
        topk_n = int(topk)
        samples = set()
        with open(filter_file) as fr:
            for line in fr:
                rec = json.loads(line)
                k, v = list(rec.items())[0]
                samples.update({n for n, _ in v[:topk_n]} | {k})
    return samples
