"""``NpzArchive`` reads what ``np.load`` reads, one member at a time, and refuses what it must."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from avdata.arrays import NpzArchive, chosen_frame
from avdata.errors import MediaError


def _npz(compressed: bool, **arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("compressed", [True, False])
def test_members_equal_np_load(compressed: bool, tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    arrays = {"flag": rng.standard_normal((998, 128)).astype(np.float32), "01": np.array([], np.float32),
              "f": np.asfortranarray(rng.integers(0, 9, (3, 5)).astype(np.int16)), "big": np.zeros((3, 40, 40))}
    data = _npz(compressed, **arrays)
    (tmp_path / "a.npz").write_bytes(data)
    for source in (data, tmp_path / "a.npz"):
        z = NpzArchive(source, "a.npz")
        assert sorted(z) == sorted(arrays) and len(z) == 4 and "flag" in z and "nope" not in z
        for k, v in arrays.items():
            assert z.shape(k) == v.shape
            got = z[k]
            assert got.dtype == v.dtype and np.array_equal(got, v)


def test_damage_is_one_media_error_naming_the_file() -> None:
    data = bytearray(_npz(True, flag=np.random.default_rng(1).standard_normal((500, 128)).astype(np.float32)))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    data[info.header_offset + 30 + len(info.filename) + 2000] ^= 0xFF       # inside the deflated stream
    with pytest.raises(MediaError, match="x.npz: not a readable .npz"):
        NpzArchive(bytes(data), "x.npz", "bad")["flag"]
    with pytest.raises(MediaError, match="empty or truncated"):
        NpzArchive(b"", "x.npz")
    with pytest.raises(MediaError, match="not a readable"):
        NpzArchive(_npz(False, o=np.array([{"a": 1}], dtype=object)), "x.npz")["o"]    # no pickles


def test_chosen_frame_counts_only_decoded_frames_and_reads_one() -> None:
    frames = {"01": np.array([], np.float32), "02": np.full((3, 8, 8), 2, np.float32),
              "03": np.full((3, 8, 8), 3, np.float32), "04": np.array([], np.float32)}
    z = NpzArchive(_npz(True, **frames), "f.npz")
    counts: list[int] = []
    key, frame = chosen_frame(z, "f.npz", lambda n: counts.append(n) or n - 1, 8)
    assert counts == [2] and key == "03" and frame.flags.writeable and np.all(frame == 3)
    assert chosen_frame(frames, "f.npz", lambda n: 0, 8)[0] == "02"
    with pytest.raises(MediaError, match="no decoded frame"):
        chosen_frame(NpzArchive(_npz(True, a=np.array([], np.float32)), "g.npz"), "g.npz", lambda n: 0)


def test_prefaulted_empty_is_a_writable_array_of_its_shape_large_and_small():
    from avdata.arrays import prefaulted_empty

    for shape in ((3, 5), (70_000, 256)):          # below and above the size where the kernel maps it at once
        a = prefaulted_empty(shape, np.float32)
        assert a.shape == shape and a.dtype == np.float32 and a.flags.writeable and a.flags.c_contiguous
        a[:] = np.arange(a.size, dtype=np.float32).reshape(shape)
        assert a[-1, -1] == a.size - 1 and a[0, 1] == 1


def _with_comment(data: bytes, comment: bytes) -> bytes:
    """The archive with a zip comment (its end record says how long)."""
    return data[:-2] + len(comment).to_bytes(2, "little") + comment


@pytest.mark.parametrize("variant", ["plain", "comment", "prepended", "stored", "utf8 name"])
def test_the_directory_fast_path_and_zipfile_fallback_read_the_same(variant: str) -> None:
    """Plain archives (what np.savez writes) are read from their central directory directly; a
    comment or bytes before the first member go through zipfile; both give np.load's arrays."""
    from avdata.arrays import _plain_directory

    arrays = {"flag": np.arange(600, dtype=np.float32).reshape(5, 120), "01": np.full((3, 4, 4), 7, np.uint8)}
    if variant == "utf8 name":
        arrays["été"] = np.ones(3)
    data = _npz(variant != "stored", **arrays)
    if variant == "comment":
        data = _with_comment(data, b"made elsewhere")
    if variant == "prepended":
        data = b"#!junk before the archive\n" + data
    fast = _plain_directory(data)
    assert (fast is None) == (variant in ("comment", "prepended"))
    if fast is not None:
        want = {i.filename: (i.header_offset, i.compress_size, i.file_size, i.CRC, i.compress_type)
                for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}
        assert {m.filename: tuple(m)[1:] for m in fast} == want
    z = NpzArchive(data, "v.npz")
    assert sorted(z) == sorted(arrays)
    for k, v in arrays.items():
        assert z[k].dtype == v.dtype and np.array_equal(z[k], v)


def test_a_cut_directory_is_one_media_error() -> None:
    data = _npz(True, flag=np.ones((4, 128), np.float32))
    for cut in (data[:-5], data[:-30], data[: len(data) // 2]):
        with pytest.raises(MediaError, match="c.npz: not a readable .npz"):
            NpzArchive(cut, "c.npz")["flag"]


def test_headers_are_parsed_per_distinct_header() -> None:
    """The parsed-header cache never gives one member another's shape or dtype; a member without
    the .npy magic is refused."""
    for shape, dtype in (((4, 128), np.float32), ((5, 128), np.float32), ((4, 128), np.float64), ((4, 128), ">f4")):
        v = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
        got = NpzArchive(_npz(True, flag=v), "h.npz")["flag"]
        assert got.shape == shape and got.dtype == np.dtype(dtype) and np.array_equal(got, v)
    with pytest.raises(ValueError, match="no NUMPY magic"):
        NpzArchive._header(b"\x93NUMPZ\x01\x00" + bytes(120))
