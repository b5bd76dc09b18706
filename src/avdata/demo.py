"""``avdata demo``: the pipeline on the bundled example, one stage call after another.

The example lists are real (a few AudioSet and AudioCaps rows) or marked synthetic (AudioScope);
their videos cannot be downloaded here, so the demo stands in for ``avdata fetch youtube``: for each
source it writes a synthetic video (frames and audio that tell the time, ``avdata.media.synth``)
covering just the section the clips need, as a section download does, and a fetch manifest with
each file's offset. Every later stage is the real one.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from avdata.audioscope.render import RenderOptions, run_render
from avdata.extract.run import ExtractOptions, ExtractSummary, run_extract
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.fetch.sections import hull, plan_sections
from avdata.index.build import IndexOptions, IndexResult, build_index
from avdata.index.entry import COMBINED_FILE
from avdata.index.report import ReportOptions, ReportResult, build_report
from avdata.info import InfoOptions, info
from avdata.ingest import IngestOptions, ingest, merge_clip_tables
from avdata.manifest import STATUS_OK, ManifestWriter, latest, read_manifest
from avdata.media.synth import SynthSpec, make_video
from avdata.paths import safe_join, safe_name
from avdata.sources.problems import Problems
from avdata.table import read_clips, write_clips
from avdata.weights import WeightsOptions, write_weights

EXAMPLE = "data/example"
LISTS = (
    ("audioset", ("balanced_train_segments.csv", "eval_segments.csv")),
    ("audiocaps", ("val.csv",)),
    ("audioscope", ("unfiltered_validate_clips.csv",)),
)
DEMO_VIDEO = SynthSpec(width=160, height=90, fps=10, sample_rate=22050, channels=1, keyint_seconds=5.0)


@dataclass
class DemoSummary:
    out_dir: Path
    clips: Path
    rows: int
    problems: Problems
    info: str
    extract: ExtractSummary | None = None
    index: IndexResult | None = None
    report: ReportResult | None = None
    stages: list[str] = field(default_factory=list)


def example_dir() -> Path:
    """The bundled example folder (a real directory inside the installed package)."""
    return Path(str(resources.files("avdata").joinpath(EXAMPLE)))


def ingest_example(out: Path, problems: Problems) -> Path:
    """Ingest the bundled lists into ``{out}/clips.parquet``."""
    ex = example_dir()
    parts = []
    for fmt, names in LISTS:
        part = out / "lists" / f"{fmt}.parquet"
        ingest(IngestOptions(format=fmt, files=tuple(str(ex / n) for n in names), output=str(part)), problems)
        parts.append(part)
    clips = out / "clips.parquet"
    write_clips(merge_clip_tables(parts), clips)
    return clips


def make_stand_in_videos(clips: pa.Table, videos: Path, spec: SynthSpec = DEMO_VIDEO) -> Path:
    """Write one synthetic video per source and a fetch manifest, as ``avdata fetch`` would.

    YouTube sources get ``{videos}/{id}.mp4`` covering the section their clips need (offset =
    section start); path sources get a whole video at their relative path. Returns the manifest.
    """
    manifest = videos / "fetch_manifest.parquet"
    done = latest(read_manifest(manifest, FETCH_MANIFEST_SCHEMA), ["source"])
    have = {r["source"] for r in done.to_pylist() if r["status"] == STATUS_OK}
    spans: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in clips.select(["source", "source_kind", "start", "end"]).to_pylist():
        spans[(r["source_kind"], r["source"])].append((r["start"], r["end"]))
    with ManifestWriter(manifest, FETCH_MANIFEST_SCHEMA) as writer:
        for (kind, source), segs in spans.items():
            if kind == "youtube":
                first, last = hull(plan_sections(segs))
                rel = f"{safe_name(source)}.mp4"
            else:
                first, last = 0.0, max(e for _, e in segs) + 2.0
                rel = source
            target = safe_join(videos, rel)
            if source in have and target.is_file():
                continue
            t0 = time.monotonic()
            make_video(target, SynthSpec(**{**spec.__dict__, "duration": last - first}))
            writer.write({"source": source, "source_kind": kind, "status": STATUS_OK, "path": rel,
                          "offset": first, "section_end": last if kind == "youtube" else None,
                          "bytes": target.stat().st_size, "seconds": time.monotonic() - t0, "attempts": 1,
                          "message": "", "backend": "demo", "source_uri": "demo:synthetic",
                          "deleted": False, "finished_at": time.time()})
    return manifest


class StageLog:
    """The demo's stages as they finish: each is recorded in ``summary.stages`` and handed to
    ``emit`` at once (one line ``NAME  what it did (N.N s)``, then its other lines indented), with
    paths shown relative to the output folder."""

    def __init__(self, summary: DemoSummary, emit: Callable[[str], None] | None) -> None:
        self.summary, self.emit = summary, emit
        self.roots = sorted({str(summary.out_dir.absolute()), str(summary.out_dir)}, key=len, reverse=True)
        self.t0 = time.monotonic()

    def relative(self, line: str) -> str:
        line = line.replace(str(example_dir()) + os.sep, "(bundled example)/")
        for root in self.roots:
            line = line.replace(root + os.sep, "").replace(root, ".")
        return line

    def done(self, name: str, lines: Sequence[str]) -> None:
        seconds = time.monotonic() - self.t0
        lines = [self.relative(y.strip()) for x in lines for y in str(x).splitlines() if y.strip()] or ["done"]
        if lines[0].startswith(f"{name}: "):
            lines[0] = lines[0][len(name) + 2:]
        head = f"{name:<10} {lines[0]} ({seconds:.1f} s)"
        self.summary.stages.extend(lines)
        if self.emit is not None:
            self.emit("\n".join([head, *(f"{'':<10} {x}" for x in lines[1:])]))
        self.t0 = time.monotonic()


def run_demo(out_dir: str | os.PathLike[str], workers: int | None = None,
             on_stage: Callable[[str], None] | None = None) -> DemoSummary:
    """Run every stage on the bundled example; outputs go below ``out_dir``. ``on_stage`` receives
    each stage's lines as soon as the stage finishes (the CLI prints them)."""
    out = Path(out_dir)
    problems = Problems()
    t0 = time.monotonic()
    clips_path = ingest_example(out, problems)
    clips = read_clips(clips_path)
    summary = DemoSummary(out, clips_path, clips.num_rows, problems, info(InfoOptions(path=str(clips_path))))
    log = StageLog(summary, on_stage)
    log.t0 = t0
    log.done("ingest", [f"{clips.num_rows} clips from the bundled AudioSet, AudioCaps and AudioScope lists -> "
                        f"{clips_path}", *_reading_problems(problems)])

    videos = out / "videos"
    fetch_manifest = make_stand_in_videos(clips, videos)
    log.done("videos", [f"synthetic stand-ins for the downloads (no network here) -> {videos}"])

    media = out / "media"
    summary.extract = run_extract(clips, ExtractOptions(videos=str(videos), out=str(media),
                                                        fetch_manifest=str(fetch_manifest), workers=workers))
    log.done("extract", summary.extract.lines())
    scope = clips.filter(pa.compute.is_in(clips.column("dataset"), pa.array(["audioscope", "audioscope_v2"])))
    log.done("render", run_render(scope, RenderOptions(videos=str(videos), out=str(out / "render"),
                                                       fetch_manifest=str(fetch_manifest), workers=workers)).lines())

    summary.index = build_index(IndexOptions(clips=clips_path, manifest=media / "extract_manifest.parquet",
                                             media=media, out=out / "index", features=True, workers=workers))
    log.done("index", [summary.index.summary_text()])
    from avdata.index.demo_published import published_example  # VIP-ANT's own files as input

    log.done("vipant", published_example(example_dir(), videos, fetch_manifest, out / "vipant", workers))
    index_files = sorted(summary.index.split_files.values())
    if summary.index.combined is not None:
        index_files.append(summary.index.combined.path)
    weights = []
    for path in index_files:
        w = write_weights(WeightsOptions(path))
        weights.append(f"{w.lines} lines, {w.labels} labels ({w.scheme}) -> {w.path}")
    log.done("weights", weights)

    main_index = out / "index" / COMBINED_FILE
    if not main_index.exists() and index_files:
        main_index = index_files[0]
    summary.report = build_report(ReportOptions(index=main_index, out=out / "report"))
    log.done("report", [f"{summary.report.html} ({len(summary.report.plots)} plots)"])

    from avdata.embed.run import EmbedOptions, run_embed

    if main_index.exists():
        embedded = run_embed(EmbedOptions(index=main_index, media=media, out=out / "embed", workers=workers))
        log.done("embed", [embedded.summary_text()])
    log.done("balance", balance_example(out / "index", media, out, workers))

    from avdata.train.demo_steps import model_example  # the model: train, then score and balance with it

    for name, lines in model_example(main_index, media, out, scope, workers):
        log.done(name, lines)
    from avdata.audioscope.demo_steps import run_audioscope_demo  # AudioScope: windows, ratings, pairs

    log.done("audioscope", run_audioscope_demo(out / "audioscope", workers=workers).stages)
    log.done("lhotse", lhotse_example(main_index, media, out / "lhotse"))
    log.done("hf", hf_example(out / "index", media, out / "hf"))
    from avdata.loaders.demo import iterate_loaders  # the end of the pipeline: one batch per loader

    log.done("loaders", iterate_loaders(main_index, media, out / "shards"))
    from avdata.audit.demo_steps import audit_example  # junk, duplicates and leaks; a lock of the build

    for name, lines in audit_example(out / "audit", workers):
        log.done(name, lines)
    log.done("browse", browse_example(out, main_index, media))
    return summary


def browse_example(out: Path, index: Path, media: Path) -> list[str]:
    """``avdata browse`` pages of the demo's index, its kNN balance and its rendered AudioScope clips."""
    from avdata.browse.run import BrowseOptions, run_browse

    scored = out / "score" / "clips_scored.parquet"
    targets = [("index", index, media, None), ("balance", out / "balance" / "knn", media, None),
               ("render", out / "render", None, scored if scored.is_file() else None)]
    lines = []
    for name, target, root, scores in targets:
        if target.exists():
            lines += run_browse(BrowseOptions(target, out / "browse" / name, media=root, scores=scores)).lines()
    return lines


def _reading_problems(problems: Problems) -> list[str]:
    """Each warning and error met while reading the lists, by name (the example has a few on purpose)."""
    return [f"{kind}: {e}" for kind, found in (("warning", problems.warnings), ("error", problems.errors))
            for e in found]


def lhotse_example(index: Path, media: Path, out: Path) -> list[str]:
    """``avdata export lhotse`` of the demo's main index: recordings, supervisions and cuts."""
    from avdata.export import ExportOptions, export

    problems = Problems()
    n = export(ExportOptions(format="lhotse", table=str(index), output=str(out), media=str(media)), problems)
    return [f"{n} cuts (recordings, supervisions, cuts.jsonl.gz; paths relative to {out}) -> {out}",
            *_reading_problems(problems)]


def hf_example(index_dir: Path, media: Path, out: Path) -> list[str]:
    """``avdata export hf`` of the demo's split files: a folder ``datasets.load_dataset`` reads."""
    from avdata.export import ExportOptions, export

    files = [p for p in sorted(index_dir.glob("src_*.csv")) if not p.stem.endswith("_weight")
             and p.name != COMBINED_FILE]
    if not files:
        return ["no index files"]
    problems = Problems()
    n = export(ExportOptions(format="hf", table=str(files[0]), more=tuple(map(str, files[1:])), output=str(out),
                             media=str(media)), problems)
    return [f"{n} rows in {len(files)} splits (Parquet, README.md card) -> {out}; "
            f"datasets.load_dataset(\"{out}\") reads it", *_reading_problems(problems)]


def run_balance_demo(index_dir: str | os.PathLike[str], seed_emb: str | os.PathLike[str],
                     pool_emb: str | os.PathLike[str], out: str | os.PathLike[str], k: int = 4,
                     pool_file: str = "src_eval_segments.csv") -> list[str]:
    """``avdata balance`` on the demo's index: the balanced split as seeds and, as the example has no
    unbalanced list, its eval split as the pool (``pool_file``). ``seed_emb`` / ``pool_emb`` are
    ``avdata embed`` directories of those two files. Returns the summary lines."""
    from avdata.balance.run import BalanceOptions, run_balance
    from avdata.index.entry import BALANCED_FILE

    d = Path(index_dir)
    res = run_balance(BalanceOptions(seeds=d / BALANCED_FILE, seed_emb=seed_emb, pool=d / pool_file,
                                     pool_emb=pool_emb, out=out, k=k, per_label_cap=1000, progress=False))
    return res.lines()


def balance_example(index_dir: Path, media: Path, out: Path, workers: int | None, embedder: str = "signal",
                    weights: tuple[str, ...] = ()) -> list[str]:
    """Embed the demo's balanced split (the seeds) and eval split (the pool) with ``embedder``, then
    balance, below ``out/balance`` (the default embedder) or ``out/balance_EMBEDDER``."""
    from avdata.embed.run import EmbedOptions, run_embed
    from avdata.index.entry import BALANCED_FILE

    pool_file = "src_eval_segments.csv"
    if not (index_dir / BALANCED_FILE).exists() or not (index_dir / pool_file).exists():
        return ["balance: skipped (the example has no balanced or eval lines)"]
    folder = out / ("balance" if embedder == "signal" else f"balance_{embedder}")
    lines = []
    for name, tag in ((BALANCED_FILE, "seeds"), (pool_file, "pool")):
        res = run_embed(EmbedOptions(index=index_dir / name, media=media, out=folder / f"emb_{tag}",
                                     embedder=embedder, weights=weights, workers=workers))
        lines.append(f"{tag}: {res.summary_text()}")
    lines += run_balance_demo(index_dir, folder / "emb_seeds", folder / "emb_pool", folder / "knn",
                              pool_file=pool_file)
    return lines
