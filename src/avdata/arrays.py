"""Reading ``.npy`` and ``.npz`` files that come from disk or from a shard: every decode error
(zero bytes, truncated, not a zip, a pickled object) becomes one error naming the file, never an
``EOFError`` (which click would turn into "aborted") or a ``BadZipFile``; and the checks that an
array holds what its name promises (shape, finite values)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
import zlib
from collections.abc import Mapping
from typing import Literal

import numpy as np

from avdata.errors import InputFormatError, MediaError

DECODE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError,
                 pickle.UnpicklingError, UnicodeDecodeError)
FBANK_BINS = 128


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, EOFError) or "No data left" in text:
        return "empty or truncated file"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def load_npy(path: str | os.PathLike[str], mmap_mode: Literal["r", "r+", "c"] | None = None) -> np.ndarray:
    """An ``.npy`` array (memory-mapped with ``mmap_mode``); InputFormatError naming the file on
    any decode error (no pickles)."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except DECODE_ERRORS as e:
        raise InputFormatError(str(path), None, f"not a readable .npy array ({_reason(e)})") from e


def npy_is(path: str | os.PathLike[str], shape: tuple[int, ...], dtype: str) -> bool:
    """Does ``path`` hold a whole ``.npy`` array of this shape and dtype (header and every byte of
    its data: a truncated or zero-byte file is not)?"""
    if not os.path.isfile(path):
        return False
    try:
        arr = load_npy(path, mmap_mode="r")
    except InputFormatError:
        return False
    return arr.shape == shape and str(arr.dtype) == dtype


def read_npz(source: str | os.PathLike[str] | bytes, where: str, code: str = "npz_unreadable"
             ) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (a path or its bytes); MediaError(``code``) naming ``where``."""
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        loaded = np.load(handle, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("an .npy array, not an .npz archive")
        with loaded as z:
            return {k: z[k] for k in z.files}
    except DECODE_ERRORS as e:
        raise MediaError(code, f"{where}: not a readable .npz ({_reason(e)})") from e


def check_finite(array: np.ndarray, where: str, code: str = "non_finite") -> np.ndarray:
    """``array`` unchanged, or MediaError(``code``) when it holds NaN or infinity."""
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise MediaError(code, f"{where}: {bad} non-finite value(s) (NaN or infinity)")
    return array


def fbank_array(arrays: Mapping[str, np.ndarray], key: str, where: str) -> np.ndarray:
    """The ``aclip_128`` array under ``key``: float32 (frames >= 1, 128), finite; else MediaError."""
    if key not in arrays:
        raise MediaError("bad_fbank", f"{where}: no array {key!r} (has {sorted(arrays)})")
    a = arrays[key]
    if a.ndim != 2 or a.shape[1] != FBANK_BINS or a.shape[0] < 1 or a.dtype.kind not in "fiu":
        raise MediaError("bad_fbank", f"{where}: {key} has shape {a.shape} {a.dtype}, expected (frames, "
                                      f"{FBANK_BINS}) floats")
    return check_finite(np.asarray(a, dtype=np.float32), where)


def frame_arrays(arrays: Mapping[str, np.ndarray], where: str, size: int | None = None) -> dict[str, np.ndarray]:
    """The decoded frames of a ``frame_224`` npz (empty arrays are frames that did not decode):
    each (3, size, size), finite; MediaError when none is usable or one has another shape."""
    out = {}
    for k in sorted(arrays):
        a = arrays[k]
        if not a.size:
            continue
        if a.ndim != 3 or a.shape[0] != 3 or a.shape[1] != a.shape[2] or (size is not None and a.shape[1] != size):
            raise MediaError("bad_frame_224", f"{where}: frame {k} has shape {a.shape}, expected (3, S, S)")
        out[k] = check_finite(np.asarray(a, dtype=np.float32), where)
    if not out:
        raise MediaError("no_frame_224", f"{where}: no decoded frame (all {len(arrays)} empty)")
    return out
