"""What ``avdata browse`` can show, one class per kind of TARGET, each giving its items a page at a
time: an index file (clips), a balance output folder (seeds and their neighbours), a render output
folder (AudioScope clips and mixtures of mixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from avdata.browse.site import Card, Frame, Group, thumbnail
from avdata.errors import AvdataError, InputFormatError, UnsafePathError
from avdata.loaders.lazy_index import LazyIndex
from avdata.paths import is_youtube_id, safe_join, safe_name
from avdata.sources.ontology import Ontology

KNN_FILE = re.compile(r"knn_top(\d+)\.jsonl")


class Target(Protocol):
    kind: str
    title: str

    def count(self) -> int: ...

    def page(self, k: int, size: int) -> Sequence[Card | Group]: ...


class Reasons:
    """Why a clip's files are missing, from the extraction manifest (its latest row per clip, read
    once, the first time a file is missing)."""

    def __init__(self, manifest: Path | None) -> None:
        self.manifest = manifest if manifest is not None and manifest.is_dir() else None
        self._failed: dict[tuple[str, str], str] | None = None

    def __call__(self, cid: str, name: str) -> str:
        clip = name.split(".")[0]
        if self.manifest is None:
            return "file not found"
        if self._failed is None:
            from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
            from avdata.manifest import STATUS_OK, read_latest

            rows = read_latest(self.manifest, EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS,
                               ["clip_id", "clip", "status", "message"]).to_pylist()
            self._failed = {(r["clip_id"], r["clip"]): f"{r['status']}: {r['message']}"[:200]
                            for r in rows if r["status"] != STATUS_OK}
        why = self._failed.get((cid, clip))
        return f"file not found (extract {why})" if why else "file not found"


def _labels(ids: Sequence[str], ontology: Ontology) -> list[tuple[str, str]]:
    return [(i, ontology.name(i)) for i in ids]


def index_card(rec: dict[str, Any], media: Path, out: Path, ontology: Ontology, split: str,
               reasons: Reasons | None = None) -> Card:
    """A card for one index line: its frames (thumbnails), its clips' players, labels, link; a
    missing file is a placeholder saying why (``reasons``: the extraction manifest's word)."""
    reasons = reasons or Reasons(None)
    cid, d = str(rec.get("id") or ""), str(rec.get("dir") or "")
    card = Card(cid, split, _labels([str(x) for x in rec.get("labels") or []], ontology),
                [str(c) for c in rec.get("captions") or []])
    bos, eos = rec.get("bos"), rec.get("eos")
    card.meta.append(f"{bos}-{eos} s · {d}")
    try:
        start = int(float(bos or 0))
        if is_youtube_id(cid):
            card.link = f"https://www.youtube.com/watch?v={cid}&t={start}s"
    except (TypeError, ValueError):
        pass
    for name in rec.get("frame") or []:
        try:
            src = safe_join(media, f"{d}/frame/{cid}.{name}", follow_links=True)
        except UnsafePathError as e:
            card.frames.append(Frame(None, f"refused: {e}"))
            continue
        thumb, reason = thumbnail(src, out, f"{d}/{cid}.{name}")
        card.frames.append(Frame(thumb, reasons(cid, str(name)) if reason == "file not found" else reason))
    for name in rec.get("aclip") or []:
        try:
            src = safe_join(media, f"{d}/aclip/{cid}.{name}", follow_links=True)
        except UnsafePathError as e:
            card.audios.append((str(name), None, f"refused: {e}"))
            continue
        there = src.is_file()
        card.audios.append((str(name), src if there else None, "" if there else reasons(cid, str(name))))
    return card


class IndexTarget:
    """An index file's lines below a media root, a page of ``size`` lines at a time (random access
    through a line-offsets sidecar kept in the output folder: the index's folder is not written)."""

    kind = "index"

    def __init__(self, index: Path, media: Path, out: Path, ontology: Ontology) -> None:
        self.index, self.media, self.out, self.ontology = index, media, out, ontology
        self.lines = LazyIndex(index, sidecar_dir=out / ".cache")
        self.reasons = Reasons(media / "extract_manifest.parquet")
        self.title = f"{index.name}: clips"
        self.split = index.name.split(".")[0]

    def count(self) -> int:
        return len(self.lines)

    def page(self, k: int, size: int) -> list[Card]:
        cards = []
        for i in range(k * size, min(len(self.lines), (k + 1) * size)):
            try:
                rec = self.lines.record(i)
            except InputFormatError as e:
                cards.append(Card(f"line {i + 1}", self.split, meta=[f"unreadable line: {e.reason}"]))
                continue
            cards.append(index_card(rec, self.media, self.out, self.ontology, self.split, self.reasons))
        return cards


class BalanceTarget:
    """A balance output folder: each seed of ``knn_top{k}.jsonl`` with its neighbours in order and
    their scores; media found through the folder's ``src_knn_top{k}_segments.csv`` (seeds and pool)."""

    kind = "balance"

    def __init__(self, folder: Path, media: Path, out: Path, ontology: Ontology) -> None:
        knn = sorted(p for p in folder.iterdir() if KNN_FILE.fullmatch(p.name))
        if not knn:
            raise AvdataError(f"{folder}: no knn_top*.jsonl (not a balance output folder)")
        self.knn = knn[0]
        k = KNN_FILE.fullmatch(self.knn.name)[1]       # type: ignore[index]  # matched above
        segments = folder / f"src_knn_top{k}_segments.csv"
        self.records: dict[str, dict[str, Any]] = {}
        if segments.is_file():
            for line in segments.read_text("utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                self.records.setdefault(str(rec.get("id")), rec)
        self.seeds = [json.loads(x) for x in self.knn.read_text("utf-8").splitlines() if x.strip()]
        self.media, self.out, self.ontology = media, out, ontology
        self.reasons = Reasons(media / "extract_manifest.parquet")
        self.title = f"{folder.name}: seeds and their {k} nearest neighbours"

    def count(self) -> int:
        return len(self.seeds)

    def _card(self, cid: str, split: str) -> Card:
        rec = self.records.get(cid)
        if rec is None:
            return Card(cid, split, meta=["no line for this id in the segments file"])
        return index_card(rec, self.media, self.out, self.ontology, split, self.reasons)

    def page(self, k: int, size: int) -> list[Group]:
        groups = []
        for entry in self.seeds[k * size:(k + 1) * size]:
            for seed, neighbours in entry.items():
                head = self._card(seed, "seed")
                head.css = "seed"
                cards = [head]
                seed_labels = {lab for lab, _ in head.labels}
                agree = 0
                for cid, score in neighbours:
                    c = self._card(str(cid), "neighbour")
                    c.score = float(score)
                    agree += bool(seed_labels & {lab for lab, _ in c.labels})
                    cards.append(c)
                note = f"label agreement {agree}/{len(neighbours)}" if neighbours else "no neighbours"
                groups.append(Group(f"seed {seed}", cards, note))
        return groups


def _key(cid: str) -> str:
    """``cid`` as a file-name component (its digest when it cannot be one)."""
    try:
        return safe_name(cid)
    except UnsafePathError:
        return hashlib.sha256(cid.encode()).hexdigest()[:24]


AUDIO_KEYS = (("audio", "audio"), ("mix", "mixture (clip 1 + clip 2)"), ("audio1", "clip 1"), ("audio2", "clip 2"))


class RenderTarget:
    """A render output folder (``examples.jsonl``): each example's frames and players (a MoM's
    ``mix.wav``, ``source1.wav``, ``source2.wav``), its annotation and, with ``scores`` (a clip table
    written by ``avdata score``), its coincidence score."""

    kind = "render"

    def __init__(self, folder: Path, out: Path, scores: dict[str, float] | None = None) -> None:
        self.folder, self.out, self.scores = folder, out, scores or {}
        self.examples = [json.loads(x) for x in (folder / "examples.jsonl").read_text("utf-8").splitlines()
                         if x.strip()]
        self.title = f"{folder.name}: rendered examples"

    def count(self) -> int:
        return len(self.examples)

    def _file(self, rel: Any) -> tuple[Path | None, str]:
        try:
            p = safe_join(self.folder, str(rel), follow_links=True)
        except UnsafePathError as e:
            return None, f"refused: {e}"
        return (p, "") if p.is_file() else (None, "file not found")

    def page(self, k: int, size: int) -> list[Card]:
        cards = []
        for ex in self.examples[k * size:(k + 1) * size]:
            cid = str(ex.get("id"))
            card = Card(cid, str(ex.get("split") or ""), score=self.scores.get(cid))
            if "source1" in ex:
                card.meta.append(f"MoM: {ex.get('source1')} [{ex.get('start1')}, {ex.get('end1')}] + "
                                 f"{ex.get('source2')} [{ex.get('start2')}, {ex.get('end2')}]; pictures of clip 1")
            else:
                card.meta.append(f"{ex.get('source')} [{ex.get('start')}, {ex.get('end')}] s")
            card.meta.append(f"annotation: {ex.get('annotation') or 'none'} · filtered: {ex.get('filtered')}")
            for j, rel in enumerate(ex.get("frames") or []):
                src, reason = self._file(rel)
                if src is None:
                    card.frames.append(Frame(None, reason))
                    continue
                thumb, why = thumbnail(src, self.out, f"render/{_key(cid)}/{j:02d}")
                card.frames.append(Frame(thumb, why))
            for key, title in AUDIO_KEYS:
                if key in ex:
                    src, reason = self._file(ex[key])
                    card.audios.append((title, src, reason))
            cards.append(card)
        return cards


def read_scores(path: str | os.PathLike[str]) -> dict[str, float]:
    """clip id -> score of a clip table written by ``avdata score``."""
    from avdata.table import read_clips

    table = read_clips(path)
    if "score" not in table.column_names:
        raise AvdataError(f"{path}: no 'score' column (write it with avdata score)")
    return {cid: s for cid, s in zip(table.column("clip_id").to_pylist(), table.column("score").to_pylist())
            if s is not None}


def open_target(target: Path, out: Path, media: Path | None, ontology: Ontology,
                scores: dict[str, float] | None) -> Target:
    """The kind of TARGET told by what it is (see the module docstring)."""
    if target.is_file():
        if media is None:
            raise AvdataError(f"{target}: an index file needs --media (the media root its lines point into)")
        return IndexTarget(target, media, out, ontology)
    if (target / "examples.jsonl").is_file():
        return RenderTarget(target, out, scores)
    if any(KNN_FILE.fullmatch(p.name) for p in target.iterdir()):
        if media is None:
            raise AvdataError(f"{target}: a balance output needs --media (the media root of its index files)")
        return BalanceTarget(target, media, out, ontology)
    raise AvdataError(f"{target}: not an index file, a balance output folder (knn_top*.jsonl) or a render "
                      "output folder (examples.jsonl)")
