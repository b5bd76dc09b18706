"""The weights file: ``{stem}_weight.csv`` beside an index file, one float per line, line-aligned
with it (VIP-ANT's layout); written with a scheme (``avdata.weights.schemes``), read back checked."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from avdata.atomic import atomic_path
from avdata.errors import InputFormatError
from avdata.index.scan import IndexScan, scan_index
from avdata.weights.schemes import DEFAULT_SCHEME, get_scheme, sample_weights


def weights_path_for(index_path: str | os.PathLike[str]) -> Path:
    """``.../src_unbalanced_train_segments.csv`` -> ``.../src_unbalanced_train_segments_weight.csv``."""
    p = Path(index_path)
    return p.with_name(f"{p.stem}_weight{p.suffix or '.csv'}")


@dataclass(frozen=True)
class WeightsOptions:
    """Options of ``write_weights`` (mirrors ``avdata weights``)."""

    index: str | os.PathLike[str]
    scheme: str = DEFAULT_SCHEME
    out: str | os.PathLike[str] | None = None   # default: beside the index, ``{stem}_weight.csv``


@dataclass(frozen=True)
class WeightsResult:
    path: Path
    lines: int
    labels: int
    scheme: str
    unlabelled: int
    problems: list[str] = field(default_factory=list)     # lines that cannot be read (weight 0)


def write_weights(opts: WeightsOptions, scan: IndexScan | None = None) -> WeightsResult:
    """Compute the weights of an index file and write them, one float per line (``repr`` digits).
    ``scan``: that file's ``scan_index`` when the caller already has it (``join_scans``)."""
    get_scheme(opts.scheme)
    if scan is None:
        scan = scan_index(opts.index)
    weights = sample_weights(scan, opts.scheme)
    out = Path(opts.out) if opts.out is not None else weights_path_for(opts.index)
    write_weight_values(out, weights)
    return WeightsResult(out, scan.lines, len(scan.label_ids), opts.scheme,
                         int(np.count_nonzero(np.diff(scan.offsets) == 0)),
                         [f"{why}; weight 0" for why in scan.bad.values()])


def write_weight_values(path: str | os.PathLike[str], weights: np.ndarray) -> None:
    """A weights file (atomically): ``repr`` of each weight, one per line."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.writelines(weight_lines(weights))


def weight_lines(weights: np.ndarray, chunk: int = 1 << 16) -> Iterator[memoryview]:
    """``repr`` of every weight, one per line, as ASCII bytes, ``chunk`` lines at a time: each
    distinct value (bit pattern: -0.0 is not 0.0) is formatted once and the lines are gathered by
    Arrow (weights repeat: one per distinct label set)."""
    bits = np.ascontiguousarray(weights, dtype=np.float64).view(np.int64)
    distinct, inverse = np.unique(bits, return_inverse=True)
    text = pa.array([f"{v!r}\n" for v in distinct.view(np.float64).tolist()], pa.string())
    inverse = inverse.reshape(-1)
    for i in range(0, len(inverse), chunk):
        lines = text.take(pa.array(inverse[i:i + chunk]))
        ends = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
        yield memoryview(lines.buffers()[2])[int(ends[0]):int(ends[-1])]


def read_weights(path: str | os.PathLike[str]) -> np.ndarray:
    """A weights file as float64; InputFormatError names the first bad line: not a number, or a
    weight that is negative, NaN or infinite (a sampler cannot draw by it, and JSON has no NaN)."""
    values = []
    try:
        fh = open(path, "rb")     # bytes: a line that is not ASCII is reported, not a crash
    except OSError as e:
        raise InputFormatError(str(path), None, f"cannot read weights file ({e.strerror or e})") from e
    with fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip().decode("utf-8", "backslashreplace")[:80]
            try:
                value = float(line)
            except ValueError as e:
                raise InputFormatError(str(path), lineno, f"not a float: {text!r}") from e
            if not math.isfinite(value) or value < 0:
                raise InputFormatError(str(path), lineno, f"weight {text!r} is not a finite number >= 0")
            values.append(value)
    return np.asarray(values, dtype=np.float64)
