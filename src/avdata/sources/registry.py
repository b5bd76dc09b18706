"""Registry of published list formats: one reader and one writer per format name.

A format module registers itself with ``@register_reader("name")`` / ``@register_writer("name")``;
the ingest and export stages look formats up by name (no if/elif chains).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import AvdataError
from avdata.sources.ontology import Ontology
from avdata.sources.problems import Problems

FORMAT_MODULES = ("audioset", "audiocaps", "audioscope", "mixit")
# formats written from an index file and its media root (not from a clip table): export only
INDEX_FORMAT_MODULES = ("lhotse",)


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader accepts (each uses those that apply to it).

    ``split`` overrides the split told by file names; ``segments`` are AudioSet segment files whose
    labels are joined to AudioCaps clips; ``ontology`` is used to report unknown label ids;
    ``block_bytes`` sets the block size of readers that parse in blocks (None: their default).
    """

    split: str | None = None
    segments: tuple[str, ...] = ()
    ontology: Ontology | None = None
    threads: int = 2
    block_bytes: int | None = None


Reader = Callable[[Sequence[str], ReadOptions, Problems], pa.Table]
# A stream reader yields, in order, the blocks of the table its reader would give with unique
# clip ids (``make_unique``); a block's schema metadata may carry origin notes (``origins``).
StreamReader = Callable[[Sequence[str], ReadOptions, Problems], Iterator[pa.Table]]
Writer = Callable[[pa.Table, "str | os.PathLike[str]"], int]
_READERS: dict[str, Reader] = {}
_STREAM_READERS: dict[str, StreamReader] = {}
_WRITERS: dict[str, Writer] = {}
# (index file, media root, output, problems, root=, absolute=) -> lines written; bad lines go to problems
IndexWriter = Callable[..., int]
_INDEX_WRITERS: dict[str, IndexWriter] = {}


def register_reader(name: str) -> Callable[[Reader], Reader]:
    def deco(fn: Reader) -> Reader:
        _READERS[name] = fn
        return fn
    return deco


def register_stream_reader(name: str) -> Callable[[StreamReader], StreamReader]:
    """Register a block-by-block reader for a format (optional; the ingest stage prefers it)."""
    def deco(fn: StreamReader) -> StreamReader:
        _STREAM_READERS[name] = fn
        return fn
    return deco


def register_writer(name: str) -> Callable[[Writer], Writer]:
    def deco(fn: Writer) -> Writer:
        _WRITERS[name] = fn
        return fn
    return deco


def register_index_writer(name: str) -> Callable[[IndexWriter], IndexWriter]:
    """Register a writer of a format made from an index file and its media (``INDEX_FORMAT_MODULES``)."""
    def deco(fn: IndexWriter) -> IndexWriter:
        _INDEX_WRITERS[name] = fn
        return fn
    return deco


def get_index_writer(name: str) -> IndexWriter | None:
    """The index writer of ``name``, or None when ``name`` is written from a clip table."""
    if name in INDEX_FORMAT_MODULES:
        importlib.import_module(f"avdata.sources.{name}")
    return _INDEX_WRITERS.get(name)


def _load(name: str | None = None) -> None:
    """Import the module of format ``name`` (every format module when ``name`` is not one)."""
    for mod in (name,) if name in FORMAT_MODULES else FORMAT_MODULES:
        importlib.import_module(f"avdata.sources.{mod}")


def get_reader(name: str) -> Reader:
    _load(name)
    if name not in _READERS:
        raise AvdataError(f"unknown input format {name!r}; known: {', '.join(sorted(_READERS))}")
    return _READERS[name]


def get_stream_reader(name: str) -> StreamReader | None:
    """The format's stream reader, or None when it has only a whole-table reader."""
    get_reader(name)
    return _STREAM_READERS.get(name)


def get_writer(name: str) -> Writer:
    _load(name)
    if name not in _WRITERS:
        raise AvdataError(f"unknown output format {name!r}; known: {', '.join(sorted(_WRITERS))}")
    return _WRITERS[name]


def format_names() -> list[str]:
    _load()
    return sorted(set(_READERS) | set(_WRITERS))


def require_source_kind(table: pa.Table, kind: str, fmt: str) -> None:
    """Refuse to write a ``fmt`` list from rows whose sources are not of ``kind`` (``youtube`` ids
    or video ``path``s): an AudioSet table exported as a MixIT list would write YouTube ids as paths."""
    if not table.num_rows:
        return
    kinds = pc.value_counts(table.column("source_kind")).to_pylist()
    wrong = sum(k["counts"] for k in kinds if k["values"] != kind)
    if wrong:
        raise AvdataError(f"cannot write a {fmt} list: it needs {_KIND_NAMES.get(kind, kind)}, but {wrong} of "
                          f"{table.num_rows} row(s) have other sources (e.g. {_first_other(table, kind)!r})")


_KIND_NAMES = {"youtube": "YouTube ids", "path": "video paths"}


def _first_other(table: pa.Table, kind: str) -> str:
    mask = pc.not_equal(table.column("source_kind"), kind)
    return table.filter(mask).column("source")[0].as_py()
