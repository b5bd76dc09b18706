"""Audio-visual coincidence scores: how well a clip's sound matches its pictures, per clip.

The score of a clip is the cosine of an embedder's audio part with its image part, so only
embedders whose two parts live in one space (``joint_space``, e.g. ``vipant``) can score; any other
is refused with a clear error before work starts. ``min_score`` marks ``filtered`` (true: kept by
the filter) the way the published AudioScope sets kept clips whose coincidence probability was at
least 0.8. **Scores of different models are not comparable** (nor is a cosine comparable with the
published model's probability): choose the threshold per embedder; the output names the model
(``score_model``, the embedder's fingerprint) beside every score.

Where a clip's media are is a layout, looked up by name (``register_layout``): ``rendered`` (the
default) is a folder written by ``avdata render`` whose ``examples.jsonl`` has one JSON object per
example with ``id`` (the clip id), ``audio`` and ``frames`` relative to that folder; ``index`` is a
VIP-ANT index file (``avdata index``) whose media live below ``media_root`` at
``{dir}/aclip/{id}.{aclip[0]}``, ``{dir}/frame/{id}.{frame}`` (and the ``aclip_128`` /
``frame_224`` features when present).
Per clip a manifest row records the score or why there is none; a rerun with the same model
reuses the scores and retries failures only with ``retry_failed``.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from avdata.embed import get_embedder
from avdata.embed.base import ClipMedia, Embedder
from avdata.errors import AvdataError, InputFormatError, UnsafePathError
from avdata.executors import ExecutorSpec, build_executor
from avdata.loaders.lazy_index import parse_line
from avdata.manifest import STATUS_OK, ManifestWriter, latest, read_manifest
from avdata.pathcheck import DIR, FILE, Output, check_outputs
from avdata.paths import safe_join
from avdata.progress import progress
from avdata.registry import Registry
from avdata.sources.problems import Problems
from avdata.table import read_clips, write_clips

EXAMPLES_INDEX = "examples.jsonl"
SCORE_MANIFEST_SCHEMA = pa.schema([
    pa.field("clip_id", pa.string()),
    pa.field("status", pa.string()),          # ok | no_media | embed_failed | no_parts
    pa.field("error_code", pa.string()),
    pa.field("score", pa.float64()),
    pa.field("embedder", pa.string()),
    pa.field("fingerprint", pa.string()),
    pa.field("message", pa.string()),
    pa.field("finished_at", pa.float64()),
])
MANIFEST_KEYS = ("clip_id",)
NO_MEDIA = "no_media"


@dataclass(frozen=True)
class ScoreOptions:
    """Options of ``score_clips`` (the CLI's flags one to one)."""

    clips: str
    media: str                                     # a rendered examples folder, or an index file
    embedder: str
    layout: str = "rendered"                       # rendered | index (see ``register_layout``)
    media_root: str | None = None                  # index layout: the extraction output root
    params: tuple[tuple[str, str], ...] = ()       # embedder parameters (name, value)
    weights: tuple[str, ...] = ()                  # weights file(s) the embedder needs (vipant, torchscript)
    output: str | None = None                      # default: ``{clips stem}_scored.parquet``
    min_score: float | None = None
    manifest: str | None = None                    # default: next to the output
    executor: str = "inline"
    workers: int | None = None
    ray_address: str | None = None
    retry_failed: bool = False
    show_progress: bool | None = None

    def embedder_args(self) -> tuple[tuple[str, object], ...]:
        """The embedder's parameters, with ``weights`` when files are given."""
        extra = (("weights", tuple(str(w) for w in self.weights)),) if self.weights else ()
        return tuple(self.params) + extra

    def output_path(self) -> Path:
        if self.output:
            return Path(self.output)
        c = Path(self.clips)
        return c.with_name(c.name.split(".")[0] + "_scored.parquet")

    def manifest_path(self) -> Path:
        if self.manifest:
            return Path(self.manifest)
        out = self.output_path()
        return out.with_name(out.name.split(".")[0] + "_score_manifest.parquet")


@dataclass
class ScoreSummary:
    """Clips per status, scores reused from an earlier run, clips kept by ``min_score``."""

    output: Path
    fingerprint: str = ""
    statuses: Counter = field(default_factory=Counter)
    reused: int = 0
    kept: int | None = None
    problems: Problems = field(default_factory=Problems)
    messages: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != STATUS_OK)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())) or "no clips"
        kept = "" if self.kept is None else f"; kept by --min-score: {self.kept}"
        return [f"score ({self.fingerprint}): {counts}; reused: {self.reused}{kept}; wrote {self.output}"]


@dataclass(frozen=True)
class MediaFiles:
    """One clip's media files (absolute paths as strings; None where there is none)."""

    audio: str | None
    frames: tuple[str, ...]
    fbank: str | None = None
    frames_224: str | None = None


@dataclass(frozen=True)
class ScoreTask:
    """One clip to score (picklable): its media and the embedder to build."""

    clip_id: str
    media: MediaFiles
    embedder: str
    params: tuple[tuple[str, object], ...]


@functools.lru_cache(maxsize=2)
def _embedder(name: str, params: tuple[tuple[str, object], ...]) -> Embedder:
    """One embedder per worker process (models are built once, not per clip)."""
    return get_embedder(name, **dict(params))


def check_joint(embedder: Embedder) -> None:
    """Refuse an embedder whose audio and image parts are not in one space."""
    if not getattr(embedder, "joint_space", False):
        raise AvdataError(f"embedder {embedder.name!r} has no joint audio-image space, so its audio and image "
                          f"parts cannot be compared; score with an embedder whose joint_space is true "
                          f"(such as vipant)")


def coincidence(audio: np.ndarray, image: np.ndarray) -> float:
    """Cosine of an audio and an image vector."""
    a = np.asarray(audio, np.float64).ravel()
    b = np.asarray(image, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if a.shape != b.shape or na == 0 or nb == 0:
        raise ValueError(f"audio part {a.shape} and image part {b.shape} cannot be compared")
    return float(np.dot(a, b) / (na * nb))


def score_clip(task: ScoreTask) -> dict:
    """The per-clip job: a manifest row with the score, or why there is none."""
    embedder = _embedder(task.embedder, task.params)
    row = {"clip_id": task.clip_id, "status": STATUS_OK, "error_code": None, "score": None,
           "embedder": task.embedder, "fingerprint": embedder.fingerprint(), "message": "", "finished_at": 0.0}
    m = task.media
    media = ClipMedia(audio=Path(m.audio) if m.audio else None, frames=tuple(Path(f) for f in m.frames),
                      fbank=Path(m.fbank) if m.fbank else None, frames_224=Path(m.frames_224) if m.frames_224 else None)
    try:
        emb = embedder.embed(media)
    except Exception as e:  # noqa: BLE001 - any model failure is this clip's failure, recorded
        row.update(status="embed_failed", error_code="embed_failed", message=f"{task.clip_id}: {type(e).__name__}: {e}")
    else:
        if emb.audio is None or emb.image is None:
            row.update(status="no_parts", error_code="no_parts",
                       message=f"{task.clip_id}: the embedding has no audio or no image part")
        else:
            try:
                row["score"] = coincidence(emb.audio, emb.image)
            except ValueError as e:
                row.update(status="no_parts", error_code="no_parts", message=f"{task.clip_id}: {e}")
    row["finished_at"] = time.time()
    return row


MediaLayout = Callable[[str, "str | None", Problems], dict[str, MediaFiles]]
# the built-in layouts are defined below, in this module
LAYOUTS: Registry[MediaLayout] = Registry("media layout", "avdata.layouts", ("avdata.audioscope.score",))


def register_layout(name: str) -> Callable[[MediaLayout], MediaLayout]:
    """Decorator: a reader ``(media, media_root, problems) -> {clip id: MediaFiles}`` by name."""
    return LAYOUTS.register(name)


def _json_lines(path: Path, problems: Problems,
                parse: Callable[[dict], tuple[str, MediaFiles]]) -> dict[str, MediaFiles]:
    out: dict[str, MediaFiles] = {}
    with open(path, "rb") as fh:      # bytes: a line that is not UTF-8 is reported by parse_line
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                cid, files = parse(parse_line(line, path, line_no))
            except InputFormatError as e:
                problems.error(str(path), line_no, f"not an example line: {e.reason}")
                continue
            except (KeyError, TypeError, IndexError, AttributeError) as e:
                problems.error(str(path), line_no, f"not an example line ({type(e).__name__}: {e})")
                continue
            except UnsafePathError as e:
                problems.error(str(path), line_no, str(e))
                continue
            out[cid] = files
    return out


@register_layout("rendered")
def read_examples(root: str, media_root: str | None, problems: Problems) -> dict[str, MediaFiles]:
    """Example id -> media from ``{root}/examples.jsonl``; bad lines and paths leaving the folder
    are reported as ``FILE:LINE: reason``."""
    index = Path(root) / EXAMPLES_INDEX
    if not index.is_file():
        raise AvdataError(f"{root}: no {EXAMPLES_INDEX} (expected a folder written by avdata render)")

    def parse(obj: dict) -> tuple[str, MediaFiles]:
        audio = str(safe_join(root, obj["audio"], follow_links=True)) if obj.get("audio") else None
        frames = tuple(str(safe_join(root, f, follow_links=True)) for f in obj.get("frames") or ())
        return str(obj["id"]), MediaFiles(audio, frames)

    return _json_lines(index, problems, parse)


@register_layout("index")
def read_index_media(index: str, media_root: str | None, problems: Problems) -> dict[str, MediaFiles]:
    """Clip id -> media of a VIP-ANT index file (see ``avdata.index.entry``) below ``media_root``."""
    if not media_root:
        raise AvdataError(f"{index}: the index layout needs the media root (--media-root)")
    if not Path(index).is_file():
        raise AvdataError(f"{index}: not an index file")

    def under(d: str, kind: str, cid: str, name: str) -> str:
        return str(safe_join(media_root, f"{d}/{kind}/{cid}.{name}", follow_links=True))

    def parse(obj: dict) -> tuple[str, MediaFiles]:
        d, cid = obj["dir"], str(obj["id"])
        audio = under(d, "aclip", cid, obj["aclip"][0]) if obj.get("aclip") else None
        frames = tuple(under(d, "frame", cid, f) for f in obj.get("frame") or ())
        fbank = under(d, "aclip_128", cid, obj["aclip_128"]) if obj.get("aclip_128") else None
        f224 = under(d, "frame_224", cid, obj["frame_224"]) if obj.get("frame_224") else None
        return cid, MediaFiles(audio, frames, fbank, f224)

    return _json_lines(Path(index), problems, parse)


def layout_names() -> list[str]:
    return LAYOUTS.names()


def score_clips(options: ScoreOptions) -> ScoreSummary:
    """Score every clip of the table that has rendered media; write the table with ``score`` and
    ``score_model`` columns (and ``filtered`` when ``min_score`` is given)."""
    args = options.embedder_args()
    embedder = _embedder(options.embedder, args)
    check_joint(embedder)
    fingerprint = embedder.fingerprint()
    summary = ScoreSummary(output=options.output_path(), fingerprint=fingerprint)
    check_outputs([Output(summary.output, FILE, "-o"), Output(options.manifest_path(), DIR, "--manifest")],
                  [p for p in (options.clips, options.media, options.media_root) if p is not None])
    table = read_clips(options.clips)
    examples = LAYOUTS.get(options.layout)(options.media, options.media_root, summary.problems)
    manifest = options.manifest_path()
    old = latest(read_manifest(manifest, SCORE_MANIFEST_SCHEMA), MANIFEST_KEYS).to_pylist()
    rows = {r["clip_id"]: r for r in old if r["fingerprint"] == fingerprint and r["status"] != NO_MEDIA
            and (r["status"] == STATUS_OK or not options.retry_failed)}   # media may have appeared since
    ids = table.column("clip_id").to_pylist()
    summary.reused = sum(1 for c in set(ids) if c in rows)
    todo, missing = [], []
    for cid in dict.fromkeys(ids):
        if cid in rows:
            continue
        if cid not in examples:
            missing.append(cid)
            continue
        todo.append(ScoreTask(cid, examples[cid], options.embedder, args))
    executor = build_executor(ExecutorSpec(options.executor, options.workers, options.ray_address))
    with ManifestWriter(manifest, SCORE_MANIFEST_SCHEMA) as writer, \
            progress(len(todo), "score", "clip", enabled=options.show_progress) as bar:
        for cid in missing:
            rows[cid] = {"clip_id": cid, "status": NO_MEDIA, "error_code": NO_MEDIA, "score": None,
                         "embedder": options.embedder, "fingerprint": fingerprint,
                         "message": f"{cid}: no rendered example in {options.media}", "finished_at": time.time()}
        before = {r["clip_id"]: r for r in old}
        writer.write_many(rows[c] for c in missing     # a rerun does not record the same absence again
                          if (before.get(c) or {}).get("status") != NO_MEDIA
                          or before[c].get("fingerprint") != fingerprint)
        writer.flush()
        for row in executor.map_unordered(score_clip, todo):
            writer.write_many([row])
            writer.flush()
            rows[row["clip_id"]] = row
            bar.update(1)
    scores = []
    for cid in ids:
        r = rows[cid]
        summary.statuses[r["status"]] += 1
        if r["status"] != STATUS_OK:
            summary.messages.append(f"{r['message']} ({r['status']})")
        scores.append(r["score"])
    summary.messages = list(dict.fromkeys(summary.messages))   # a clip listed twice is reported once
    write_clips(_with_scores(table, scores, fingerprint, options.min_score, summary), summary.output)
    return summary


def _with_scores(table: pa.Table, scores: list[float | None], fingerprint: str, min_score: float | None,
                 summary: ScoreSummary) -> pa.Table:
    for name in ("score", "score_model"):
        if name in table.column_names:
            table = table.drop_columns([name])
    table = table.append_column("score", pa.array(scores, pa.float64()))
    table = table.append_column("score_model", pa.array([fingerprint if s is not None else None for s in scores],
                                                        pa.string()))
    if min_score is not None:
        filtered = [None if s is None else s >= min_score for s in scores]
        summary.kept = sum(1 for f in filtered if f)
        table = table.set_column(table.schema.get_field_index("filtered"), "filtered", pa.array(filtered, pa.bool_()))
    return table
