import os
import subprocess
import sys
from pathlib import Path

import pytest

from avdata.atomic import (TEMP_PREFIX, atomic_path, is_temp_name, sweep_temp_files, temp_path_for,
                           write_bytes_atomic, write_text_atomic)
from avdata.errors import NameTooLongError, UnsafePathError
from avdata.paths import check_relative, is_youtube_id, safe_join, safe_name


@pytest.mark.parametrize("rel", ["../x.mp4", "a/../../x", "/etc/passwd", "", "a\\b", "C:x", "a/\x00b", "."])
def test_safe_join_refuses_paths_out_of_root(tmp_path: Path, rel: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, rel)


def test_safe_join_keeps_odd_but_safe_names(tmp_path: Path) -> None:
    for rel in ["-abc.mp4", "a b/c 'd\".mp4", "data/videos/mp4/827/f6b/x.mp4", "./x.mp4", "--help"]:
        p = safe_join(tmp_path, rel)
        assert tmp_path.resolve() in p.resolve().parents


def test_safe_join_refuses_symlink_escape(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        safe_join(root, "link/x.mp4")


def test_check_relative_normalises_dots() -> None:
    assert str(check_relative("./a/./b.mp4")) == "a/b.mp4"


def test_ids_and_names() -> None:
    assert is_youtube_id("--PJHxphWEs") and is_youtube_id("-0123456789")
    assert not is_youtube_id("short") and not is_youtube_id("abc$defghij")
    assert safe_name("--PJHxphWEs_30000") == "--PJHxphWEs_30000"
    with pytest.raises(UnsafePathError):
        safe_name("../x")


def test_atomic_path_renames_on_success_and_cleans_on_error(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "a.txt"
    with atomic_path(final) as tmp:
        assert tmp.parent == final.parent and tmp.suffix == ".txt" and tmp.name.startswith(TEMP_PREFIX)
        tmp.write_text("x")
        assert not final.exists()
    assert final.read_text() == "x"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert final.read_text() == "x"
    assert [p.name for p in final.parent.iterdir()] == ["a.txt"]


def _dead_pid() -> int:
    """A process id that ran and has ended (its temporary files are leftovers)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_only_avdatas_own_leftovers(tmp_path: Path) -> None:
    """Issue 8 defect 7: a user's own ``.tmp-*`` files under --out are never deleted."""
    write_text_atomic(tmp_path / "keep.txt", "k")
    dead = _dead_pid()
    leftovers = [f"{TEMP_PREFIX}{dead}-0123abcd-keep.txt", f"{TEMP_PREFIX}{dead}-89abcdef.f137.mp4.part"]
    users = [".tmp-123-important.doc", ".tmp-1-ab-keep.txt", ".avdata~tmp-notes.txt", "x.avdata~tmp-1-0123abcd-y"]
    (tmp_path / "u" / "notes").mkdir(parents=True)
    for name in leftovers + users:
        (tmp_path / name).write_text("partial")
        (tmp_path / "u" / "notes" / name).write_text("partial")
    live = tmp_path / f"{TEMP_PREFIX}{os.getppid()}-0123abcd-in-use.txt"     # another running process
    live.write_text("being written")
    assert sweep_temp_files(tmp_path) == 2 * len(leftovers)
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert left == sorted(["keep.txt", live.name, *users])
    assert sorted(p.name for p in (tmp_path / "u" / "notes").iterdir()) == sorted(users)
    assert all(is_temp_name(n) for n in leftovers) and not any(is_temp_name(n) for n in users)


@pytest.mark.parametrize("length", [200, 236, 250, 255])
def test_temporary_names_fit_whatever_the_final_name_is(tmp_path: Path, length: int) -> None:
    """Issue 8 defect 15: a final name of up to the file-system limit can be written atomically."""
    name = "v" * (length - 4) + ".mp4"
    final = tmp_path / name
    write_bytes_atomic(final, b"data")
    assert final.read_bytes() == b"data" and [p.name for p in tmp_path.iterdir()] == [name]
    tmp = temp_path_for(final)
    assert len(os.fsencode(tmp.name)) <= 255 and tmp.suffix == ".mp4" and is_temp_name(tmp.name)
    multibyte = tmp_path / ("é" * 125 + ".mp4")          # 254 bytes
    write_bytes_atomic(multibyte, b"x")
    assert multibyte.read_bytes() == b"x"


def test_a_final_name_over_the_limit_is_a_clear_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(NameTooLongError, match="256 bytes, the file system allows 255"):
        write_bytes_atomic(tmp_path / ("v" * 252 + ".mp4"), b"x")
    assert list(tmp_path.iterdir()) == []


def test_safe_join_may_follow_links_when_reading_a_users_tree(tmp_path: Path) -> None:
    outside = tmp_path / "disk2"
    outside.mkdir()
    (outside / "v.mp4").write_bytes(b"x")
    root = tmp_path / "videos"
    root.mkdir()
    (root / "link").symlink_to(outside)
    assert safe_join(root, "link/v.mp4", follow_links=True).read_bytes() == b"x"
    with pytest.raises(UnsafePathError):
        safe_join(root, "../disk2/v.mp4", follow_links=True)
