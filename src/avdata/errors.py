"""One root error for everything avdata raises on purpose, and its specific kinds.

Every error that concerns an input says where: a file and line, an item id, a path.
Wrap lower-level exceptions with ``raise SomeError(...) from e`` so the cause survives.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AvdataError(Exception):
    """Root of every error avdata raises on purpose."""


class InputFormatError(AvdataError):
    """A line or field of a published list that cannot be read.

    ``str(err)`` is one line: ``FILE:LINE: reason``.
    """

    def __init__(self, file: str, line: int | None = None, reason: str | None = None) -> None:
        if reason is None:      # rebuilt from its message alone (e.g. by a DataLoader worker's re-raise)
            file, reason = "", str(file)
        self.file = str(file)
        self.line = line
        self.reason = reason
        where = f"{self.file}:{line}" if line is not None else self.file
        super().__init__(f"{where}: {reason}" if where else reason)

    def __reduce__(self) -> tuple:
        return type(self), (self.file, self.line, self.reason)


class SchemaError(AvdataError):
    """A table (clip table, manifest) does not have the columns or types a stage needs."""


class OptionError(AvdataError):
    """An option value a stage cannot honour; raised before any work starts (CLI: usage error)."""


class UnsafePathError(AvdataError):
    """A path taken from data would leave its root directory or is not a plain relative path."""


class NameTooLongError(AvdataError):
    """A file name longer than the file system allows (a permanent error: retrying cannot help)."""


class MediaError(AvdataError):
    """A video or audio file that cannot be used; ``code`` is the manifest error code."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if message is None:     # rebuilt from its message alone (e.g. by a DataLoader worker's re-raise)
            code, message = "media_error", code
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    def __reduce__(self) -> tuple:
        return type(self), (self.code, self.message)


class FetchError(AvdataError):
    """A video that could not be fetched; ``error_class`` names the kind, ``transient`` says
    whether retrying may help."""

    def __init__(self, error_class: str, message: str, *, transient: bool = False,
                 retry_after: float | None = None) -> None:
        self.error_class = error_class
        self.message = message
        self.transient = transient
        self.retry_after = retry_after      # seconds the server asked us to wait (Retry-After)
        super().__init__(f"{error_class}: {message}")


class DiskFullError(AvdataError):
    """Not enough free disk space to go on; completed work is kept."""


class MissingExtraError(AvdataError):
    """An optional backend needs a package that is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"this needs the '{package}' package: pip install 'avdata[{extra}]'")


class OutputError(AvdataError):
    """An output path that cannot be written (or would overwrite an input); nothing was written."""


class InputError(AvdataError):
    """An input path that cannot be read (missing, not a regular file, no permission)."""


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` when ``word`` is close to one of ``known``, else ``""``."""
    known = list(known)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6) or \
        [k for k in known if word and k and (word.startswith(k) or k.startswith(word))][:1]
    return f" (did you mean {close[0]}?)" if close and close[0] != word else ""
