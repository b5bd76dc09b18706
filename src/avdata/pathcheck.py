"""Check a command's input and output paths before any work starts (one mechanism for every stage).

``input_problem`` says what is wrong with a path given as an input file (missing, a directory, a
FIFO, a device, no permission), so a reader can report it and go on with the other inputs.
``check_outputs`` refuses, with one line naming the path and the reason, an output that cannot be
written (read-only or immutable folder, a file where a folder is needed, a folder where a file is
needed) or that is one of the inputs (also through symlinks or ``./`` spellings): a command that
cannot run writes nothing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from avdata.errors import InputError, OutputError

FILE = "file"
DIR = "dir"
PROBE_PREFIX = ".avdata-probe-"

_KINDS = ((stat.S_ISDIR, "is a directory"), (stat.S_ISFIFO, "is a named pipe (FIFO)"),
          (stat.S_ISCHR, "is a character device"), (stat.S_ISBLK, "is a block device"),
          (stat.S_ISSOCK, "is a socket"))


def _kind(mode: int) -> str | None:
    """What a non-regular file is (None for a regular file)."""
    for test, text in _KINDS:
        if test(mode):
            return text
    return None if stat.S_ISREG(mode) else "is not a regular file"


def _reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower() if e.errno != errno.ENOENT else "no such file or directory"


def input_problem(path: str | os.PathLike[str]) -> str | None:
    """None if ``path`` is a regular file this process can read, else the reason in a few words."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else "no such file"
    except OSError as e:
        return _reason(e)
    kind = _kind(st.st_mode)
    if kind is not None:
        return f"{kind}, not a regular file"
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        return f"cannot be read: {_reason(e)}"
    return None


def check_input(path: str | os.PathLike[str], what: str = "input") -> None:
    """Raise InputError (one line) unless ``path`` is a readable regular file."""
    problem = input_problem(path)
    if problem is not None:
        raise InputError(f"cannot read {what} {path}: {problem}")


@dataclass(frozen=True)
class Output:
    """An output of a command: ``path``, a ``file`` or a ``dir``, and ``what`` names it for the user
    (the option, e.g. ``-o``)."""

    path: str | os.PathLike[str]
    kind: str = FILE
    what: str = "output"


def _same(a: Path, b: str | os.PathLike[str]) -> bool:
    """Are ``a`` and ``b`` the same file (through links, ``./`` spellings, hard links)?"""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _probe(folder: Path) -> str | None:
    """Can a file be created in ``folder``? None if so, else the reason (the probe is removed)."""
    try:
        fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
    except OSError as e:
        return _reason(e)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def _existing_ancestor(path: Path) -> tuple[Path, str | None]:
    """The nearest folder above ``path`` that exists, or a reason when a file is in the way."""
    for parent in path.absolute().parents:
        try:
            st = os.stat(parent)
        except FileNotFoundError:
            continue
        except OSError as e:
            return parent, f"{parent}: {_reason(e)}"
        if not stat.S_ISDIR(st.st_mode):
            return parent, f"{parent} is not a directory"
        return parent, None
    return Path("/"), None


def output_problem(out: Output, inputs: Iterable[str | os.PathLike[str]] = ()) -> str | None:
    """None if ``out`` can be written without harming an input, else the reason."""
    path = Path(out.path)
    if str(out.path) == "":
        return "empty path"
    for inp in inputs:
        if inp is not None and os.path.exists(inp) and _same(path, inp):
            return f"is also an input ({inp}); choose another output"
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        return _reason(e)
    if st is not None:
        kind = _kind(st.st_mode)
        if out.kind == DIR and kind != "is a directory":
            return f"{kind or 'is a file'}, not a directory"
        if out.kind == FILE and kind is not None:
            return f"{kind}, not a regular file"
        if out.kind == DIR:
            return _probe(path)
        if not os.access(path, os.W_OK):
            return "the file cannot be replaced (read-only or immutable)"
    folder, problem = _existing_ancestor(path)
    return problem or _probe(folder)


def check_outputs(outputs: Sequence[Output], inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Raise OutputError (one line: which output, its path, the reason) for the first output that
    cannot be written or is one of ``inputs``; nothing is created."""
    inputs = [i for i in inputs if i is not None]
    for out in outputs:
        if out.path is None:
            continue
        problem = output_problem(out, inputs)
        if problem is not None:
            raise OutputError(f"cannot write {out.what} {out.path}: {problem}")
