"""The balance report: ``report.txt``, ``report.html`` and plots (built with ``avdata.index.report``'s
figure and page helpers).

Shows per-label counts and their coefficient of variation (std / mean over the labels present
before) for the seeds plus the whole pool (before) and the seeds plus the selected pool samples
(after), the distribution of neighbour scores (all, best, k-th), and how many pool samples were
chosen by several seeds.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avdata.atomic import write_text_atomic
from avdata.balance.embeddings import IndexIds
from avdata.index.report import ReportResult, plt, readable_log_axis, report_html, save_figure
from avdata.sources.ontology import Ontology

TOP_LABELS = 30


@dataclass(frozen=True)
class BalanceReportInput:
    out: Path
    seeds: IndexIds
    pool: IndexIds
    selected: np.ndarray | None       # pool lines chosen (0-based)
    D: np.ndarray
    I: np.ndarray
    k: int
    summary: Sequence[str] = ()
    ontology: str | os.PathLike[str] | None = None


def _label_counts(label_lists: Iterable[Sequence[str]]) -> Counter:
    counts: Counter = Counter()
    for labels in label_lists:
        counts.update(labels)
    return counts


def cv(values: np.ndarray) -> float:
    """Coefficient of variation (std / mean); 0 for no values."""
    return float(values.std() / values.mean()) if len(values) and values.mean() > 0 else 0.0


def write_balance_report(r: BalanceReportInput) -> ReportResult:
    """Write the report into ``r.out``; return its page, plots and text."""
    out = Path(r.out)
    out.mkdir(parents=True, exist_ok=True)
    ontology = Ontology.load(r.ontology)
    selected = r.selected if r.selected is not None else np.zeros(0, np.int64)
    before = _label_counts(r.seeds.labels) + _label_counts(r.pool.labels)
    after = _label_counts(r.seeds.labels) + _label_counts(r.pool.labels[i] for i in selected.tolist())
    labels = sorted(before, key=lambda lab: (-before[lab], lab))
    b = np.asarray([before[lab] for lab in labels], dtype=np.float64)
    a = np.asarray([after[lab] for lab in labels], dtype=np.float64)
    plots: list[Path] = []
    text = [f"balance report: top {r.k} neighbours of {len(r.D):,} seeds", *r.summary,
            f"per-label counts over {len(labels)} labels: coefficient of variation {cv(b):.3f} before "
            f"(seeds + whole pool, {r.seeds.lines + r.pool.lines:,} lines), {cv(a):.3f} after "
            f"(seeds + selected, {r.seeds.lines + len(selected):,} lines)"]
    if labels:
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.semilogy(np.maximum(b, 0.8), label=f"before: seeds + pool (CV {cv(b):.2f})")
        ax.semilogy(np.maximum(a, 0.8), "o", ms=5, mfc="none", label=f"after: seeds + selected (CV {cv(a):.2f})")
        readable_log_axis(ax.yaxis)
        ax.set_xlabel("label rank (by count before)")
        ax.set_ylabel("lines")
        ax.legend()
        ax.set_title(f"Per-label counts, all {len(labels)} labels")
        save_figure(fig, out / "balance_labels.png", plots)
        text.append("most frequent labels (before -> after):")
        text += [f"  {ontology.name(lab)}: {before[lab]:,} -> {after[lab]:,}" for lab in labels[:10]]
    valid = r.I >= 0
    if valid.any():
        fig, ax = plt.subplots(figsize=(8, 3.5))
        lo, hi = float(r.D[valid].min()), float(r.D[valid].max())
        if not hi - lo > 1e-6:            # near-identical scores: histogram bins need a finite width
            lo, hi = lo - 1e-3, hi + 1e-3
        edges = np.linspace(lo, hi, 51).tolist()
        ax.hist(r.D[valid], bins=edges, alpha=0.6, label="all neighbours")
        first = r.D[:, 0][valid[:, 0]]
        ax.hist(first, bins=edges, alpha=0.6, label="best neighbour")
        last_col = valid.sum(axis=1) - 1
        last = r.D[np.arange(len(r.D)), np.maximum(last_col, 0)][last_col >= 0]
        ax.hist(last, bins=edges, alpha=0.6, label=f"{r.k}-th neighbour")
        ax.set_xlabel("cosine similarity")
        ax.set_ylabel("pairs")
        ax.legend()
        ax.set_title("Neighbour scores")
        save_figure(fig, out / "balance_scores.png", plots)
        q = np.percentile(r.D[valid], [0, 50, 100])
        text.append(f"neighbour scores: min {q[0]:.3f}, median {q[1]:.3f}, max {q[2]:.3f}; best neighbour "
                    f"median {np.median(first):.3f}; {r.k}-th neighbour median {np.median(last):.3f}")
        chosen = np.bincount(r.I[valid])
        chosen = chosen[chosen > 0]
        times = Counter(chosen.tolist())
        fig, ax = plt.subplots(figsize=(8, 3.5))
        xs = sorted(times)
        ax.bar([str(x) for x in xs[:40]], [times[x] for x in xs[:40]], color="C4")
        ax.set_yscale("log")
        readable_log_axis(ax.yaxis)
        ax.set_xlabel("number of seeds that chose the sample")
        ax.set_ylabel("pool samples")
        ax.set_title("Pool samples chosen by several seeds")
        save_figure(fig, out / "balance_chosen.png", plots)
        text.append(f"pool samples chosen: {len(chosen):,}; by 2+ seeds {int((chosen >= 2).sum()):,}, by 10+ "
                    f"{int((chosen >= 10).sum()):,}; most {int(chosen.max())} seeds")
    page = report_html(out / "balance", text, plots)
    html_path = out / "report.html"
    write_text_atomic(html_path, page)
    write_text_atomic(out / "report.txt", "\n".join(text) + "\n")
    return ReportResult(html_path, plots, "\n".join(text))
