"""issue 22: `avdata browse` pages of the demo's index, balance output and render output, opened in
headless Chromium: every picture loads, every player's file decodes, a seed's neighbours are those
of knn_top*.jsonl in order, paging and the label filters work when clicked, no page is blank."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser_pages import dump_after, page_check, screenshot
from PIL import Image

from avdata.browse.run import BrowseOptions, run_browse, serve
from avdata.media.inspect import decode_audio

pytestmark = pytest.mark.slow
IDS = re.compile(r'data-id="([^"]*)"')


@pytest.fixture(scope="module")
def sites(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("browse")
    d = demo_dir
    run_browse(BrowseOptions(d / "index" / "src_train_segments.csv", out / "index", media=d / "media", page_size=5,
                             pages=2))
    run_browse(BrowseOptions(d / "balance" / "knn", out / "balance", media=d / "media"))
    run_browse(BrowseOptions(d / "render", out / "render", scores=d / "score" / "clips_scored.parquet"))
    return {"index": out / "index", "balance": out / "balance", "render": out / "render", "demo": d}


def _audio_files(page: Path) -> list[Path]:
    srcs = re.findall(r'<audio[^>]* src="([^"]+)"', page.read_text())
    return [(page.parent / html.unescape(s).replace("%20", " ")).resolve() for s in srcs]


@pytest.mark.parametrize("kind", ["index", "balance", "render"])
def test_every_picture_loads_and_every_player_decodes(sites: dict[str, Path], kind: str, tmp_path: Path) -> None:
    page = sites[kind] / "pages" / "page-0001.html"
    m = page_check(page)
    assert len(m["images"]) >= 8 and all(i["ok"] for i in m["images"]), m["images"]
    assert m["scrollWidth"] <= m["clientWidth"]
    audio = _audio_files(page)
    assert audio
    for f in set(audio):
        samples, rate = decode_audio(f)
        assert samples.shape[1] > rate            # at least a second of sound
    shot = np.asarray(Image.open(screenshot(page, tmp_path / f"{kind}.png")).convert("L"), dtype=np.float64)
    assert shot.std() > 20, kind                  # not blank


def test_the_neighbours_of_each_seed_are_the_knn_files_in_order(sites: dict[str, Path]) -> None:
    knn = [json.loads(x) for x in (sites["demo"] / "balance" / "knn" / "knn_top4.jsonl").read_text().splitlines()]
    dom = dump_after(sites["balance"] / "pages" / "page-0001.html", "")
    groups = re.findall(r'<section class="group" data-group="seed ([^"]+)">(.*?)</section>', dom, re.S)
    assert [g for g, _ in groups] == [next(iter(e)) for e in knn]
    for (seed, body), entry in zip(groups, knn):
        ids = IDS.findall(body)
        assert ids[0] == seed and ids[1:] == [n for n, _ in entry[seed]]
        scores = [float(x) for x in re.findall(r'data-score="([^"]+)"', body)]
        assert scores == pytest.approx([s for _, s in entry[seed]], abs=1e-6)


def test_paging_by_clicking_next_shows_the_next_lines(sites: dict[str, Path]) -> None:
    lines = [json.loads(x)["id"] for x in (sites["demo"] / "index" / "src_train_segments.csv").read_text().splitlines()]
    page1 = sites["index"] / "pages" / "page-0001.html"
    assert IDS.findall(page1.read_text()) == lines[:5]
    dom = dump_after(page1, 'document.querySelector("a[rel=next]").click();')
    assert IDS.findall(dom) == lines[5:10] and "page 2 of 3" in dom


def test_the_label_filter_shows_the_clips_that_have_the_label(sites: dict[str, Path]) -> None:
    page = sites["index"] / "pages" / "page-0001.html"
    cards = re.findall(r'data-id="[^"]*" data-split="[^"]*" data-labels="([^"]*)"', page.read_text())
    label = max({lab for c in cards for lab in c.split("|")}, key=lambda x: sum(x in c.split("|") for c in cards))
    want = sum(label in c.split("|") for c in cards)
    assert 0 < want < len(cards)
    script = (f'const s = document.getElementById("label-filter"); s.value = {json.dumps(label)}; '
              's.dispatchEvent(new Event("change")); '
              'document.body.setAttribute("data-visible", document.querySelectorAll(".card:not(.hidden)").length);')
    dom = dump_after(page, script)
    assert f'data-visible="{want}"' in dom and f'<span id="shown">{want}</span>' in dom
    # the overview's filter over every written page (its sidecars)
    items = []
    for js in sorted((sites["index"] / "pages").glob("page-*.js")):
        items += json.loads(js.read_text()[len("AVDATA_PAGE("):-3])["items"]
    want_all = sum(label in it["labels"] for it in items)
    dom = dump_after(sites["index"] / "index.html", script.replace(".card:not(.hidden)", "#results li"))
    assert f'data-visible="{want_all}"' in dom and f'<span id="shown">{want_all}</span>' in dom


def test_render_pages_show_scores_and_annotations(sites: dict[str, Path]) -> None:
    from avdata.table import read_clips

    table = read_clips(sites["demo"] / "score" / "clips_scored.parquet").to_pylist()
    scored = {r["clip_id"]: r["score"] for r in table}
    text = (sites["render"] / "pages" / "page-0001.html").read_text()
    shown = dict(re.findall(r'data-id="([^"]+)"[^>]*data-score="([^"]+)"', text))
    assert shown and all(float(v) == pytest.approx(scored[k], abs=1e-6) for k, v in shown.items())
    assert "annotation:" in text


def test_missing_media_is_a_placeholder_and_reruns_change_nothing(sites: dict[str, Path], tmp_path: Path) -> None:
    demo = sites["demo"]
    media = tmp_path / "media"
    shutil.copytree(demo / "media", media)
    first = json.loads((demo / "index" / "src_eval_segments.csv").read_text().splitlines()[0])
    (media / first["dir"] / "frame" / f"{first['id']}.{first['frame'][1]}").unlink()
    second = json.loads((demo / "index" / "src_eval_segments.csv").read_text().splitlines()[1])
    for name in second["frame"]:
        (media / second["dir"] / "frame" / f"{second['id']}.{name}").unlink()
    from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
    from avdata.manifest import ManifestWriter

    with ManifestWriter(media / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA, keys=MANIFEST_KEYS) as w:
        w.write({"clip_id": second["id"], "clip": "p0", "dir": second["dir"], "source": second["id"],
                 "start": 0.0, "end": 10.0, "frame_files": [], "frame_times": [], "status": "decode_error",
                 "message": "a test says so", "seconds": 0.0})
    out = tmp_path / "site"
    (out).mkdir()
    (out / "notes.txt").write_text("mine")
    opts = BrowseOptions(demo / "index" / "src_eval_segments.csv", out, media=media)
    run_browse(opts)
    page = out / "pages" / "page-0001.html"
    assert "frame 2: file not found" in page.read_text()
    assert "frame 1: file not found (extract decode_error: a test says so)" in page.read_text()
    assert all(i["ok"] for i in page_check(page)["images"])
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    run_browse(opts)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    assert (out / "notes.txt").read_text() == "mine"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "index.html").write_text("<html>my own site</html>")
    r = subprocess.run([sys.executable, "-m", "avdata", "browse", str(demo / "index" / "src_eval_segments.csv"),
                        "--media", str(media), "-o", str(theirs)], capture_output=True, text=True)
    assert r.returncode == 3 and "not written by avdata browse" in r.stderr
    assert (theirs / "index.html").read_text() == "<html>my own site</html>" and len(list(theirs.iterdir())) == 1


def test_serve_writes_a_page_when_it_is_asked_for(sites: dict[str, Path], tmp_path: Path) -> None:
    demo = sites["demo"]
    opts = BrowseOptions(demo / "index" / "src_train_segments.csv", tmp_path / "served", media=demo / "media",
                         page_size=2, pages=0)
    ready = threading.Event()
    server = serve(opts, port=0, ready=ready)
    try:
        port = server.server_address[1]
        assert not (tmp_path / "served" / "pages" / "page-0004.html").exists()
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/pages/page-0004.html", timeout=30).read().decode()
        lines = [json.loads(x)["id"] for x in (demo / "index" / "src_train_segments.csv").read_text().splitlines()]
        assert IDS.findall(body) == lines[6:8]
        assert (tmp_path / "served" / "pages" / "page-0004.html").is_file()
    finally:
        server.shutdown()
        server.server_close()
