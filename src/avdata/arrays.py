"""Reading ``.npy`` and ``.npz`` files that come from disk or from a shard: every decode error
(zero bytes, truncated, not a zip, a pickled object) becomes one error naming the file, never an
``EOFError`` (which click would turn into "aborted") or a ``BadZipFile``; and the checks that an
array holds what its name promises (shape, finite values)."""

from __future__ import annotations

import io
import math
import mmap
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from avdata.errors import InputFormatError, MediaError

DECODE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError,
                 pickle.UnpicklingError, UnicodeDecodeError)
FBANK_BINS = 128


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, EOFError) or "No data left" in text:
        return "empty or truncated file"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def prefaulted_empty(shape: tuple[int, ...], dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """An uninitialised array whose memory the kernel maps in one call (``MAP_POPULATE``) instead
    of one page fault per 4 KiB page on first write: 1.3 s instead of 2.4-6.8 s for 4 GiB on a VM.
    Falls back to ``np.empty`` where ``MAP_POPULATE`` does not exist or the mapping fails."""
    dt = np.dtype(dtype)
    size = int(np.prod(shape)) * dt.itemsize
    flags = getattr(mmap, "MAP_POPULATE", 0)
    if not flags or size < (64 << 20):
        return np.empty(shape, dt)
    try:
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flags)
    except (OSError, ValueError):
        return np.empty(shape, dt)
    return np.frombuffer(buf, dt).reshape(shape)     # the array keeps the mapping alive


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


class _Member(NamedTuple):
    """What reading one member needs from the archive's central directory."""

    filename: str
    header_offset: int
    compress_size: int
    file_size: int
    CRC: int
    compress_type: int


_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")      # zipfile's structCentralDir
_END = struct.Struct("<4s4H2LH")                 # zipfile's structEndArchive


def _plain_directory(d: bytes) -> list[_Member] | None:
    """The members of a plain zip (as ``np.savez`` writes: no comment, no zip64 directory, nothing
    before the first member), read straight from its central directory; None for anything else,
    which ``zipfile`` then reads (or refuses). A tenth of ``zipfile.ZipFile``'s time."""
    if len(d) < _END.size:
        return None
    sig, disk, cd_disk, n_disk, n, cd_size, cd_off, comment = _END.unpack_from(d, len(d) - _END.size)
    if sig != b"PK\x05\x06" or comment or disk or cd_disk or n_disk != n or cd_off + cd_size != len(d) - _END.size:
        return None
    out, p = [], cd_off
    for _ in range(n):
        if p + _CENTRAL.size > len(d):
            return None
        f = _CENTRAL.unpack_from(d, p)
        flags, method, crc, csize, usize, nlen, xlen, clen = f[5], f[6], f[9], f[10], f[11], f[12], f[13], f[14]
        offset = f[18]
        if f[0] != b"PK\x01\x02" or flags & 0x1 or 0xFFFFFFFF in (csize, usize, offset):
            return None                                    # encrypted or zip64 sizes
        name = d[p + _CENTRAL.size:p + _CENTRAL.size + nlen].decode("utf-8" if flags & 0x800 else "cp437")
        out.append(_Member(name, offset, csize, usize, crc, method))
        p += _CENTRAL.size + nlen + xlen + clen
    return out if p == cd_off + cd_size else None


@lru_cache(maxsize=256)
def _npy_header(head: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, data offset) of an ``.npy`` header: parsed once per distinct
    header (every frame of a kind has the same one)."""
    fh = io.BytesIO(head)
    version = np.lib.format.read_magic(fh)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(fh)
    if dtype.hasobject:
        raise ValueError("an object array (pickles are not read)")
    return tuple(shape), fortran, dtype, fh.tell()


class NpzArchive(Mapping[str, np.ndarray]):
    """An ``.npz`` (a path or its bytes) read member by member: the names at once, a member's shape
    from its header, its array only when asked (``frame_224`` holds every frame of a clip; an item
    needs one). A member is inflated in one call and checked against its CRC; its array is a
    read-only view of those bytes. Decode errors are MediaError(``code``) naming ``where``, as
    ``read_npz``'s."""

    def __init__(self, source: str | os.PathLike[str] | bytes, where: str, code: str = "npz_unreadable") -> None:
        self.where, self.code = where, code
        try:
            if isinstance(source, bytes):
                self._data = source
            else:
                with open(source, "rb") as fh:
                    self._data = fh.read()
            if not self._data:
                raise EOFError("No data left in file")
            found = _plain_directory(self._data)
            if found is None:                      # zip64, a comment, prepended data: zipfile decides
                found = [_Member(i.filename, i.header_offset, i.compress_size, i.file_size, i.CRC, i.compress_type)
                         for i in zipfile.ZipFile(io.BytesIO(self._data)).infolist()]
            self._members = {m.filename[:-4]: m for m in found if m.filename.endswith(".npy")}
        except DECODE_ERRORS as e:
            raise self._error(e) from e

    def _error(self, e: BaseException) -> MediaError:
        return MediaError(self.code, f"{self.where}: not a readable .npz ({_reason(e)})")

    def __iter__(self):  # noqa: ANN204 - Iterator[str]
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def size_hint(self, key: str) -> int:
        """The member's size in bytes, header included (from the archive's directory)."""
        return int(self._members[key].file_size)

    def _raw(self, info: _Member, limit: int | None = None) -> bytes | memoryview:
        """The member's bytes (the first ``limit`` or more of them when ``limit`` is given)."""
        d = self._data
        off = info.header_offset
        if d[off:off + 4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local header of {info.filename}")
        names = int.from_bytes(d[off + 26:off + 28], "little") + int.from_bytes(d[off + 28:off + 30], "little")
        start = off + 30 + names
        body = memoryview(d)[start:start + info.compress_size]        # no copy of the compressed bytes
        raw: bytes | memoryview
        if info.compress_type == zipfile.ZIP_STORED:
            raw = body
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if limit is not None:
                return zlib.decompressobj(-15).decompress(body, limit)
            raw = zlib.decompress(body, -15, max(info.file_size, 1))   # one output buffer of the final size
        else:
            raise ValueError(f"{info.filename}: compression {info.compress_type} is not read")
        if limit is None and (len(raw) != info.file_size or zlib.crc32(raw) != info.CRC):
            raise zipfile.BadZipFile(f"{info.filename}: bad CRC or size")
        return raw

    @staticmethod
    def _header(raw: bytes | memoryview) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        head = bytes(raw[:12])
        if head[:6] != b"\x93NUMPY" or len(head) < 12:
            raise ValueError("not an .npy member (no NUMPY magic)")
        end = 10 + int.from_bytes(head[8:10], "little") if head[6] == 1 else 12 + int.from_bytes(head[8:12], "little")
        return _npy_header(bytes(raw[:end]))

    def shape(self, key: str) -> tuple[int, ...]:
        """The member's shape, from its header (only the header is inflated)."""
        try:
            return self._header(self._raw(self._members[key], 65536))[0]
        except DECODE_ERRORS as e:
            raise self._error(e) from e

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            raw = self._raw(self._members[key])
            shape, fortran, dtype, offset = self._header(raw)
            arr = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=offset)
            return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
        except DECODE_ERRORS as e:
            raise self._error(e) from e


def chosen_frame(arrays: Mapping[str, np.ndarray], where: str, choose: Callable[[int], int],
                 size: int | None = None) -> tuple[str, np.ndarray]:
    """``(key, frame)`` of a ``frame_224`` npz: the decoded frames (non-empty members, by sorted key)
    are counted from their headers, ``choose(count)`` picks one, and only that one is read and
    checked as ``frame_arrays`` checks every frame."""
    if isinstance(arrays, NpzArchive):        # a member past 4 KiB holds data; a smaller one: its header says
        keys = [k for k in sorted(arrays) if arrays.size_hint(k) > 4096 or int(np.prod(arrays.shape(k))) > 0]
    else:
        keys = [k for k in sorted(arrays) if arrays[k].size]
    if not keys:
        raise MediaError("no_frame_224", f"{where}: no decoded frame (all {len(arrays)} empty)")
    key = keys[choose(len(keys))]
    frame = frame_arrays({key: arrays[key]}, where, size)[key]
    return key, frame if frame.flags.writeable else frame.copy()


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
