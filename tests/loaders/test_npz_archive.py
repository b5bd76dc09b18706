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
