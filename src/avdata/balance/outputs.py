"""The kNN filter files in the formats VIP-ANT's ``cvap/data/audioset_hub.py: build_filter_set`` reads.

``build_filter_set(data_root, "NAME,TOPK")`` turns a file into a set of ids:
- NAME ending in ``csv``: one id per line  -> ``knn_top{k}_ids.csv`` (seeds and their neighbours);
- NAME ending in ``k``: JSON ``{label: [ids]}`` -> ``knn_{N/1000}k`` (``--per-label-cap N``);
- otherwise JSON lines ``{"SEED_ID": [["ID", score], ...]}`` cut to TOPK, the seed kept
  -> ``knn_top{k}.jsonl`` (best first, so one file serves every TOPK <= k).
Plus ``src_knn_top{k}_segments.csv``: a ready index file, the selected pool (unbalanced) lines then
every balanced line, copied byte for byte, and a JSON sidecar giving the line where they meet (as
``src_train_segments.csv`` does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avdata.atomic import atomic_path, write_text_atomic

WRITE_ROWS = 256


def knn_name(k: int) -> str:
    return f"knn_top{k}.jsonl"


def ids_name(k: int) -> str:
    return f"knn_top{k}_ids.csv"


def segments_name(k: int) -> str:
    return f"src_knn_top{k}_segments.csv"


def cap_name(cap: int) -> str:
    """``knn_{cap//1000}k`` (``knn_2k`` for 2000); a cap that is not a multiple of 1000 keeps its
    fraction (``knn_0.5k``) so that different caps never share a name and the name still ends in k."""
    return f"knn_{cap // 1000}k" if cap % 1000 == 0 else f"knn_{cap / 1000:g}k"


def write_knn_jsonl(path: str | os.PathLike[str], seed_ids: Sequence[str], pool_ids: Sequence[str],
                    D: np.ndarray, I: np.ndarray) -> None:
    """One line per seed: ``{"SEED_ID": [["ID", score], ...]}``, best first (json.dumps spacing)."""
    quoted: dict[int, str] = {}
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        buf: list[str] = []
        for sid, scores, pos in zip(seed_ids, D.tolist(), I.tolist()):
            pairs = []
            for s, p in zip(scores, pos):
                if p < 0:
                    break
                q = quoted.get(p)
                if q is None:
                    q = quoted[p] = json.dumps(pool_ids[p])
                pairs.append(f"[{q}, {s:.6f}]")
            buf.append(f"{{{json.dumps(sid)}: [{', '.join(pairs)}]}}\n")
            if len(buf) >= WRITE_ROWS:
                fh.write("".join(buf))
                buf = []
        fh.write("".join(buf))


def write_ids_csv(path: str | os.PathLike[str], ids: Sequence[str]) -> None:
    """One id per line (no header), as ``build_filter_set`` reads a NAME ending in ``csv``."""
    write_text_atomic(path, "".join(f"{i}\n" for i in ids))


def cap_per_label(seed_ids: Sequence[str], seed_labels: Sequence[Sequence[str]],
                  cand_ids: Sequence[str], cand_labels: Sequence[Sequence[str]], cap: int
                  ) -> tuple[dict[str, list[str]], int]:
    """``{label: [ids]}`` with at most ``cap`` ids per label (seeds excepted: all kept).

    Seeds come first; then candidates in the order given (best score first), each accepted only if
    none of its labels is full yet, so that no label passes the cap through co-occurrence. A sample
    is listed under every one of its labels. Returns the mapping and how many candidates were left
    out (labels full, or no labels at all)."""
    per_label: dict[str, list[str]] = {}
    for sid, labels in zip(seed_ids, seed_labels):
        for lab in dict.fromkeys(labels):
            per_label.setdefault(lab, []).append(sid)
    left_out = 0
    for cid, labels in zip(cand_ids, cand_labels):
        labs = list(dict.fromkeys(labels))
        if not labs or any(len(per_label.get(lab, ())) >= cap for lab in labs):
            left_out += 1
            continue
        for lab in labs:
            per_label.setdefault(lab, []).append(cid)
    return per_label, left_out


def write_json(path: str | os.PathLike[str], obj: object) -> None:
    write_text_atomic(path, json.dumps(obj) + "\n")


def write_segments(path: str | os.PathLike[str], pool_index: str | os.PathLike[str],
                   pool_lines: np.ndarray, seeds_index: str | os.PathLike[str]) -> dict:
    """Copy the chosen pool lines (0-based, in file order) then every seeds line into ``path``;
    write the sidecar ``{stem}.json`` and return it."""
    path = Path(path)
    wanted = np.zeros(0, dtype=bool)
    if len(pool_lines):
        wanted = np.zeros(int(pool_lines.max()) + 1, dtype=bool)
        wanted[pool_lines] = True
    balanced = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as dst:
        with open(pool_index, "rb") as src:
            for i, line in enumerate(src):
                if i >= len(wanted):
                    break
                if wanted[i]:
                    dst.write(line if line.endswith(b"\n") else line + b"\n")
        with open(seeds_index, "rb") as src:
            for line in src:
                dst.write(line if line.endswith(b"\n") else line + b"\n")
                balanced += 1
    side = {"file": path.name, "parts": [Path(pool_index).name, Path(seeds_index).name],
            "split_line": int(len(pool_lines)), "first_balanced_line_1based": int(len(pool_lines)) + 1,
            "unbalanced_lines": int(len(pool_lines)), "balanced_lines": balanced}
    write_text_atomic(path.with_suffix(".json"), json.dumps(side, indent=2) + "\n")
    return side
