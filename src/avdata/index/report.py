"""A dataset report people can look at: ``report.html`` + PNG plots (matplotlib, Agg) + a text summary.

Reads the index file once (``avdata.index.scan``) and the sidecars the index stage left beside it
(``index_summary.json``: segments and exclusions per split; ``index_checks.parquet``: audio
duration, rate, channels and frames decoded per clip), so nothing is decoded again. The weights
file beside the index (``{stem}_weight.csv``) is used when present, else VIP-ANT's weights are
computed in memory. With the media folder at hand it also shows a contact sheet of sample frames.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from avdata.atomic import atomic_path, write_text_atomic  # noqa: E402
from avdata.errors import InputFormatError, UnsafePathError  # noqa: E402
from avdata.index.checks import CHECKS_DIR, CHECKS_KEYS, CHECKS_SCHEMA, read_summary  # noqa: E402
from avdata.index.entry import BALANCED_FILE, COMBINED_FILE, UNBALANCED_FILE  # noqa: E402
from avdata.index.lines import iter_records  # noqa: E402
from avdata.index.scan import IndexScan, scan_index  # noqa: E402
from avdata.manifest import latest, read_manifest  # noqa: E402
from avdata.paths import safe_join  # noqa: E402
from avdata.sources.ontology import Ontology  # noqa: E402
from avdata.weights import label_balance, read_weights, sample_weights, scheme_names, weights_path_for  # noqa: E402

TOP_LABELS = 30
GALLERY = 12


@dataclass(frozen=True)
class ReportOptions:
    """Options of ``build_report`` (mirrors ``avdata report``)."""

    index: str | os.PathLike[str]
    out: str | os.PathLike[str]
    weights: str | os.PathLike[str] | None = None    # default: ``{stem}_weight.csv`` if present
    media: str | os.PathLike[str] | None = None      # default: the media folder the index was built from
    ontology: str | os.PathLike[str] | None = None
    gallery: int = GALLERY


@dataclass
class ReportResult:
    html: Path
    plots: list[Path] = field(default_factory=list)
    text: str = ""
    problems: list[str] = field(default_factory=list)     # one ``FILE:LINE: reason`` per line left out


def _parts(index: Path) -> list[str]:
    return [UNBALANCED_FILE, BALANCED_FILE] if index.name == COMBINED_FILE else [index.name]


def _checks(index: Path) -> pa.Table | None:
    d = index.parent / CHECKS_DIR
    if not d.exists():
        return None
    t = latest(read_manifest(d, CHECKS_SCHEMA), CHECKS_KEYS)
    keep = pc.is_in(t.column("split_file"), value_set=pa.array(_parts(index)))
    return t.filter(keep)


CAPTIONS = {
    "segments_per_split": "Segments listed and excluded per split file",
    "exclusions": "Segments left out of the index, by reason",
    "labels_top": "The most frequent labels: count in the index and expected count under weighted sampling",
    "labels_all": "Every label by rank: count in the index (line) and expected under weighted sampling (circles)",
    "schemes": "Label balance under each weighting scheme (coefficient of variation of per-label counts; lower "
               "is more even)",
    "durations": "Durations of the gold clips",
    "audio_properties": "Audio sample rates and channels of the gold clips",
    "frames_per_clip": "Frames per gold clip",
    "gallery": "A few clips: middle frame, id, start and labels",
    "balance_labels": "Per-label counts before (seeds + whole pool) and after kNN selection (seeds + selected)",
    "balance_scores": "Cosine scores of the neighbours: all, each seed's best and each seed's k-th",
    "balance_chosen": "How many seeds chose each selected pool sample",
}


def readable_log_axis(axis: Any) -> None:
    """Ticks a person reads on a log axis: plain numbers (1, 10, 100, 1k ...) and 2x / 5x between."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs="auto"))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def compare_schemes(scan: IndexScan, out: Path, plots: list[Path]) -> list[str]:
    """Every registered weighting scheme's label balance side by side (one bar each), and which
    evens the labels of this index out best, with why the published rule may not."""
    if not scan.lines or not len(scan.label_ids):
        return []
    results = []
    for name in scheme_names():
        b = label_balance(scan, sample_weights(scan, name))
        results.append((name, b.cv_weighted))
    raw = label_balance(scan, np.ones(scan.lines)).cv_raw
    names = ["none (raw)"] + [n for n, _ in results]
    values = [raw] + [v for _, v in results]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    _bar(ax, names, values, "Coefficient of variation of per-label counts (lower: more even)", "C2")
    for i, v in enumerate(values):
        ax.texts[i].set_text(f" {v:.2f}")
    save_figure(fig, out / "schemes.png", plots)
    best = min(results, key=lambda r: r[1])
    vipant = dict(results).get("vipant")
    lines = ["label balance by weighting scheme (CV of per-label counts, lower is more even): raw "
             f"{raw:.3f}, " + ", ".join(f"{n} {v:.3f}" for n, v in results),
             f"best for this index: {best[0]} ({best[1]:.3f}); write it with `avdata weights INDEX --scheme {best[0]}`"]
    if vipant is not None and vipant > raw:
        lines.append("the published rule (vipant: 1000/(count+1) summed over a clip's labels) makes this index "
                     "less even: clips with many labels collect the weight of each, so multi-label clips "
                     "(and the parents that co-occur with every child, such as Music) are drawn more often")
    return lines


def save_figure(fig: plt.Figure, path: Path, plots: list[Path]) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    plots.append(path)


def _bar(ax: plt.Axes, labels: list[str], values: list[float], title: str, color: str = "C0") -> None:
    y = np.arange(len(labels))
    ax.barh(y, values, color=color)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_title(title)
    for yi, v in zip(y, values):
        ax.text(v, float(yi), f" {v:,.0f}", va="center", fontsize=8)


def build_report(opts: ReportOptions) -> ReportResult:
    """Write ``report.html`` and its plots into ``opts.out``; return them with the text summary."""
    index = Path(opts.index)
    out = Path(opts.out)
    ontology = Ontology.load(opts.ontology)
    scan = scan_index(index)
    problems = [f"{why}; left out of the report" for why in scan.bad.values()]
    summary = read_summary(index.parent) or {}
    checks = _checks(index)
    wpath = Path(opts.weights) if opts.weights else weights_path_for(index)
    if wpath.is_file():
        weights, wsource = read_weights(wpath), wpath.name
    else:
        weights, wsource = sample_weights(scan), "vipant weights computed in memory (no weights file)"
    if len(weights) != scan.lines:
        raise InputFormatError(str(wpath), None, f"{len(weights)} weights for {scan.lines} lines of {index}")
    balance = label_balance(scan, weights) if scan.lines else None
    out.mkdir(parents=True, exist_ok=True)
    plots: list[Path] = []
    text: list[str] = [f"report of {index} ({scan.lines:,} lines, {len(scan.label_ids)} labels)"]
    if scan.bad:
        text.append(f"unreadable lines: {len(scan.bad):,} (left out; the first: {next(iter(scan.bad.values()))})")

    # segments per split and exclusions
    splits = summary.get("splits", {})
    if splits:
        names = sorted(splits)
        listed = [splits[n]["listed"] for n in names]
        excluded = [sum(splits[n]["excluded"].values()) for n in names]
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
        y = np.arange(len(names))
        ax.barh(y, listed, color="C2", label="listed")
        ax.barh(y, excluded, left=listed, color="C3", label="excluded")
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.legend()
        ax.set_title("Segments per split file")
        save_figure(fig, out / "segments_per_split.png", plots)
        text.append("segments per split file (listed / excluded):")
        text += [f"  {n}: {li:,} / {ex:,}" for n, li, ex in zip(names, listed, excluded)]
    reasons = summary.get("excluded_by_reason", {})
    if reasons:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(reasons) + 1.5))
        _bar(ax, list(reasons), list(reasons.values()), "Segments excluded, by reason", "C3")
        save_figure(fig, out / "exclusions.png", plots)
    text.append("exclusions by reason: " + (", ".join(f"{k} {v:,}" for k, v in reasons.items()) or "none"))

    # labels before and after weighting
    if balance is not None and len(balance.label_ids):
        order = np.argsort(-balance.counts, kind="stable")
        top = order[:TOP_LABELS]
        names = [ontology.name(balance.label_ids[i]) for i in top]
        fig, ax = plt.subplots(figsize=(9, 0.28 * len(top) + 1.5))
        y = np.arange(len(top))
        ax.barh(y - 0.2, balance.counts[top], height=0.4, label="in the index")
        ax.barh(y + 0.2, balance.expected[top], height=0.4, label="expected under weighted sampling")
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.legend(fontsize=8)
        ax.set_title(f"{len(top)} most frequent labels, before and after weighting")
        save_figure(fig, out / "labels_top.png", plots)
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.semilogy(balance.counts[order], label=f"in the index (CV {balance.cv_raw:.2f})")
        ax.semilogy(np.maximum(balance.expected[order], 1e-2), "o", ms=5, mfc="none",
                    label=f"expected under weighted sampling (CV {balance.cv_weighted:.2f})")
        ax.set_xlabel("label rank (by count in the index)")
        ax.set_ylabel("segments")
        readable_log_axis(ax.yaxis)
        ax.legend()
        ax.set_title(f"All {len(order)} labels ({wsource})")
        save_figure(fig, out / "labels_all.png", plots)
        text.append(f"labels: coefficient of variation of per-label counts {balance.cv_raw:.3f} raw, "
                    f"{balance.cv_weighted:.3f} under weighted sampling ({wsource})")
        text += compare_schemes(scan, out, plots)
        text.append("most frequent labels (count -> expected under weighting):")
        text += [f"  {n}: {balance.counts[i]:,.0f} -> {balance.expected[i]:,.1f}"
                 for n, i in zip(names[:10], top[:10])]

    # durations, audio properties, frames per clip
    ok_p0 = None
    if checks is not None and checks.num_rows:
        ok_p0 = checks.filter(pc.and_(pc.equal(checks.column("status"), "ok"),
                                      pc.equal(checks.column("clip"), "p0")))
    if ok_p0 is not None and ok_p0.num_rows:
        durations = np.asarray(ok_p0.column("audio_seconds").drop_null().to_numpy(zero_copy_only=False))
        dur_src = "decoded audio"
        rates = Counter(ok_p0.column("sample_rate").to_pylist())
        chans = Counter(ok_p0.column("channels").to_pylist())
        frames = Counter(ok_p0.column("frames_ok").to_pylist())
    else:
        durations, dur_src = _listed_durations(scan), "eos - bos"
        rates, chans = Counter(), Counter()
        frames = Counter((scan.frames // np.maximum(scan.aclips, 1)).tolist())
    if len(durations) == 0:
        durations, dur_src = _listed_durations(scan), "eos - bos"
    if len(durations):
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.hist(durations, bins=40, color="C0")
        ax.set_xlabel("seconds")
        ax.set_ylabel("clips")
        ax.set_title(f"Gold clip durations ({dur_src})")
        save_figure(fig, out / "durations.png", plots)
        text.append(f"clip durations ({dur_src}): min {durations.min():.2f} s, median "
                    f"{np.median(durations):.2f} s, max {durations.max():.2f} s")
    if rates:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3))
        r = sorted(rates, key=lambda k: (k is None, k or 0))
        _bar(a1, [f"{k} Hz" for k in r], [rates[k] for k in r], "Audio sample rates")
        c = sorted(chans, key=lambda k: (k is None, k or 0))
        _bar(a2, [f"{k} ch" for k in c], [chans[k] for k in c], "Audio channels", "C1")
        save_figure(fig, out / "audio_properties.png", plots)
        text.append("audio sample rates: " + ", ".join(f"{k} Hz {rates[k]:,}" for k in r))
        text.append("audio channels: " + ", ".join(f"{k} {chans[k]:,}" for k in c))
    if frames:
        fig, ax = plt.subplots(figsize=(6, 3))
        f = sorted(frames, key=lambda k: (k is None, k or 0))
        ax.bar([str(k) for k in f], [frames[k] for k in f], color="C4")
        ax.set_xlabel("frames per clip")
        ax.set_ylabel("clips")
        ax.set_title("Frames per gold clip")
        save_figure(fig, out / "frames_per_clip.png", plots)
        text.append("frames per clip: " + ", ".join(f"{k}: {frames[k]:,}" for k in f))

    media = opts.media or summary.get("options", {}).get("media")
    if media:
        _gallery(index, scan, media, ontology, opts.gallery, out, plots, problems)
    page = report_html(index, text, plots)
    html_path = out / "report.html"
    write_text_atomic(html_path, page)
    write_text_atomic(out / "report.txt", "\n".join(text) + "\n")
    return ReportResult(html_path, plots, "\n".join(text), problems)


def _listed_durations(scan: IndexScan) -> np.ndarray:
    d = scan.eos - scan.bos
    return d[np.isfinite(d)]


def _gallery(index: Path, scan: IndexScan, media: str | os.PathLike[str], ontology: Ontology,
             n: int, out: Path, plots: list[Path], problems: list[str]) -> Path | None:
    """A contact sheet: the middle frame of ``n`` evenly spread lines, titled with their labels."""
    from PIL import Image, UnidentifiedImageError

    if n <= 0 or scan.lines == 0 or not Path(media).is_dir():
        return None
    wanted = set(np.linspace(0, scan.lines - 1, min(n, scan.lines)).astype(int).tolist())
    tiles = []
    for lineno, rec, _ in iter_records(index):
        if lineno - 1 not in wanted or rec is None or (lineno - 1) in scan.bad:
            continue
        frames = [str(f) for f in rec.get("frame") or []]
        frames = [f for f in frames if f.startswith("p0.")] or frames
        if not frames:
            continue
        rel = f"{rec.get('dir')}/frame/{rec.get('id')}.{frames[(len(frames) - 1) // 2]}"
        try:
            with Image.open(safe_join(media, rel, follow_links=True)) as img:
                img.thumbnail((320, 320))
                tiles.append((np.asarray(img.convert("RGB")), rec))
        except UnsafePathError as e:
            problems.append(f"{index}:{lineno}: {e}; left out of the gallery")
        except (OSError, UnidentifiedImageError, ValueError):
            continue
    if not tiles:
        return None
    cols = min(4, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (picture, rec) in zip(axes.flat, tiles):
        ax.imshow(picture)
        names = ", ".join(ontology.name(lab) for lab in rec["labels"][:3]) or "(no labels)"
        ax.set_title(f"{rec.get('id')} {rec.get('bos')}s\n{names}", fontsize=7)
    path = out / "gallery.png"
    save_figure(fig, path, plots)
    return path


def report_html(index: Path, text: list[str], plots: list[Path]) -> str:
    """The report page: the text summary (wrapped, never wider than the page) and each plot with a
    caption that says what it shows."""
    esc = html.escape
    imgs = "\n".join(f'<figure><img src="{esc(p.name)}" alt="{esc(CAPTIONS.get(p.stem, p.stem))}">'
                     f"<figcaption>{esc(CAPTIONS.get(p.stem, p.stem.replace('_', ' ')))}</figcaption></figure>"
                     for p in plots)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>avdata report: {esc(index.name)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;box-sizing:border-box}}
img{{max-width:100%;height:auto}}
pre{{background:#f4f4f4;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:0.85em}}
figure{{margin:1.5em 0}}figcaption{{font-size:0.9em;color:#333}}</style></head>
<body><h1>avdata report: {esc(index.name)}</h1>
<pre>{esc(chr(10).join(text))}</pre>
{imgs}
</body></html>
"""
