"""Atomic file writes: write under a temporary name in the same folder, then rename.

Temporary names carry a marker no user picks (``TEMP_PREFIX`` = ``.avdata~tmp-``) followed by the
writing process id and a random tag: ``.avdata~tmp-{pid}-{8 hex}-{final name}``. A killed process
leaves at most such files, never a half-written file under a final name; ``sweep_temp_files``
removes them on the next run and touches nothing else (a user's own ``.tmp-notes.doc`` stays).

A temporary name always fits the file system: when the final name is long, the temporary name
keeps its extension (encoders read it) and a shortened stem. A final name longer than the file
system allows is refused up front with ``NameTooLongError`` (a permanent error, never retried).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from avdata.errors import NameTooLongError

TEMP_PREFIX = ".avdata~tmp-"
TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(?P<pid>\d+)-[0-9a-f]{8}(?:[-.]|$)")
DEFAULT_NAME_MAX = 255


def name_max(folder: str | os.PathLike[str]) -> int:
    """The longest file name (bytes) the file system of ``folder`` (or its nearest existing parent) takes."""
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return int(os.pathconf(p, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX


def check_name_fits(final: Path, limit: int | None = None) -> None:
    """Raise NameTooLongError when ``final``'s last component is longer than the file system allows."""
    limit = name_max(final.parent) if limit is None else limit
    size = len(os.fsencode(final.name))
    if size > limit:
        raise NameTooLongError(f"{final}: file name is {size} bytes, the file system allows {limit}")


def temp_stem() -> str:
    """A fresh ``.avdata~tmp-{pid}-{8 hex}`` (tools that add their own suffix, e.g. yt-dlp, start from it)."""
    return f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"


def temp_path_for(final: Path) -> Path:
    """A unique temporary path beside ``final`` that keeps its extension and fits the file system."""
    final = Path(final)
    limit = name_max(final.parent)
    check_name_fits(final, limit)
    stem = temp_stem()
    name = f"{stem}-{final.name}"
    if len(os.fsencode(name)) > limit:
        suffix = final.suffix if len(os.fsencode(final.suffix)) <= 32 else ""
        room = limit - len(os.fsencode(f"{stem}-{suffix}"))
        short = os.fsencode(final.name[: len(final.name) - len(suffix)])[:max(0, room)]
        name = f"{stem}-{short.decode('utf-8', errors='ignore')}{suffix}"
    return final.with_name(name)


def is_temp_name(name: str) -> bool:
    """True for names ``temp_path_for`` / ``temp_stem`` make (and tools' suffixes on them)."""
    return TEMP_NAME.match(name) is not None


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``final``, on error delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(final)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes_atomic(final: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(final: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``final`` atomically (no newline translation)."""
    write_bytes_atomic(final, text.encode(encoding))


def _alive(pid: int) -> bool:
    """True when a process ``pid`` other than this one runs (its temporary files are in use)."""
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < (1 << 22) and not _zombie(pid)
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """True for a process that has exited but not been reaped (a SIGKILLed worker whose parent died
    too, in a container whose init does not reap): it writes nothing any more."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3]
    return state in (b"Z", b"X")


def sweep_temp_files(root: str | os.PathLike[str]) -> int:
    """Delete avdata's leftover temporary files below ``root``; return how many were removed.

    Only names with avdata's marker are touched, and only those of processes that no longer run
    (another run writing into the same tree keeps its files); symlinked folders are not entered.
    """
    removed = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            m = TEMP_NAME.match(name)
            if m is None or _alive(int(m.group("pid"))):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed


def remove_own_files(folder: str | os.PathLike[str], names: re.Pattern[str]) -> None:
    """Remove the files of ``folder`` whose names a stage gives its own files (``names``) and avdata's
    temporaries, then ``folder`` itself if nothing else is in it: a user's files there stay.
    A symlinked folder is not entered."""
    path = Path(folder)
    if not path.is_dir() or path.is_symlink():
        return
    for entry in path.iterdir():
        if names.fullmatch(entry.name) or is_temp_name(entry.name):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                entry.unlink()
    with contextlib.suppress(OSError):
        path.rmdir()
