"""``avdata browse TARGET -o DIR``: a static site to look at and listen to a built set.

``DIR/index.html`` is the overview: the pages, and a filter by split and label over the clips of
every page written so far (their ``pages/page-NNNN.js`` sidecars). ``DIR/pages/page-NNNN.html`` show
``page_size`` items each (cards, or a balance seed with its neighbours). Only the first ``pages``
pages are written up front (a 2M-line index is 41,667 pages of 48: nobody wants them all on disk
at once); ``--pages N`` writes more on a rerun, and ``avdata browse ... --serve`` serves DIR on
loopback and writes any page the moment it is asked for. Reruns rewrite only files whose bytes
changed and make only missing or outdated thumbnails.
"""

from __future__ import annotations

import functools
import http.server
import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avdata.browse.site import (
    Card,
    Group,
    card_html,
    check_folder,
    esc,
    filters_html,
    href,
    page_html,
    sidecar_js,
    write_assets,
    write_if_changed,
)
from avdata.browse.targets import Target, open_target, read_scores
from avdata.errors import OptionError
from avdata.sources.ontology import Ontology

PAGE_NAME = re.compile(r"page-(\d{4,})\.html")


@dataclass(frozen=True)
class BrowseOptions:
    """Options of ``run_browse`` (mirrors ``avdata browse``)."""

    target: str | os.PathLike[str]
    out: str | os.PathLike[str]
    media: str | os.PathLike[str] | None = None
    page_size: int = 48
    pages: int = 10
    scores: str | os.PathLike[str] | None = None
    ontology: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.page_size < 1 or self.pages < 0:
            raise OptionError("page size must be at least 1 and pages at least 0")


@dataclass
class BrowseResult:
    out: Path
    kind: str
    items: int
    pages_total: int
    pages_written: list[int] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    def lines(self) -> list[str]:
        return [f"browse ({self.kind}): {self.items} items on {self.pages_total} page(s), "
                f"{len(self.pages_written)} written -> {self.index}"]


def page_path(out: Path, k: int) -> Path:
    return out / "pages" / f"page-{k + 1:04d}.html"


class Site:
    """One target's pages in one output folder."""

    def __init__(self, opts: BrowseOptions) -> None:
        self.opts = opts
        self.out = Path(opts.out)
        check_folder(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        scores = read_scores(opts.scores) if opts.scores else None
        media = Path(opts.media) if opts.media is not None else None
        self.target: Target = open_target(Path(opts.target), self.out, media, Ontology.load(opts.ontology), scores)
        self.total = max(1, math.ceil(self.target.count() / opts.page_size))
        self.lock = threading.Lock()

    def write_page(self, k: int) -> Path:
        """Page ``k`` (0-based) and its sidecar."""
        path = page_path(self.out, k)
        items = self.target.page(k, self.opts.page_size)
        cards = [c for item in items for c in (item.cards if isinstance(item, Group) else [item])]
        body = [f'<p>{filters_html(cards)}</p>']
        if items and isinstance(items[0], Group):
            for g in items:
                assert isinstance(g, Group)
                inner = "".join(card_html(c, path.parent) for c in g.cards)
                body.append(f'<section class="group" data-group="{esc(g.title)}"><h2>{esc(g.title)}</h2>'
                            f'<p class="meta">{esc(g.note)}</p><div class="grid">{inner}</div></section>')
        else:
            body.append('<div class="grid">' + "".join(card_html(c, path.parent) for c in items
                                                       if isinstance(c, Card)) + "</div>")
        with self.lock:
            write_if_changed(path, page_html(f"{self.target.title} · page {k + 1} of {self.total}", self.out,
                                             path.parent, "".join(body), self._nav(k, path.parent)))
            write_if_changed(path.with_suffix(".js"), sidecar_js(k + 1, href(self.out, path), cards))
        return path

    def _nav(self, k: int, page_dir: Path) -> str:
        links = [f'<a href="{href(page_dir, self.out / "index.html")}">overview</a>']
        if k > 0:
            links.append(f'<a rel="prev" href="{href(page_dir, page_path(self.out, k - 1))}">previous</a>')
        if k + 1 < self.total:
            links.append(f'<a rel="next" href="{href(page_dir, page_path(self.out, k + 1))}">next</a>')
        return " ".join(links)

    def written(self) -> list[int]:
        folder = self.out / "pages"
        found = [int(m[1]) - 1 for p in folder.glob("page-*.html") if (m := PAGE_NAME.fullmatch(p.name))] \
            if folder.is_dir() else []
        return sorted(k for k in found if k < self.total)

    def write_overview(self, serving: bool = False) -> Path:
        done = self.written()
        scripts = "".join(f'<script src="{href(self.out, page_path(self.out, k).with_suffix(".js"))}"></script>'
                          for k in done)
        items = []
        for k in range(self.total):
            name = f"page {k + 1}"
            if k in done or serving:
                items.append(f'<li><a href="{href(self.out, page_path(self.out, k))}">{name}</a></li>')
            else:
                items.append(f"<li>{name} (not written yet: rerun with --pages {k + 1} or use --serve)</li>")
        body = (f"<p>{self.target.count()} items on {self.total} page(s) of {self.opts.page_size}; "
                f"{len(done)} written.</p>{scripts}"
                '<h2>Find clips</h2><p>(over the pages written so far) <label>split <select id="split-filter" '
                'onchange="avdataSearch()"><option value="">all</option></select></label><label>label '
                '<select id="label-filter" onchange="avdataSearch()"><option value="">all</option></select>'
                '</label> found: <span id="shown">0</span></p><ul id="results"></ul>'
                f'<h2>Pages</h2><ol class="pages">{"".join(items)}</ol>' + OVERVIEW_SCRIPT)
        path = self.out / "index.html"
        with self.lock:
            write_if_changed(path, page_html(self.target.title, self.out, self.out, body))
        return path


OVERVIEW_SCRIPT = """<script>
(function () {
  const splits = new Set(), labels = new Set(), names = {};
  for (const p of window.AVDATA_PAGES) { Object.assign(names, p.names || {});
    for (const it of p.items) { if (it.split) splits.add(it.split); it.labels.forEach(l => labels.add(l)); } }
  const add = (id, values) => { const s = document.getElementById(id);
    [...values].sort().forEach(v => { const o = document.createElement("option"); o.value = v;
      o.textContent = names[v] || v; s.appendChild(o); }); };
  add("split-filter", splits); add("label-filter", labels); avdataSearch();
})();
</script>"""


def run_browse(opts: BrowseOptions, pages: Sequence[int] | None = None) -> BrowseResult:
    """Write the overview and the first ``opts.pages`` pages (or ``pages``, 0-based)."""
    site = Site(opts)
    write_assets(site.out)
    todo = list(pages) if pages is not None else list(range(min(opts.pages, site.total)))
    for k in todo:
        site.write_page(k)
    site.write_overview()
    return BrowseResult(site.out, site.target.kind, site.target.count(), site.total, todo)


def serve(opts: BrowseOptions, port: int = 8000, host: str = "127.0.0.1",
          ready: threading.Event | None = None) -> http.server.ThreadingHTTPServer:
    """Serve DIR; a page not written yet is written when asked for. Returns the server (running in
    this thread when ``ready`` is None; started in a daemon thread otherwise)."""
    site = Site(opts)
    write_assets(site.out)
    site.write_overview(serving=True)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            m = re.fullmatch(r"/pages/page-(\d{4,})\.(html|js)", self.path.split("?")[0])
            if m and 1 <= int(m[1]) <= site.total and not page_path(site.out, int(m[1]) - 1).is_file():
                site.write_page(int(m[1]) - 1)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = http.server.ThreadingHTTPServer((host, port), functools.partial(Handler, directory=str(site.out)))
    if ready is None:
        server.serve_forever()
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ready.set()
    return server
