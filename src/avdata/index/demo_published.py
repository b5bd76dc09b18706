"""The demo's step from VIP-ANT's own file layout: ingest the bundled published-format index file
(with its weights file), extract where its lines say, index it as published, and check that the
kept lines are the published ones, byte for byte."""

from __future__ import annotations

from pathlib import Path

from avdata.extract.run import ExtractOptions, run_extract
from avdata.index.build import IndexOptions, build_index
from avdata.ingest import IngestOptions, ingest
from avdata.sources.problems import Problems

PUBLISHED_FILE = "src_full_eval_segments.csv"
WEIGHTS_FILE = "src_eval_segments_weight.csv"


def published_example(example: Path, videos: Path, fetch_manifest: Path, out: Path,
                      workers: int | None) -> list[str]:
    """Run the step below ``out``; returns the demo's lines."""
    index_file, weights = example / PUBLISHED_FILE, example / WEIGHTS_FILE
    clips = out / "clips.parquet"
    res = ingest(IngestOptions(format="vipant", files=(str(index_file),), output=str(clips),
                               weights=(str(weights),)), Problems())
    media = out / "media"
    extracted = run_extract(clips, ExtractOptions(videos=str(videos), out=str(media),
                                                  fetch_manifest=str(fetch_manifest), workers=workers))
    built = build_index(IndexOptions(clips=clips, manifest=media / "extract_manifest.parquet", media=media,
                                     out=out / "index", features=True, workers=workers))
    lines = [f"ingest vipant: {res.rows} published lines (+ weights) -> {clips}",
             f"extract: {extracted.clips_ok} clips where the lines say -> {media}"]
    for cov in built.published:
        published = index_file.read_bytes().splitlines(keepends=True)
        kept = cov.path.read_bytes().splitlines(keepends=True)
        same = kept == [x for x in published if x in set(kept)]
        lines.append(cov.line().strip() + f" (byte-identical published lines: {'yes' if same else 'NO'})")
    return lines
