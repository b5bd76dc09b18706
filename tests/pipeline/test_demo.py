"""The README's main command, `avdata demo`, runs every stage on the bundled example."""

import subprocess
import sys
from pathlib import Path

import av
import pyarrow as pa
import pyarrow.compute  # noqa: F401

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.manifest import latest, read_manifest
from avdata.media.synth import read_frame_time_ms
from avdata.table import read_clips


def test_demo_runs_the_pipeline_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "avdata", "demo", "--out", str(out), "--workers", "2"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    clips = read_clips(out / "clips.parquet")
    rows = latest(read_manifest(out / "media" / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA),
                  list(MANIFEST_KEYS)).to_pylist()
    gold = {r["clip_id"]: r for r in rows if r["clip"] == "p0"}
    assert set(gold) == set(clips.column("clip_id").to_pylist())
    assert all(r["status"] == "ok" for r in rows)
    # frames come from the stand-in section files: the time each frame shows + the section's offset
    # is the source time the manifest says it took
    fetched = {r["source"]: r for r in read_manifest(out / "videos" / "fetch_manifest.parquet").to_pylist()}
    for r in list(gold.values())[:5]:
        offset = fetched[r["source"]]["offset"]
        for name, t in zip(r["frame_files"], r["frame_times"]):
            with av.open(str(out / "media" / name)) as c:
                shown = read_frame_time_ms(next(c.decode(video=0)).to_ndarray(format="rgb24")) / 1000
            assert abs(shown + offset - t) < 0.051      # 10 fps stand-ins
        assert r["start"] <= r["frame_times"][0] < r["start"] + 0.11
    again = subprocess.run([sys.executable, "-m", "avdata", "demo", "--out", str(out), "--workers", "2"],
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "done 0, skipped (already complete)" in again.stdout, again.stdout[-1500:]
    rendered = (out / "render" / "examples.jsonl").read_text().splitlines()
    assert len(rendered) == clips.filter(pa.compute.starts_with(clips.column("dataset"), "audioscope")).num_rows
    # embed: one unit row per line of the main index, and nothing to redo on the rerun
    import json

    import numpy as np

    meta = json.loads((out / "embed" / "meta.json").read_text())
    emb = np.load(out / "embed" / "embeddings.npy", mmap_mode="r")
    assert meta["complete"] and emb.shape == (meta["index"]["lines"], meta["dim"]) and meta["embedder"] == "signal"
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5) and "embedded 0, already done" in again.stdout


def test_demo_index_lines_resolve_to_media_that_decodes(tmp_path: Path) -> None:
    """End to end with the real extraction engine: index lines in the published key order whose
    dir/aclip/frame resolve to files that decode, with bos/eos as the segment files write them."""
    import json

    import numpy as np

    from avdata.index.entry import INDEX_KEYS

    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "avdata", "demo", "--out", str(out), "--workers", "2"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    clips = {r["clip_id"]: r for r in read_clips(out / "clips.parquet").to_pylist()}
    media = out / "media"
    seen = 0
    for path in sorted((out / "index").glob("src_*.csv")):
        if path.name.endswith("_weight.csv"):
            continue
        lines = path.read_text().splitlines()
        weights = (path.with_name(path.stem + "_weight.csv")).read_text().splitlines()
        assert len(weights) == len(lines) and all(float(w) >= 0 for w in weights)
        for line in lines:
            entry = json.loads(line)
            keys = list(entry)
            assert keys == [k for k in INDEX_KEYS if k in entry]
            clip = clips[entry["id"]]
            assert (entry["bos"], entry["eos"]) == (f"{clip['start']:.3f}", f"{clip['end']:.3f}")
            assert entry["labels"] == clip["labels"]
            assert ("captions" in entry) == (clip["dataset"] == "audiocaps")
            audio = media / entry["dir"] / "aclip" / f"{entry['id']}.{entry['aclip'][0]}"
            with av.open(str(audio)) as c:
                samples = sum(f.samples for f in c.decode(audio=0))
                rate = c.streams.audio[0].rate
            assert samples == round((clip["end"] - clip["start"]) * rate)
            for name in entry["frame"]:
                with av.open(str(media / entry["dir"] / "frame" / f"{entry['id']}.{name}")) as c:
                    assert next(c.decode(video=0)).width == 160
            fbank = np.load(media / entry["dir"] / "aclip_128" / f"{entry['id']}.{entry['aclip_128']}")
            assert fbank[fbank.files[0]].shape[1] == 128
            seen += 1
    balanced = sum(c["split"] == "balanced_train" for c in clips.values())
    assert seen == len(clips) + balanced        # every clip, and the balanced ones again in the combined list
    meta = json.loads((out / "index" / "src_train_segments.json").read_text())
    assert meta["split_line"] == 0                # the demo has no unbalanced rows
    assert (out / "report" / "report.html").is_file()


def test_demo_talks_as_it_goes_with_relative_paths_and_a_lhotse_export(tmp_path: Path) -> None:
    """issue 27: one line per stage as it finishes (not all at the end), warnings named, paths
    relative to --out, what to open at the end, and a lhotse export among the stages."""
    import time

    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "avdata", "demo", "-o", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    arrivals = []
    for line in proc.stdout:
        arrivals.append((time.monotonic(), line.rstrip("\n")))
    proc.wait(timeout=900)
    end = time.monotonic()
    assert proc.returncode == 0, proc.stderr.read()[-2000:]
    heads = {line.split()[0]: t for t, line in arrivals if line and not line.startswith(" ")}
    for stage in ("ingest", "videos", "extract", "render", "index", "weights", "report", "embed", "balance",
                  "vipant", "train", "score", "audioscope", "lhotse", "hf", "loaders", "audit", "lock", "browse", "done:"):
        assert stage in heads, (stage, [x for _, x in arrivals][:5])
    assert end - heads["ingest"] > 3.0        # the first stage was shown while the rest still ran
    text = [x for _, x in arrivals]
    assert any(x.strip().startswith("warning: (bundled example)/balanced_train_segments.csv:2:") for x in text)
    assert not [x for x in text[1:-1] if str(out) in x]          # relative paths, but the last line
    assert text[-1].startswith(f"done: open {out / 'report' / 'report.html'}")
    cuts = out / "lhotse" / "src_train_segments_cuts.jsonl.gz"
    import gzip
    import json

    lines = gzip.decompress(cuts.read_bytes()).decode().splitlines()
    assert len(lines) == len((out / "index" / "src_train_segments.csv").read_text().splitlines())
    assert json.loads(lines[0])["type"] in ("MonoCut", "MultiCut")
