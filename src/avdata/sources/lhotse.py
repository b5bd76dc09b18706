"""Export an index file to lhotse manifests (``avdata export lhotse INDEX.csv --media DIR -o DIR``).

Writes, in the output folder, JSON lines that ``lhotse.load_manifest`` reads:

- ``{stem}_recordings.jsonl``: one ``Recording`` per index line: id ``{id}_{clip}`` (as shard keys),
  one file source (``aclip[0]``), its channels, sample rate and exact sample count (the clip is
  decoded once to count them; lhotse checks ``duration = num_samples / rate``).
- ``{stem}_supervisions.jsonl``: one ``SupervisionSegment`` per recording covering it whole:
  ``text`` the first caption (caption sets), ``custom`` = ``labels`` (ontology ids),
  ``label_names``, ``captions``, ``bos``, ``eos``, ``frames`` and the 0-based ``index_line``.
- ``{stem}_cuts.jsonl.gz``: one cut per recording with its supervision (``MonoCut``; a stereo clip
  is a ``MultiCut``), what ``lhotse.CutSet.from_file`` reads.

Paths (audio sources, frames) are relative to ``root`` (default: the output folder), so the export
can move with the media: ``CutSet.from_file(...).with_recording_path_prefix(ROOT)`` from anywhere;
``root=None`` with ``absolute=True`` writes absolute paths. Video is left out: lhotse decodes video
through torchaudio, which does not install beside the pinned torch here (see docs/loaders.md).

Lines whose audio is missing or does not decode are reported (file and line) and left out.
The probing runs on an executor in chunks of lines, with a progress bar; both files are written
atomically at the end (a rerun probes again).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avdata.atomic import write_bytes_atomic, write_text_atomic
from avdata.errors import InputFormatError
from avdata.executors import get_executor
from avdata.paths import safe_join, safe_name
from avdata.progress import progress
from avdata.sources.ontology import Ontology
from avdata.sources.problems import Problems
from avdata.sources.registry import register_index_writer

CHUNK_LINES = 256


@dataclass(frozen=True)
class ProbeChunk:
    index: str
    media: str
    first: int
    stop: int


def _clip_path(media: str, rec: dict, kind: str, name: str) -> Path:
    rel_dir = f"{rec['dir']}/" if rec.get("dir") else ""
    return safe_join(media, f"{rel_dir}{kind}/{safe_name(str(rec['id']))}.{name}", follow_links=True).resolve()


def probe_chunk(chunk: ProbeChunk) -> list[tuple[int, dict | None, str]]:
    """(line, {recording, supervision} or None, error) for lines first..stop-1 (pure)."""
    from avdata.loaders.lazy_index import LazyIndex  # imported when used: `avdata ingest` needs no PyAV
    from avdata.media.inspect import check_audio

    index = LazyIndex(chunk.index)
    out: list[tuple[int, dict | None, str]] = []
    for line in range(chunk.first, chunk.stop):
        try:
            rec = index.record(line)
            audio = _clip_path(chunk.media, rec, "aclip", str((rec.get("aclip") or [""])[0]))
            frames = [str(_clip_path(chunk.media, rec, "frame", str(f))) for f in rec.get("frame") or []]
        except Exception as e:  # noqa: BLE001 -- any bad line is reported, the export goes on
            out.append((line, None, e.reason if isinstance(e, InputFormatError) else f"{type(e).__name__}: {e}"))
            continue
        check = check_audio(audio)
        if not check.ok:
            out.append((line, None, f"{check.code}: {check.message}"))
            continue
        out.append((line, {"rec": rec, "audio": str(audio), "frames": frames, "rate": check.sample_rate,
                           "samples": check.samples, "channels": check.channels}, ""))
    return out


def _manifests(line: int, key: str, probe: dict, place: Callable[[str], str], names: Callable[[str], str]
               ) -> tuple[dict, dict, dict]:
    rec, rate, samples = probe["rec"], probe["rate"], probe["samples"]
    duration = samples / rate
    channels = list(range(probe["channels"]))
    recording = {"id": key, "sources": [{"type": "file", "channels": channels, "source": place(probe["audio"])}],
                 "sampling_rate": rate, "num_samples": samples, "duration": duration, "channel_ids": channels}
    captions = list(rec.get("captions") or [])
    supervision: dict = {"id": key, "recording_id": key, "start": 0.0, "duration": duration,
                         "channel": channels[0] if len(channels) == 1 else channels}
    if captions:
        supervision["text"] = captions[0]
    labels = [str(x) for x in rec.get("labels") or []]
    supervision["custom"] = {"labels": labels, "label_names": [names(x) for x in labels], "captions": captions,
                             "bos": rec.get("bos"), "eos": rec.get("eos"),
                             "frames": [place(f) for f in probe["frames"]], "index_line": line}
    channel = channels[0] if len(channels) == 1 else channels
    cut = {"id": key, "start": 0, "duration": duration, "channel": channel, "supervisions": [supervision],
           "recording": recording, "type": "MonoCut" if len(channels) == 1 else "MultiCut"}
    return recording, supervision, cut


def path_placer(root: str | os.PathLike[str] | None) -> Callable[[str], str]:
    """Absolute path -> as written: relative to ``root`` (``..`` where needed), or absolute (None)."""
    if root is None:
        return str
    base = os.path.abspath(root)
    return lambda p: os.path.relpath(p, base)


@register_index_writer("lhotse")
def write_lhotse(index: str, media: str, output: str, problems: Problems, *, executor: str = "local",
                 workers: int | None = None, root: str | os.PathLike[str] | None = None,
                 absolute: bool = False) -> int:
    """Write the recordings, supervisions and cuts manifests of ``index``; return how many lines.
    Paths are relative to ``root`` (default: ``output``), or absolute with ``absolute``."""
    from avdata.loaders.lazy_index import LazyIndex
    from avdata.loaders.shards import sample_key

    lazy = LazyIndex(index)
    n = len(lazy)
    chunks = [ProbeChunk(str(index), str(media), i, min(i + CHUNK_LINES, n)) for i in range(0, n, CHUNK_LINES)]
    results: dict[int, tuple[dict | None, str]] = {}
    pool = get_executor(executor, **({"workers": workers} if executor == "local" else {}))
    with progress(n, "lhotse", unit="line") as bar:
        for rows in pool.map_unordered(probe_chunk, chunks):
            for line, probe, error in rows:
                results[line] = (probe, error)
            bar.update(len(rows))
    recordings: list[str] = []
    supervisions: list[str] = []
    cuts: list[str] = []
    used: set[str] = set()
    place = path_placer(None if absolute else (root if root is not None else output))
    ontology = Ontology.load(None)
    for line in range(n):
        probe, error = results[line]
        if probe is None:
            problems.error(str(index), line + 1, f"left out: {error}")
            continue
        rec_m, sup_m, cut_m = _manifests(line, sample_key(probe["rec"], used, line), probe, place, ontology.name)
        recordings.append(json.dumps(rec_m) + "\n")
        supervisions.append(json.dumps(sup_m) + "\n")
        cuts.append(json.dumps(cut_m) + "\n")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(index).stem
    write_text_atomic(out / f"{stem}_recordings.jsonl", "".join(recordings))
    write_text_atomic(out / f"{stem}_supervisions.jsonl", "".join(supervisions))
    # mtime 0 in the gzip header: the same export gives the same bytes
    write_bytes_atomic(out / f"{stem}_cuts.jsonl.gz", gzip.compress("".join(cuts).encode("utf-8"), mtime=0))
    return len(recordings)
