"""Benchmark of ``avdata browse`` on a 200,000-line index: time and disk against the media's size.

Writes ``--media-clips`` distinct clips (a 10 s MP3 and 4 JPEG frames each, as extract writes them)
and an index of ``--lines`` lines naming them in turn, then:

- ``avdata browse`` as it runs by default: the overview and the first ``--pages`` pages (48 clips
  each), thumbnails made for those pages only;
- the per-page cost, from which the time and disk to write every page are estimated;
- a rerun (nothing changed: nothing rewritten).

The baseline is the media itself: its size for the whole index (per-clip size x lines). Run:
python benchmarks/bench_browse.py [--lines 200000] [--media-clips 600] [--pages 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "train"))

import numpy as np  # noqa: E402
from train_corpus import clip_audio, clip_frames, write_clip  # noqa: E402

from avdata.browse.run import BrowseOptions, run_browse  # noqa: E402


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--media-clips", type=int, default=600)
    ap.add_argument("--pages", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_browse_"))
    try:
        rng = np.random.default_rng(0)
        media = tmp / "media"
        lines = [write_clip(media, f"br{k:09d}", clip_audio(rng, 10.0, 22050), 22050, 64_000,
                            [np.kron(f, np.ones((3, 3, 1), np.uint8)) for f in clip_frames(rng)], 90)
                 for k in range(args.media_clips)]   # 288 x 192 frames, as small videos give
        for x in lines:
            x["labels"] = ["/m/09x0r"]
        index = tmp / "src_unbalanced_train_segments.csv"
        with open(index, "w") as fh:
            for i in range(args.lines):
                fh.write(json.dumps(lines[i % len(lines)]) + "\n")
        per_clip = folder_bytes(media) / args.media_clips
        print(f"{args.lines:,}-line index; media {per_clip / 1e3:.0f} kB a clip -> "
              f"{per_clip * args.lines / 1e9:.1f} GB for the whole index (the baseline: what browse must not copy)")
        out = tmp / "site"
        t0 = time.perf_counter()
        res = run_browse(BrowseOptions(index, out, media=media, pages=args.pages))
        first = time.perf_counter() - t0
        size = folder_bytes(out)
        print(f"  browse, first {args.pages} pages (default): {first:.1f} s, {size / 1e6:.1f} MB "
              f"({res.pages_total:,} pages in all; thumbnails for the written pages only)")
        t0 = time.perf_counter()
        run_browse(BrowseOptions(index, out, media=media, pages=args.pages))
        print(f"  rerun, nothing changed: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        before = folder_bytes(out)
        run_browse(BrowseOptions(index, out, media=media, pages=args.pages), pages=range(args.pages, 2 * args.pages))
        per_page_s = (time.perf_counter() - t0) / args.pages
        per_page_b = (folder_bytes(out) - before) / args.pages
        print(f"  every page ({res.pages_total:,}): about {per_page_s * res.pages_total / 60:.0f} min and "
              f"{per_page_b * res.pages_total / 1e9:.2f} GB (pages and thumbnails; "
              f"{100 * per_page_b * res.pages_total / (per_clip * args.lines):.1f}% of the media) -- "
              f"or none up front with --serve")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
