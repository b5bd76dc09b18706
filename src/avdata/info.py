"""A text summary of a clip table: counts per dataset/split and origin file, top labels with
their ontology names, and a histogram of clip durations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.sources.ontology import Ontology
from avdata.table import read_clips

_BAR = 40


@dataclass(frozen=True)
class InfoOptions:
    path: str
    top: int = 10
    bins: int = 10
    ontology: str | None = None


def _counts(table: pa.Table, keys: list[str]) -> list[tuple[tuple, int]]:
    if table.num_rows == 0:
        return []
    g = table.group_by(keys, use_threads=False).aggregate([(keys[0], "count")])
    rows = list(zip(*(g.column(k).to_pylist() for k in keys), g.column(f"{keys[0]}_count").to_pylist()))
    return sorted(((tuple(r[:-1]), r[-1]) for r in rows), key=lambda x: (-x[1], [str(v) for v in x[0]]))


def duration_histogram(durations: np.ndarray, bins: int = 10) -> list[str]:
    """Text histogram lines ``[lo, hi) count ####``."""
    if durations.size == 0:
        return ["(no clips)"]
    lo, hi = float(durations.min()), float(durations.max())
    if not np.isfinite(durations).all() or not np.isfinite(hi - lo):
        durations = durations[np.isfinite(durations)]
        return [f"  (durations too large or not finite to bin; {durations.size} finite, "
                f"from {_seconds(lo)} to {_seconds(hi)} s)"]
    if hi - lo < 1e-9:
        return [f"  {_seconds(lo)} s          {durations.size:>9}  {'#' * _BAR}"]
    counts, edges = np.histogram(durations, bins=bins, range=(lo, hi))
    peak = counts.max()
    return [f"  [{_seconds(edges[i])}, {_seconds(edges[i + 1])}) s  {c:>9}  {'#' * int(round(_BAR * c / peak))}"
            for i, c in enumerate(counts)]


def _seconds(x: float) -> str:
    """A bin edge in 8 characters or a few more: fixed point while it is short, else exponent form."""
    return f"{x:8.3f}" if abs(x) < 1e7 else f"{x:8.3g}"


def summarize(table: pa.Table, ontology: Ontology | None = None, *, top: int = 10, bins: int = 10) -> str:
    """The summary text for ``table``."""
    ontology = ontology or Ontology.load()
    out = [f"clips: {table.num_rows}"]
    out.append("by dataset / split:")
    out += [f"  {d:<14} {s:<22} {n:>9}" for (d, s), n in _counts(table, ["dataset", "split"])]
    out.append("by origin file:")
    out += [f"  {n:>9}  {f}" for (f,), n in _counts(table, ["origin_file"])]
    flat = pc.list_flatten(table.column("labels"))
    out.append(f"top labels ({len(flat)} label(s) on clips, {len(pc.unique(flat)) if len(flat) else 0} distinct):")
    if len(flat):
        vc = pc.value_counts(flat).to_pylist()
        vc.sort(key=lambda x: (-x["counts"], x["values"]))
        out += [f"  {v['counts']:>9}  {v['values']:<12} {ontology.name(v['values'])}" for v in vc[:top]]
    captions = pc.list_value_length(table.column("captions"))
    n_cap = pc.sum(captions).as_py() or 0
    if n_cap:
        out.append(f"captions: {n_cap}")
    if "events" in table.column_names:      # AudioSet-Strong: timed events per segment
        events = table.column("events").combine_chunks()
        flat_events = pc.list_flatten(events)
        n_labels = len(pc.unique(flat_events.field("label"))) if len(flat_events) else 0
        out.append(f"events: {len(flat_events)} in {pc.sum(pc.greater(pc.list_value_length(events), 0)).as_py() or 0}"
                   f" clip(s), {n_labels} distinct label(s)")
    dur = (pc.subtract(table.column("end"), table.column("start"))).to_numpy()
    out.append("clip durations:")
    out += duration_histogram(np.asarray(dur, dtype=np.float64), bins)
    return "\n".join(out)


def info(options: InfoOptions) -> str:
    """Read the clip table at ``options.path`` and summarize it."""
    table = read_clips(options.path)
    onto = Ontology.load(options.ontology)
    return summarize(table, onto, top=options.top, bins=options.bins)
