from pathlib import Path

import pytest

from avdata.atomic import atomic_path, sweep_temp_files, write_text_atomic
from avdata.errors import UnsafePathError
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
        assert tmp.parent == final.parent and tmp.suffix == ".txt" and tmp.name.startswith(".tmp-")
        tmp.write_text("x")
        assert not final.exists()
    assert final.read_text() == "x"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert final.read_text() == "x"
    assert [p.name for p in final.parent.iterdir()] == ["a.txt"]


def test_sweep_temp_files(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "keep.txt", "k")
    (tmp_path / ".tmp-1-ab-keep.txt").write_text("partial")
    assert sweep_temp_files(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


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
