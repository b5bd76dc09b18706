"""Recognise what kind of file a list is from its first lines, before reading it.

Each list format registers a *sniffer* (``@register_sniffer("name")``): a function that says, for
one parsed CSV row, whether it is a row of that format. ``sniff_file`` reads the first
``SAMPLE_ROWS`` data rows of a file (comment and blank lines skipped, the messy variants the readers
take: CRLF, BOM, spreadsheet re-exports) and scores every format on them. It also tells files that
are no CSV list at all: Parquet, JSON (AudioSet's ontology, a VIP-ANT index file), binary.

``check_kind(path, format)`` is what ``avdata ingest`` calls for each input: it returns quietly when
the file looks like ``format`` (or is empty), and raises one ``WrongKindError`` naming the file and
what it looks like (with the command to use) when it clearly is something else, or when most of the
first rows are not ``format`` rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from avdata.errors import InputError
from avdata.registry import Registry
from avdata.sources.registry import FORMAT_MODULES

SAMPLE_BYTES = 1 << 16
SAMPLE_ROWS = 20
MOSTLY = 0.5            # below this share of good rows a file is not of the format asked for
CLEARLY = 0.8           # at or above this share of rows another format is what the file is

# lists avdata has no reader for yet, told by their header so that the message can say what they are
KNOWN_HEADERS: tuple[tuple[bytes, str], ...] = ()

RowSniffer = Callable[[list[str]], bool]
VIPANT_KIND = "a VIP-ANT index file (JSON lines; `avdata ingest vipant` reads it; see also `avdata embed`)"
SNIFFERS: Registry[RowSniffer] = Registry("list sniffer", "avdata.formats",
                                          tuple(f"avdata.sources.{m}" for m in FORMAT_MODULES))
# kinds that have no reader (yet), so that the message can still say what a file is
_DESCRIPTIONS: dict[str, str] = {
    "audioset": "an AudioSet segments file (YTID, start, end, labels)",
    "audiocaps": "an AudioCaps captions file (audiocap_id, youtube_id, start_time, caption)",
    "audioscope": "an AudioScope clip list (video path, start, end)",
    "mixit": "a MixIT YFCC100M clip list (video path, start, end, offset)",
}


class WrongKindError(InputError):
    """A list file that is not of the format asked for (nothing was written)."""


def register_sniffer(name: str, description: str | None = None) -> Callable[[RowSniffer], RowSniffer]:
    """Register the row test of format ``name`` (``description`` says what such a file is)."""
    def deco(fn: RowSniffer) -> RowSniffer:
        SNIFFERS.add(name, fn)
        if description:
            _DESCRIPTIONS[name] = description
        return fn
    return deco


@dataclass(frozen=True)
class Sniffed:
    """What the first lines of a file look like: ``other`` (Parquet, JSON, binary ...) or CSV rows
    with each registered format's share of matching rows."""

    rows: int
    scores: dict[str, float]
    other: str | None = None         # a description when the file is no CSV list at all
    first_bad: str = ""              # the first row that matched no format, for the message
    judged: dict[str, int] = field(default_factory=dict)    # rows each score was taken over


def _read_sample(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(SAMPLE_BYTES)


def _not_a_list(data: bytes) -> str | None:
    """A description of ``data`` when it is not a text list (Parquet, JSON, binary), else None."""
    if data.startswith(b"PAR1"):
        return "a Parquet file (a clip table? see `avdata info FILE`)"
    if data[:4] in (b"PK\x03\x04", b"\x1f\x8b\x08\x00") or data[:3] == b"\x1f\x8b\x08":
        return "a compressed archive (zip or gzip); unpack it first"
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    for header, kind in KNOWN_HEADERS:
        if text[:200].lower().startswith(header):
            return kind
    if b"\x00" in data[:4096]:
        return "a binary file"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(data) - 4 and sum(b > 127 for b in data[:4096]) > len(data[:4096]) // 4:
            return "a binary file"
    if text[:1] in (b"{", b"["):
        return _json_kind(text)
    return None


def _json_kind(text: bytes) -> str:
    first = text.split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and {"dir", "id"} <= set(obj) and ("aclip" in obj or "frame" in obj):
        return VIPANT_KIND
    if b'"child_ids"' in text[:SAMPLE_BYTES] or (b'"id"' in text[:2000] and b'"name"' in text[:2000]):
        return "AudioSet's ontology.json (give it with --ontology)"
    return "a JSON file"


def _rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(data) == SAMPLE_BYTES:
        lines = lines[:-1]                  # the last line may be cut
    lines = [x for x in lines if x.strip() and not x.lstrip().startswith("#")]
    rows = []
    for row in csv.reader(io.StringIO("\n".join(lines[:SAMPLE_ROWS + 1]))):
        rows.append([f.strip().strip("\ufeff") for f in row])
    return rows[:SAMPLE_ROWS + 1]


def sniff_file(path: str | os.PathLike[str]) -> Sniffed:
    """Score every registered format on the first rows of ``path`` (see the module docstring)."""
    sniffers = dict(SNIFFERS.items())
    data = _read_sample(path)
    other = _not_a_list(data)
    if other is not None:
        return Sniffed(0, {}, other)
    rows = _rows(data)
    if not rows:
        return Sniffed(0, {})
    scores, judged, first_bad = {}, {}, ""
    for name, test in sniffers.items():
        good = [_safe(test, r) for r in rows]
        # a header line is not a data row: judge a format on the rest when its first row fails
        good = good[1:] if not good[0] and len(rows) > 1 else good[:SAMPLE_ROWS]
        scores[name], judged[name] = sum(good) / len(good), len(good)
    for r in rows[1:]:
        if not any(_safe(t, r) for t in sniffers.values()):
            first_bad = ",".join(r)[:80]
            break
    return Sniffed(len(rows), scores, None, first_bad, judged)


def _safe(test: RowSniffer, row: list[str]) -> bool:
    try:
        return bool(test(row))
    except (ValueError, TypeError, IndexError):
        return False


def describe(name: str) -> str:
    if name == "vipant":
        return "a VIP-ANT index file"
    return _DESCRIPTIONS.get(name, f"a {name} list")


def check_kind(path: str | os.PathLike[str], fmt: str, command: str = "avdata ingest") -> None:
    """Raise WrongKindError (one line) unless ``path`` looks like a ``fmt`` list (see the module
    docstring); a file with no rows passes (the reader says what it finds)."""
    found = sniff_file(path)
    if fmt == "vipant":                      # JSON lines, not a CSV list: told by the first line alone
        if found.other == VIPANT_KIND or (found.other is None and not found.rows):
            return
        best = max(((s, n) for n, s in found.scores.items()), default=(0.0, ""))
        if found.other is None and best[0] >= CLEARLY:
            raise WrongKindError(f"{path}: this looks like {describe(best[1])}, not {describe(fmt)}; "
                                 f"use `{command} {best[1]} {os.path.basename(path)}`; nothing written")
        if found.other is not None or best[0] >= MOSTLY:
            what = found.other or describe(best[1])
            raise WrongKindError(f"{path}: this looks like {what}, not {describe(fmt)}; nothing written")
        n = min(found.rows, SAMPLE_ROWS)
        raise WrongKindError(f"{path}: {n} of the first {n} rows are not JSON index lines; this looks like a CSV "
                             f"list, not {describe(fmt)}; nothing written")
    if found.other is not None:
        raise WrongKindError(f"{path}: this looks like {found.other}, not {describe(fmt)}; nothing written")
    if not found.rows or fmt not in found.scores or found.scores[fmt] >= MOSTLY:
        return
    best = max(((s, n) for n, s in found.scores.items() if n != fmt), default=(0.0, ""))
    if best[0] >= CLEARLY:
        raise WrongKindError(f"{path}: this looks like {describe(best[1])}, not {describe(fmt)}; "
                             f"use `{command} {best[1]} {os.path.basename(path)}`; nothing written")
    n = found.judged[fmt]
    bad = round((1 - found.scores[fmt]) * n)
    example = f" (e.g. {found.first_bad!r})" if found.first_bad else ""
    raise WrongKindError(f"{path}: {bad} of the first {n} rows are not {fmt} rows{example}, so this is "
                         f"not {describe(fmt)}; nothing written")


def sniffer_names() -> list[str]:
    return SNIFFERS.names()


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "infinity")


def looks_like_path(text: str) -> bool:
    return "/" in text or text.lower().endswith((".mp4", ".mkv", ".webm", ".avi", ".mov"))


def clip_columns(row: Sequence[str], per_clip: int) -> bool:
    """``row`` is one or two clips of ``per_clip`` fields each: a video path then numbers."""
    if len(row) not in (per_clip, 2 * per_clip):
        return False
    for k in range(0, len(row), per_clip):
        clip = row[k:k + per_clip]
        if not looks_like_path(clip[0]) or not all(is_number(x) for x in clip[1:]):
            return False
    return True
