"""``groups.html``: an audit's findings to look at and listen to (no script, no copied media).

Counts per flag and split, the leaks with both sides, every duplicate group (first ``MAX_GROUPS``)
with each member's middle frame and audio player, and the flagged clips (first ``MAX_FLAGGED`` of
each flag) with the measure that flagged them. Media are linked by paths relative to the page.
"""

from __future__ import annotations

import html
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from avdata.atomic import write_text_atomic
from avdata.embed import media_for_line
from avdata.errors import AvdataError, InputFormatError
from avdata.index.lines import iter_raw_lines, parse_line

if TYPE_CHECKING:
    from avdata.audit.run import AuditOptions

MAX_GROUPS = 500
MAX_FLAGGED = 200

STYLE = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.group{border:1px solid #bbb;margin:1em 0;padding:.5em}
.clip{display:inline-block;vertical-align:top;width:200px;margin:.3em}.clip img{width:192px;display:block}
.clip audio{width:192px}.leak{border-color:#c00}.tag{color:#c00;font-weight:bold}small{color:#666}"""


def _media(paths: dict[tuple[str, int], dict], page: Path, root: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """(frame, audio) links relative to the page for each wanted (index file, line)."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    for (file, line), rec in paths.items():
        try:
            m = media_for_line(rec, root)
        except AvdataError:
            continue
        frame = m.frames[(len(m.frames) + 1) // 2 - 1] if m.frames else None
        rel = [os.path.relpath(p, page.parent) if p is not None else "" for p in (frame, m.audio)]
        out[(file, line)] = (rel[0], rel[1])
    return out


def _records(wanted: dict[str, set[int]]) -> dict[tuple[str, int], dict]:
    found: dict[tuple[str, int], dict] = {}
    for file, lines in wanted.items():
        last = max(lines)
        for lineno, raw in enumerate(iter_raw_lines(file), 1):
            if lineno in lines:
                try:
                    found[(file, lineno)] = parse_line(raw, file, lineno)
                except InputFormatError:
                    pass
            if lineno >= last:
                break
    return found


def _clip(row: dict[str, Any], links: dict[tuple[str, int], tuple[str, str]], note: str = "") -> str:
    frame, audio = links.get((row["index_file"], row["line"]), ("", ""))
    e = html.escape
    parts = [f'<div class="clip" data-id="{e(row["id"])}">']
    if frame:
        parts.append(f'<img src="{e(frame)}" alt="frame of {e(row["id"])}" loading="lazy">')
    if audio:
        parts.append(f'<audio controls preload="none" src="{e(audio)}"></audio>')
    parts.append(f'<b>{e(row["split"])}</b>: {e(row["id"])}<br><small>{e(Path(row["index_file"]).name)}:'
                 f'{row["line"]}</small>{"<br>" + e(note) if note else ""}</div>')
    return "".join(parts)


def write_page(path: Path, table: pa.Table, media: Path, opts: AuditOptions, per_split: dict[str, dict[str, int]],
               n_groups: int, n_leaks: int) -> None:
    """Write the audit page for ``table`` (an audit's clips table; its counts per split, groups and
    leaks as the run counted them). Only the rows the page shows become Python objects."""
    mask = pa.compute.or_(pa.compute.is_valid(table.column("dup_group")),
                          pa.compute.or_kleene(pa.compute.or_kleene(table.column("still"), table.column("silent")),
                                               table.column("short")).fill_null(False))
    rows = table.filter(mask).to_pylist()
    groups: dict[int, list[dict]] = defaultdict(list)
    flagged: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["dup_group"] is not None and row["dup_group"] < MAX_GROUPS:
            groups[row["dup_group"]].append(row)
        for flag in ("still", "silent", "short"):
            if row[flag] and len(flagged[flag]) < MAX_FLAGGED:
                flagged[flag].append(row)
    wanted: dict[str, set[int]] = defaultdict(set)
    for row in [r for g in groups.values() for r in g] + [r for f in flagged.values() for r in f]:
        wanted[row["index_file"]].add(row["line"])
    links = _media(_records(wanted), path, media)
    e = html.escape
    body = [f"<h1>Audit of {len(opts.index)} index file(s)</h1>",
            f"<p>{table.num_rows} clips; <span id=\"groups\">{n_groups}</span> duplicate group(s), "
            f"<span id=\"leaks\">{n_leaks}</span> leak(s). Duplicates: embedder <code>{e(opts.embedder)}</code>, "
            f"cosine &ge; {opts.threshold}, or equal file bytes.</p>",
            "<table><tr><th>split</th><th>still</th><th>silent</th><th>short</th></tr>"]
    for split, c in sorted(per_split.items()):
        body.append(f"<tr><td>{e(split)}</td><td>{c['still']}</td><td>{c['silent']}</td><td>{c['short']}</td></tr>")
    body.append("</table><h2>Duplicate groups</h2>")
    for g in sorted(groups):
        members = groups[g]
        leak = members[0]["leak"]
        title = f'group {g}' + (' <span class="tag">leak: training and held-out</span>' if leak else "")
        body.append(f'<div class="group{" leak" if leak else ""}" data-group="{g}"><h3>{title}</h3>'
                    + "".join(_clip(r, links) for r in members) + "</div>")
    if n_groups > MAX_GROUPS:
        body.append(f"<p>... and {n_groups - MAX_GROUPS} more groups (clips.parquet has them all).</p>")
    reasons = (("still", "motion {motion:.2f} grey levels"), ("silent", "{silent_fraction:.0%} of windows silent"),
               ("short", "audio {audio_seconds:.2f} s of {listed_seconds:.2f} s listed"))
    for flag, why in reasons:
        body.append(f'<h2 id="{flag}">{flag.capitalize()} clips</h2><div class="flagged" data-flag="{flag}">')
        for r in flagged[flag]:
            values = {k: (v if isinstance(v, float) else float("nan")) for k, v in r.items()}
            body.append(_clip(r, links, why.format(**values)))
        body.append("</div>")
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>avdata audit</title>'
            f'<style>{STYLE}</style></head><body>{"".join(body)}</body></html>\n')
    write_text_atomic(path, page)
