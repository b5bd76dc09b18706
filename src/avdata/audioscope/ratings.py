"""Human ratings to the unanimous AudioScope subsets.

A ratings file has one rating per line: ``video path, start, end, rater, label`` with ``label`` one
of ``onscreen``, ``offscreen``, ``both``, ``none`` (a header line is allowed). A clip rated by at
least ``min_raters`` distinct raters who all said ``onscreen`` becomes ``onscreen_unanimous``; all
``offscreen``, ``offscreen_unanimous``; anything else (a tie, a ``both``, too few raters) leaves the
clip unannotated. The published sets do not state their rater count or exact rule (see
RECIPES.md), hence the option. A rater who rates one clip twice counts once; if the two labels
differ the clip cannot be unanimous. Bad rows are reported as ``FILE:LINE: reason`` and skipped;
ratings of clips the table does not have are reported too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from avdata.errors import AvdataError
from avdata.pathcheck import FILE, Output, check_outputs
from avdata.sources.lines import TextLines, csv_rows
from avdata.sources.numbers import RowError, nonnegative_number
from avdata.sources.problems import Problems
from avdata.table import read_clips, write_clips

LABELS = ("onscreen", "offscreen", "both", "none")
UNANIMOUS = {"onscreen": "onscreen_unanimous", "offscreen": "offscreen_unanimous"}
CONFLICT = "conflict"   # one rater, two different labels for one clip


@dataclass(frozen=True)
class RatingsOptions:
    """Options of ``apply_ratings`` (the CLI's flags one to one)."""

    ratings: tuple[str, ...]
    clips: str
    output: str | None = None          # default: ``{clips stem}_rated.parquet`` beside the clips
    min_raters: int = 3

    def output_path(self) -> Path:
        if self.output:
            return Path(self.output)
        c = Path(self.clips)
        return c.with_name(c.name.split(".")[0] + "_rated.parquet")


@dataclass
class RatingsSummary:
    """Clips per outcome, the rows read and the problems met."""

    output: Path
    rows: int = 0
    outcomes: Counter = field(default_factory=Counter)
    problems: Problems = field(default_factory=Problems)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items())) or "no rated clips"
        return [f"ratings: {self.rows} rating(s) read, {self.problems.n_errors} bad row(s) skipped; "
                f"rated clips: {counts}; wrote {self.output}"]


def _key(source: str, start: float, end: float) -> tuple[str, int, int]:
    return source, int(round(start * 1000)), int(round(end * 1000))


def read_ratings(path: str, problems: Problems) -> dict[tuple[str, int, int], dict[str, str]]:
    """Clip key -> {rater: label} (``CONFLICT`` for a rater who gave two labels)."""
    out: dict[tuple[str, int, int], dict[str, str]] = {}
    lines = TextLines(path, problems)     # a line that is not UTF-8 costs that line (FILE:LINE)
    for row, line in csv_rows(lines, problems, skipinitialspace=True):
        fields = [f.strip() for f in row]
        if line == 1 and fields:
            fields[0] = fields[0].lstrip("\ufeff")
        if not any(fields):
            continue
        if line == 1 and len(fields) == 5 and fields[4].lower() == "label":
            continue        # header
        if len(fields) != 5:
            problems.error(path, line, f"expected 5 fields (video path, start, end, rater, label), "
                                       f"found {len(fields)}")
            continue
        src, s, e, rater, label = fields
        try:
            start, end = nonnegative_number(s, "start"), nonnegative_number(e, "end")
        except RowError as err:
            problems.error(path, line, str(err))
            continue
        if end <= start:
            problems.error(path, line, f"end {e} is not after start {s}")
            continue
        if not src or not rater:
            problems.error(path, line, "empty video path or rater")
            continue
        if label.lower() not in LABELS:
            problems.error(path, line, f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
            continue
        votes = out.setdefault(_key(src, start, end), {})
        old = votes.get(rater)
        if old is not None and old != label.lower():
            problems.warn(path, line, f"rater {rater!r} rated {src} {s}-{e} again with another label "
                                      f"({old} then {label.lower()}): the clip cannot be unanimous")
            votes[rater] = CONFLICT
        elif old is None:
            votes[rater] = label.lower()
    return out


def decide(votes: dict[str, str], min_raters: int) -> str | None:
    """The subset a clip's votes put it in, or None (unannotated)."""
    if len(votes) < min_raters:
        return None
    labels = set(votes.values())
    if len(labels) == 1:
        return UNANIMOUS.get(labels.pop())
    return None


def apply_ratings(options: RatingsOptions) -> RatingsSummary:
    """Set ``annotation`` of every rated clip from its ratings; add ``raters`` (distinct raters,
    null when unrated); write the table to ``output_path()``. Unrated clips keep their annotation."""
    if options.min_raters < 1:
        raise AvdataError(f"--min-raters must be at least 1 (got {options.min_raters})")
    summary = RatingsSummary(output=options.output_path())
    check_outputs([Output(summary.output, FILE, "-o")], [options.clips, *options.ratings])
    table = read_clips(options.clips)
    votes: dict[tuple[str, int, int], dict[str, str]] = {}
    for path in options.ratings:
        for key, v in read_ratings(path, summary.problems).items():
            merged = votes.setdefault(key, {})
            for rater, label in v.items():
                merged[rater] = label if merged.get(rater, label) == label else CONFLICT
    summary.rows = sum(len(v) for v in votes.values())
    cols = table.select(["source", "start", "end", "annotation"]).to_pydict()
    annotation: list[Any] = []
    raters: list[int | None] = []
    seen = set()
    for src, s, e, ann in zip(cols["source"], cols["start"], cols["end"], cols["annotation"]):
        key = _key(src, s, e)
        clip_votes = votes.get(key)
        if clip_votes is None:
            annotation.append(ann)
            raters.append(None)
            continue
        seen.add(key)
        subset = decide(clip_votes, options.min_raters)
        summary.outcomes[subset or ("too_few_raters" if len(clip_votes) < options.min_raters else "not_unanimous")] += 1
        annotation.append(subset)
        raters.append(len(clip_votes))
    for key in sorted(set(votes) - seen):
        summary.problems.warn(options.ratings[0] if len(options.ratings) == 1 else ",".join(options.ratings),
                              None, f"{key[0]} {key[1] / 1000:g}-{key[2] / 1000:g}: rated but not in {options.clips}")
    table = table.set_column(table.schema.get_field_index("annotation"), "annotation",
                             pa.array(annotation, pa.string()))
    if "raters" in table.column_names:
        table = table.drop_columns(["raters"])
    table = table.append_column("raters", pa.array(raters, pa.int32()))
    write_clips(table, summary.output)
    return summary
