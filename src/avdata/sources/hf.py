"""``avdata export hf INDEX... --media ROOT -o DIR``: a folder in the Hugging Face Hub's dataset layout.

``DIR/data/{split}-NNNNN-of-MMMMM.parquet`` (bounded size: a new file past ``MAX_FILE_BYTES``, row
groups of at most ``ROW_GROUP_BYTES``) with the columns ``id``, ``audio`` (``{bytes, path}``: the
clip's MP3 as written), ``frames`` (a list of ``{bytes, path}``: the JPEGs), ``labels`` (names),
``label_ids`` (ontology ids), ``captions``, ``youtube_id``, ``start``, ``end``, ``weight``; the
features are declared in each file's ``huggingface`` schema metadata and in ``DIR/README.md``,
whose YAML front matter names the configs, splits and features, the source list's license and
citation, and the build (avdata version, each index file's SHA-256, a SHA-256 over every exported
media byte). ``datasets.load_dataset(DIR)`` reads it without any code of ours;
``push_to_hub`` is the user's only remaining step. The split of an index file is its name's
(``src_eval_segments.csv`` -> ``eval``). Lines without media are reported and left out.

``DIR/avdata_export.json`` lists the files an export wrote; a rerun replaces exactly those, and a
``data/`` folder holding Parquet files avdata did not write is refused (they would join a split).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import avdata
from avdata.atomic import write_text_atomic
from avdata.embed import media_for_line
from avdata.embed.base import file_sha256
from avdata.errors import AvdataError, OutputError
from avdata.progress import progress
from avdata.sources.ontology import Ontology
from avdata.sources.problems import Problems
from avdata.sources.registry import register_index_writer
from avdata.sources.vipant import split_of

MAX_FILE_BYTES = 500 * 1000 * 1000
ROW_GROUP_BYTES = 64 * 1000 * 1000
MARKER = "avdata_export.json"
_FILE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema([
    ("id", pa.string()), ("audio", _FILE), ("frames", pa.list_(_FILE)), ("labels", pa.list_(pa.string())),
    ("label_ids", pa.list_(pa.string())), ("captions", pa.list_(pa.string())), ("youtube_id", pa.string()),
    ("start", pa.float64()), ("end", pa.float64()), ("weight", pa.float64()),
])
FEATURES: dict[str, Any] = {
    "id": {"dtype": "string", "_type": "Value"}, "audio": {"_type": "Audio"},
    "frames": {"feature": {"_type": "Image"}, "_type": "List"},
    "labels": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
    "label_ids": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
    "captions": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
    "youtube_id": {"dtype": "string", "_type": "Value"}, "start": {"dtype": "float64", "_type": "Value"},
    "end": {"dtype": "float64", "_type": "Value"}, "weight": {"dtype": "float64", "_type": "Value"},
}
# The README's features, in the Hub's YAML spelling
_YAML_FEATURES = [("id", "dtype: string"), ("audio", "dtype: audio"), ("frames", "list: image"),
                  ("labels", "list: string"), ("label_ids", "list: string"), ("captions", "list: string"),
                  ("youtube_id", "dtype: string"), ("start", "dtype: float64"), ("end", "dtype: float64"),
                  ("weight", "dtype: float64")]
SOURCES = {   # dataset -> (license id on the Hub, the list's citation)
    "audioset": ("cc-by-4.0", "Gemmeke et al., Audio Set: An ontology and human-labeled dataset for audio "
                              "events, ICASSP 2017"),
    "audiocaps": ("mit", "Kim et al., AudioCaps: Generating Captions for Audios in The Wild, NAACL-HLT 2019"),
    "vggsound": ("cc-by-4.0", "Chen et al., VGGSound: A Large-scale Audio-Visual Dataset, ICASSP 2020"),
    "kinetics": ("cc-by-4.0", "Kay et al., The Kinetics Human Action Video Dataset, arXiv:1705.06950, 2017"),
}


@dataclass
class _Split:
    name: str
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0


class _SplitWriter:
    """Rows of one split into bounded Parquet files (temporary names until the split is done)."""

    def __init__(self, out: Path, split: str) -> None:
        self.out, self.split = out, _Split(split)
        self.rows: list[dict[str, Any]] = []
        self.pending = 0
        self.writer: pq.ParquetWriter | None = None
        self.written = 0

    def _open(self) -> pq.ParquetWriter:
        if self.writer is None:
            path = self.out / f".avdata-{self.split.name}-{len(self.split.files):05d}.parquet.tmp"
            self.split.files.append(path)
            meta = {b"huggingface": json.dumps({"info": {"features": FEATURES}}).encode()}
            self.writer = pq.ParquetWriter(path, SCHEMA.with_metadata(meta))
            self.written = 0
        return self.writer

    def add(self, row: dict[str, Any], size: int) -> None:
        self.rows.append(row)
        self.pending += size
        self.split.bytes += size
        if self.pending >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self._open().write_table(pa.Table.from_pylist(self.rows, schema=SCHEMA))
            self.split.rows += len(self.rows)
            self.written += self.pending
            self.rows, self.pending = [], 0
        if self.writer is not None and self.written >= MAX_FILE_BYTES:
            self.writer.close()
            self.writer = None

    def close(self) -> list[Path]:
        """Finish the split; its files get their final names (``{split}-NNNNN-of-MMMMM.parquet``)."""
        self.flush()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if not self.split.files:       # a split with no row still gets one (empty) file
            self._open().close()
            self.writer = None
        n = len(self.split.files)
        final = []
        for k, tmp in enumerate(self.split.files):
            target = tmp.with_name(f"{self.split.name}-{k:05d}-of-{n:05d}.parquet")
            os.replace(tmp, target)
            final.append(target)
        return final


def _previous(out: Path) -> list[str]:
    """The files an earlier export wrote into ``out`` (its marker), checked against ``data/``."""
    try:
        listed = json.loads((out / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        listed = []
    data = out / "data"
    foreign = sorted(p.name for p in data.glob("*.parquet") if f"data/{p.name}" not in listed) if data.is_dir() else []
    if foreign:
        raise OutputError(f"{data} holds Parquet files avdata did not write ({', '.join(foreign[:3])}); they would "
                          "join a split: choose another folder")
    return listed


def _yaml_card(splits: list[_Split], sources: set[str], build: dict[str, Any]) -> str:
    licenses = sorted({SOURCES[s][0] for s in sources if s in SOURCES}) or ["other"]
    lines = ["---", f"license: {licenses[0] if len(licenses) == 1 else 'other'}", "pretty_name: avdata export",
             "tags:", "- audio", "- video", "- audio-visual", "- avdata", "configs:", "- config_name: default",
             "  data_files:"]
    for s in splits:
        lines += [f"  - split: {s.name}", f"    path: data/{s.name}-*.parquet"]
    lines += ["dataset_info:", "  features:"]
    for name, kind in _YAML_FEATURES:
        lines += [f"  - name: {name}", f"    {kind}"]
    lines += ["  splits:"]
    for s in splits:
        lines += [f"  - name: {s.name}", f"    num_bytes: {s.bytes}", f"    num_examples: {s.rows}"]
    lines += ["---", ""]
    cites = [f"- {s}: {SOURCES[s][1]} (list license: {SOURCES[s][0]})" for s in sorted(sources) if s in SOURCES]
    body = ["# avdata export", "",
            "Audio-visual clips cut from the videos a published segment list names, written by avdata: each "
            "row holds the clip's audio (MP3, as written), its frames (JPEG), its labels (names and ontology "
            "ids), captions where the list has them, the source video id and span, and its sampling weight.",
            "", "## Source lists", "", *(cites or ["- (not a known list)"]),
            "", "The videos belong to their uploaders; the lists' licenses cover the annotations.", "",
            "## Build", "", f"- avdata {build['avdata_version']}",
            *(f"- index `{i['file']}` ({i['split']}): {i['lines']} lines, SHA-256 `{i['sha256']}`"
              for i in build["index"]),
            f"- media: SHA-256 over every exported file's bytes, in row order: `{build['media_sha256']}`",
            "", "## Use", "", "    from datasets import load_dataset", '    ds = load_dataset("PATH/OR/HUB/NAME")',
            "    ds.push_to_hub(\"you/name\")      # publishing is the only step left", ""]
    return "\n".join(lines + body)


@register_index_writer("hf")
def write_hf(index: str | list[str] | tuple[str, ...], media: str, output: str, problems: Problems,
             **_: Any) -> int:
    """Write the Hub layout of the index file(s) below ``output``; return how many rows."""
    # imported here: `avdata ingest --help` lists the formats without importing av (through avdata.index)
    from avdata.index.lines import iter_records
    from avdata.weights.files import read_weights, weights_path_for
    paths = [Path(index)] if isinstance(index, (str, os.PathLike)) else [Path(p) for p in index]
    out = Path(output)
    previous = _previous(out)
    names = [split_of(p)[1] for p in paths]
    if len(set(names)) < len(names):
        raise AvdataError(f"export hf: two index files give one split ({', '.join(names)}); export them apart")
    (out / "data").mkdir(parents=True, exist_ok=True)
    ontology = Ontology.load(None)
    digest = hashlib.sha256()
    splits, written, build_index = [], [], []
    total = 0
    for path, split in zip(paths, names):
        weights_file = weights_path_for(path)
        weights = read_weights(weights_file) if weights_file.is_file() else None
        w = _SplitWriter(out / "data", split)
        lines = 0
        with progress(None, f"hf {split}", unit="line") as bar:
            for lineno, rec, err in iter_records(path):
                lines += 1
                bar.update(1)
                if rec is None:
                    problems.error(str(path), lineno, f"left out: {err.reason if err else 'bad line'}")
                    continue
                try:
                    row, size = _row(rec, path, lineno, media, ontology, weights)
                except (AvdataError, OSError) as e:
                    problems.error(str(path), lineno, f"left out: {e}")
                    continue
                digest.update(row["audio"]["bytes"])
                for f in row["frames"]:
                    digest.update(f["bytes"])
                w.add(row, size)
        if weights is not None and len(weights) != lines:
            problems.warn(str(weights_file), None, f"{len(weights)} weights for {lines} lines; weights left null")
        written += w.close()
        splits.append(w.split)
        total += w.split.rows
        build_index.append({"file": path.name, "split": split, "lines": lines, "sha256": file_sha256(path)})
    now = {f"data/{p.name}" for p in written}
    for rel in previous:            # an earlier export's files this one did not write again
        if rel not in now and rel.startswith("data/") and "/" not in rel[5:]:
            (out / rel).unlink(missing_ok=True)
    build = {"avdata_version": avdata.__version__, "index": build_index, "media_sha256": digest.hexdigest()}
    write_text_atomic(out / "README.md", _yaml_card(splits, {split_of(p)[0] for p in paths}, build))
    write_text_atomic(out / MARKER, json.dumps({"files": sorted(now), "build": build}, indent=2) + "\n")
    return total


def _row(rec: dict, path: Path, lineno: int, media: str, ontology: Ontology, weights: Any
         ) -> tuple[dict[str, Any], int]:
    from avdata.index.lines import field_seconds

    m = media_for_line(rec, media)
    if m.audio is None:
        raise AvdataError("the line names no audio clip")
    audio = m.audio.read_bytes()
    frames = [{"bytes": f.read_bytes(), "path": f.name} for f in m.frames]
    ids = [str(x) for x in rec.get("labels") or []]
    start = field_seconds(rec, "bos", path, lineno) if "bos" in rec else None
    end = field_seconds(rec, "eos", path, lineno) if "eos" in rec else None
    weight = float(weights[lineno - 1]) if weights is not None and lineno - 1 < len(weights) else None
    cid = str(rec.get("id") or "")
    row = {"id": cid, "audio": {"bytes": audio, "path": m.audio.name}, "frames": frames,
           "labels": [ontology.name(x) for x in ids], "label_ids": ids,
           "captions": [str(c) for c in rec.get("captions") or []], "youtube_id": cid, "start": start, "end": end,
           "weight": weight}
    return row, len(audio) + sum(len(f["bytes"]) for f in frames)
