"""Registry of published list formats: one reader and one writer per format name.

A format module registers itself with ``@register_reader("name")`` / ``@register_writer("name")``;
the ingest and export stages look formats up by name (no if/elif chains).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import AvdataError
from avdata.registry import Registry
from avdata.sources.ontology import Ontology
from avdata.sources.problems import Problems

FORMAT_MODULES = ("audioset", "audiocaps", "audioscope", "mixit", "vipant", "vggsound", "kinetics",
                  "audioset_strong", "epic_sounds")
# formats written from an index file and its media root (not from a clip table): export only
INDEX_FORMAT_MODULES = ("lhotse", "hf")


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
    weights: tuple[str, ...] = ()        # vipant: a weights file per index file, line-aligned, in order


Reader = Callable[[Sequence[str], ReadOptions, Problems], pa.Table]
# A stream reader yields, in order, the blocks of the table its reader would give with unique
# clip ids (``make_unique``); a block's schema metadata may carry origin notes (``origins``).
StreamReader = Callable[[Sequence[str], ReadOptions, Problems], Iterator[pa.Table]]
Writer = Callable[[pa.Table, "str | os.PathLike[str]"], int]
# (index file, media root, output, problems, root=, absolute=) -> lines written; bad lines go to problems
IndexWriter = Callable[..., int]
_BUILTINS = tuple(f"avdata.sources.{m}" for m in FORMAT_MODULES + INDEX_FORMAT_MODULES)
# one registry per role; a format plugin is a module (entry point group ``avdata.formats``) that
# registers its reader and writer (and optionally a stream reader, index writer, sniffer) on import
READERS: Registry[Reader] = Registry("input format", "avdata.formats", _BUILTINS)
STREAM_READERS: Registry[StreamReader] = Registry("stream reader", "avdata.formats", _BUILTINS)
WRITERS: Registry[Writer] = Registry("output format", "avdata.formats", _BUILTINS)
INDEX_WRITERS: Registry[IndexWriter] = Registry("index export format", "avdata.formats", _BUILTINS)


@dataclass(frozen=True)
class Subset:
    """A named class subset of a format (``avdata ingest FORMAT --subset NAME``): the rows with one
    of ``labels()`` are kept; ``note()`` is said when it is used (e.g. names that map to no class)."""

    format: str
    labels: Callable[[], Sequence[str]]
    note: Callable[[], str] = lambda: ""


SUBSETS: Registry[Subset] = Registry("subset", "avdata.formats", _BUILTINS)


def register_subset(name: str, subset: Subset) -> Subset:
    return SUBSETS.register(name)(subset)


def subset_names() -> list[str]:
    return SUBSETS.names()


def get_subset(name: str, fmt: str) -> Subset:
    """The subset ``name`` of format ``fmt``; AvdataError names the subsets ``fmt`` has."""
    subset = SUBSETS.get(name)
    if subset.format != fmt:
        own = [n for n in SUBSETS.names() if SUBSETS.get(n).format == fmt]
        raise AvdataError(f"--subset {name} is a subset of {subset.format}, not of {fmt} "
                          f"({fmt} has {', '.join(own) if own else 'none'})")
    return subset


def keep_subset(table: pa.Table, labels: Sequence[str]) -> pa.Table:
    """The rows of ``table`` with at least one label in ``labels``."""
    if not table.num_rows:
        return table
    flat = pc.list_flatten(table.column("labels"))
    parents = pc.list_parent_indices(table.column("labels"))
    hit = pc.is_in(flat, value_set=pa.array(list(labels), pa.string()))
    return table.take(pc.unique(pc.filter(parents, hit)))       # parents ascend: rows stay in order


def register_reader(name: str) -> Callable[[Reader], Reader]:
    return READERS.register(name)


def register_stream_reader(name: str) -> Callable[[StreamReader], StreamReader]:
    """Register a block-by-block reader for a format (optional; the ingest stage prefers it)."""
    return STREAM_READERS.register(name)


def register_writer(name: str) -> Callable[[Writer], Writer]:
    return WRITERS.register(name)


def register_index_writer(name: str) -> Callable[[IndexWriter], IndexWriter]:
    """Register a writer of a format made from an index file and its media (``INDEX_FORMAT_MODULES``)."""
    return INDEX_WRITERS.register(name)


def get_index_writer(name: str) -> IndexWriter | None:
    """The index writer of ``name``, or None when ``name`` is written from a clip table."""
    return INDEX_WRITERS.find(name)


def get_reader(name: str) -> Reader:
    return READERS.get(name)


def get_stream_reader(name: str) -> StreamReader | None:
    """The format's stream reader, or None when it has only a whole-table reader."""
    get_reader(name)
    return STREAM_READERS.find(name)


def get_writer(name: str) -> Writer:
    return WRITERS.get(name)


def format_names() -> list[str]:
    """Formats ``avdata ingest`` reads (built-in and plugins)."""
    return READERS.names()


def export_format_names() -> list[str]:
    """Formats ``avdata export`` writes: from a clip table, or from an index file (lhotse)."""
    return sorted(set(WRITERS.names()) | set(INDEX_WRITERS.names()))


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
