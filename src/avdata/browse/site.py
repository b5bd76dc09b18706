"""The static site of ``avdata browse``: cards (frames as thumbnails, audio players, labels, links),
pages of cards, the overview, its filter script, and the files that make them.

Everything works from ``file://`` with no network: one stylesheet and one script beside the pages,
data for the overview's filter in ``pages/page-NNNN.js`` files (a browser will not ``fetch`` a
local JSON file, but it runs a local script). Media are never copied: thumbnails (small JPEGs, made
once) live in ``thumbs/``, audio is linked relative to the page. Every file is written atomically and
only when its bytes change; a folder whose ``index.html`` was not written by avdata is refused.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from PIL import Image, UnidentifiedImageError

from avdata.atomic import atomic_path, write_bytes_atomic
from avdata.errors import OutputError

MARKER = "<!-- written by avdata browse -->"
THUMB_SIZE = (192, 144)
STYLE = """body{font-family:sans-serif;margin:1em auto;max-width:1400px;padding:0 1em;box-sizing:border-box}
header{display:flex;flex-wrap:wrap;gap:1em;align-items:center}
nav a{margin-right:.6em}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1em}
.card{border:1px solid #ccc;border-radius:6px;padding:.6em;overflow-wrap:anywhere}
.card.hidden,.group.hidden{display:none}.frames{display:flex;gap:2px;flex-wrap:wrap}
.frames img{width:calc(25% - 2px);height:auto}.missing{background:#eee;color:#800;font-size:.8em;padding:.3em;
width:calc(25% - 2px);box-sizing:border-box}audio{width:100%}.labels{font-size:.85em;color:#333}
.meta{font-size:.8em;color:#555}.score{font-weight:bold}.group{border-top:3px solid #446;margin-top:1.5em}
.group .grid{grid-template-columns:repeat(auto-fill,minmax(240px,1fr))}.seed{background:#eef}
label{margin-right:1em}#results li{margin:.2em 0}"""
SCRIPT = """// avdata browse: the filters (no framework, no network)
function avdataFilter() {
  const split = document.getElementById("split-filter");
  const label = document.getElementById("label-filter");
  const s = split ? split.value : "", l = label ? label.value : "";
  let shown = 0;
  document.querySelectorAll("[data-id]").forEach(card => {
    const ok = (!s || card.dataset.split === s) && (!l || card.dataset.labels.split("|").includes(l));
    card.classList.toggle("hidden", !ok);
    if (ok) shown++;
  });
  const count = document.getElementById("shown");
  if (count) count.textContent = shown;
}
window.AVDATA_PAGES = window.AVDATA_PAGES || [];
function AVDATA_PAGE(page) { window.AVDATA_PAGES.push(page); }
function avdataSearch() {
  const s = document.getElementById("split-filter").value, l = document.getElementById("label-filter").value;
  const out = document.getElementById("results");
  out.innerHTML = "";
  let n = 0;
  for (const page of window.AVDATA_PAGES) {
    for (const item of page.items) {
      if ((s && item.split !== s) || (l && !item.labels.includes(l))) continue;
      n++;
      if (n > 500) continue;
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = page.href + "#" + encodeURIComponent(item.id);
      a.textContent = item.id + " (page " + page.page + ")";
      li.appendChild(a);
      out.appendChild(li);
    }
  }
  document.getElementById("shown").textContent = n;
}
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def href(page_dir: Path, target: Path) -> str:
    """A relative URL from a page in ``page_dir`` to ``target``."""
    return quote(os.path.relpath(target, page_dir).replace(os.sep, "/"))


@dataclass
class Frame:
    path: Path | None
    reason: str = ""            # why there is no picture (shown in its place)


@dataclass
class Card:
    """One clip as a page shows it."""

    id: str
    split: str = ""
    labels: list[tuple[str, str]] = field(default_factory=list)      # (id, name)
    captions: list[str] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    audios: list[tuple[str, Path | None, str]] = field(default_factory=list)   # (title, file, reason if missing)
    meta: list[str] = field(default_factory=list)                      # lines under the title
    link: str | None = None
    score: float | None = None
    css: str = ""


@dataclass
class Group:
    """A heading and its cards (a balance seed and its neighbours)."""

    title: str
    cards: list[Card]
    note: str = ""


def check_folder(out: Path) -> None:
    """Refuse a folder whose ``index.html`` avdata did not write (the user's own site)."""
    page = out / "index.html"
    if page.is_file() and MARKER not in page.read_text("utf-8", errors="replace")[:4000]:
        raise OutputError(f"cannot write --out {out}: its index.html was not written by avdata browse; "
                          "choose another folder")


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it; True when written."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)
    return True


def thumbnail(source: Path, out: Path, key: str) -> tuple[Path | None, str]:
    """``thumbs/KEY.jpg`` of an image (made once; remade when the source is newer); or why not."""
    thumb = out / "thumbs" / f"{key}.jpg"
    try:
        src = source.stat()
    except OSError:
        return None, "file not found"
    try:
        if thumb.stat().st_mtime_ns >= src.st_mtime_ns:
            return thumb, ""
    except OSError:
        pass
    try:
        with Image.open(source) as img:
            small = img.convert("RGB")
            small.thumbnail(THUMB_SIZE)
            thumb.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(thumb) as tmp:
                small.save(tmp, format="JPEG", quality=80)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        return None, f"not a picture ({type(e).__name__})"
    return thumb, ""


def card_html(card: Card, page_dir: Path) -> str:
    labels = "|".join(lid for lid, _ in card.labels)
    names = ", ".join(name for _, name in card.labels) or "(no labels)"
    frames = []
    for k, f in enumerate(card.frames, 1):
        if f.path is None:
            frames.append(f'<div class="missing" role="img" aria-label="frame {k} missing: {esc(f.reason)}">'
                          f"frame {k}: {esc(f.reason)}</div>")
        else:
            frames.append(f'<img src="{href(page_dir, f.path)}" alt="{esc(card.id)} frame {k}" loading="lazy">')
    audios = []
    for title, path, reason in card.audios:
        if path is None:
            audios.append(f'<div class="missing">{esc(title)}: {esc(reason)}</div>')
        else:
            audios.append(f'<div class="meta">{esc(title)}</div><audio controls preload="none" '
                          f'src="{href(page_dir, path)}" aria-label="{esc(card.id)} {esc(title)}"></audio>')
    title = f'<a href="{esc(card.link)}" rel="noopener">{esc(card.id)}</a>' if card.link else esc(card.id)
    score = f' <span class="score">{card.score:.3f}</span>' if card.score is not None else ""
    caps = "".join(f"<li>{esc(c)}</li>" for c in card.captions)
    meta = "".join(f'<div class="meta">{esc(m)}</div>' for m in card.meta)
    return (f'<article class="card {card.css}" id="{esc(card.id)}" data-id="{esc(card.id)}" '
            f'data-split="{esc(card.split)}" data-labels="{esc(labels)}"{_score_attr(card)}>'
            f"<h3>{title}{score}</h3>{meta}<div class=\"frames\">{''.join(frames)}</div>{''.join(audios)}"
            f'<div class="labels">{esc(names)}</div>' + (f"<ul>{caps}</ul>" if caps else "") + "</article>")


def _score_attr(card: Card) -> str:
    return f' data-score="{card.score:.6f}"' if card.score is not None else ""


def filters_html(cards: Sequence[Card]) -> str:
    splits = sorted({c.split for c in cards if c.split})
    labels = sorted({lab for c in cards for lab in c.labels}, key=lambda x: x[1])
    opts_s = "".join(f'<option value="{esc(s)}">{esc(s)}</option>' for s in splits)
    opts_l = "".join(f'<option value="{esc(i)}">{esc(n)}</option>' for i, n in labels)
    return (f'<label>split <select id="split-filter" onchange="avdataFilter()"><option value="">all</option>{opts_s}'
            f'</select></label><label>label <select id="label-filter" onchange="avdataFilter()">'
            f'<option value="">all</option>{opts_l}</select></label> shown: <span id="shown">{len(cards)}</span>')


def page_html(title: str, out: Path, page_dir: Path, body: str, nav: str = "") -> str:
    return (f"<!DOCTYPE html>\n{MARKER}\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="viewport" content="width=device-width"><title>{esc(title)}</title>'
            f'<link rel="stylesheet" href="{href(page_dir, out / "style.css")}">'
            f'<script src="{href(page_dir, out / "browse.js")}"></script></head>'
            f"<body><header><h1>{esc(title)}</h1><nav>{nav}</nav></header>{body}</body></html>\n")


def write_assets(out: Path) -> None:
    write_if_changed(out / "style.css", STYLE)
    write_if_changed(out / "browse.js", SCRIPT)


def sidecar_js(page: int, page_href: str, cards: Sequence[Card]) -> str:
    items = [{"id": c.id, "split": c.split, "labels": [lid for lid, _ in c.labels]} for c in cards]
    names = {lid: name for c in cards for lid, name in c.labels}
    return f"AVDATA_PAGE({json.dumps({'page': page, 'href': page_href, 'items': items, 'names': names})});\n"
