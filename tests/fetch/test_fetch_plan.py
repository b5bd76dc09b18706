"""Columnar fetch planning (``fetch/plan.py``) gives exactly the jobs of the per-row planner it
replaced (kept here as the reference): same sources in first-appearance order, pair sources right
after their row, the first row's kind, merged sections; jobs made lazily a batch at a time."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from avdata.errors import AvdataError
from avdata.fetch.backend import FetchJob
from avdata.fetch.options import FetchOptions
from avdata.fetch.plan import iter_jobs, plan_jobs, source_spans
from avdata.fetch.sections import plan_sections

OPTS = FetchOptions(source="youtube", out="unused")


def reference_jobs(table: pa.Table, options: FetchOptions) -> list[FetchJob]:
    """The per-row planner as it was: a dict per source, filled row by row."""
    segs: dict[str, list[tuple[float, float]]] = {}
    kinds: dict[str, str] = {}
    for r in table.to_pylist():
        pairs = [(r["source"], r["start"], r["end"])]
        if r.get("pair_source"):
            pairs.append((r["pair_source"], r.get("pair_start"), r.get("pair_end")))
        for src, s, e in pairs:
            kinds.setdefault(src, r["source_kind"])
            if s is not None and e is not None:
                segs.setdefault(src, []).append((float(s), float(e)))
            else:
                segs.setdefault(src, [])
    return [FetchJob(src, kind, tuple(plan_sections(segs[src], options.section_before, options.section_after))
                     if segs[src] else ()) for src, kind in kinds.items()]


def random_table(rng: np.random.Generator, n: int, pairs: bool) -> pa.Table:
    ids = [f"v{int(i):03d}" for i in rng.integers(0, n // 3 + 1, n)]
    start = [None if rng.random() < 0.1 else float(rng.integers(0, 600)) for _ in range(n)]
    cols = {"source": ids, "source_kind": [("youtube", "path")[int(rng.random() < 0.2)] for _ in range(n)],
            "start": start, "end": [None if s is None or rng.random() < 0.05 else s + 10.0 for s in start]}
    if pairs:
        cols["pair_source"] = [None if rng.random() < 0.4 else ("" if rng.random() < 0.1 else
                               f"v{int(rng.integers(0, n // 2)):03d}") for _ in range(n)]
        cols["pair_start"] = [float(rng.integers(0, 600)) for _ in range(n)]
        cols["pair_end"] = [s + 5.0 for s in cols["pair_start"]]
    return pa.table(cols)


@pytest.mark.parametrize("pairs", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_columnar_plan_equals_the_per_row_planner(seed: int, pairs: bool) -> None:
    table = random_table(np.random.default_rng(seed), 300, pairs)
    assert plan_jobs(table, OPTS) == reference_jobs(table, OPTS)


def test_jobs_are_made_lazily_per_batch_and_keep_selects() -> None:
    table = random_table(np.random.default_rng(7), 500, True)
    spans = source_spans(table)
    every = reference_jobs(table, OPTS)
    keep = np.random.default_rng(1).random(spans.num_rows) < 0.5
    assert list(iter_jobs(spans, OPTS, keep, batch_rows=7)) == [j for j, k in zip(every, keep) if k]
    it = iter_jobs(spans, OPTS, batch_rows=3)
    assert next(it) == every[0]                   # a generator: nothing planned past the first batch


def test_an_unknown_source_kind_names_its_first_source() -> None:
    table = pa.table({"source": ["a", "b", "c"], "source_kind": ["youtube", "ftp", "gopher"],
                      "start": [0.0, 0.0, 0.0], "end": [1.0, 1.0, 1.0]})
    with pytest.raises(AvdataError, match="source 'b': unknown source_kind 'ftp'"):
        source_spans(table)
