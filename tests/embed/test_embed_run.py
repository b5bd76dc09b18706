"""``avdata embed``: rows aligned with index lines, meta.json, failures, refusal, resume after a kill."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avdata.embed import embedder_status, get_embedder, media_for_line
from avdata.embed.run import EMBED_MANIFEST_SCHEMA, EmbedMismatchError, EmbedOptions, run_embed
from avdata.errors import UnsafePathError
from avdata.manifest import latest, read_manifest
from class_corpus import Corpus


def avdata(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, timeout=600)


def subset(corpus: Corpus, path: Path, lines: list[int]) -> Path:
    text = corpus.index.read_text().splitlines()
    path.write_text("".join(text[i] + "\n" for i in lines))
    return path


def test_rows_follow_lines_and_meta_describes_the_run(corpus: Corpus, tmp_path: Path) -> None:
    order = [5, 0, 9, 2, 7]
    index = subset(corpus, tmp_path / "five.csv", order)
    res = run_embed(EmbedOptions(index=index, media=corpus.media, out=tmp_path / "out", workers=1, chunk_rows=2))
    assert res.embedded == 5 and not res.failures
    emb = np.load(tmp_path / "out" / "embeddings.npy", mmap_mode="r")
    assert isinstance(emb, np.memmap) and emb.shape == (5, res.dim) and emb.dtype == np.float32
    e = get_embedder("signal")
    lines = index.read_text().splitlines()
    for row, line in enumerate(lines):        # row i is line i, and equals embedding that line alone
        want = e.embed(media_for_line(json.loads(line), corpus.media)).vector
        assert np.array_equal(emb[row], want)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["embedder"] == "signal" and meta["dim"] == res.dim and meta["dtype"] == "float32"
    assert meta["fingerprint"] == e.fingerprint() and meta["rows"] == 5
    assert meta["index"]["lines"] == 5 and meta["index"]["path"] == str(index.resolve())
    import hashlib
    assert meta["index"]["sha256"] == hashlib.sha256(index.read_bytes()).hexdigest()
    assert set(meta["stats"]["normalisation"]["standardisation"]["blocks"]) >= {"envelope", "colour"}
    assert meta["stats"]["rows_ok"] == 5 and not (tmp_path / "out" / "chunks").exists()
    half = run_embed(EmbedOptions(index=index, media=corpus.media, out=tmp_path / "f16", workers=1, dtype="float16"))
    f16 = np.load(half.embeddings)
    assert f16.dtype == np.float16 and np.allclose(f16, emb, atol=1e-3)


@pytest.mark.slow
def test_failed_line_is_a_zero_row_with_a_reason_and_retry_fills_it(corpus: Corpus, tmp_path: Path) -> None:
    media = tmp_path / "media"
    shutil.copytree(corpus.media / "all_0_35000", media / "all_0_35000")
    index = subset(corpus, tmp_path / "idx.csv", [0, 1, 2, 3])
    lines = index.read_text().splitlines()
    broken = json.loads(lines[2])
    mp3 = media_for_line(broken, media).audio
    good = mp3.read_bytes()
    mp3.write_bytes(b"\x00" * 100)
    for frame in media_for_line(broken, media).frames:
        frame.write_bytes(b"not a jpeg")
    with index.open("a") as fh:
        fh.write('{"dir": "../../etc", "aclip": ["p0.mp3"], "frame": [], "id": "evil_000000"}\n')
        fh.write("not json\n")
    out = tmp_path / "out"
    run = avdata("embed", str(index), "--media", str(media), "-o", str(out), "--workers", "1")
    assert run.returncode == 1, run.stderr
    errors = [x for x in run.stderr.splitlines() if x.startswith("avdata: ")]
    assert len(errors) == 3 and "Traceback" not in run.stderr
    assert f"idx.csv:3: {broken['id']}:" in errors[0] and "(zero row)" in errors[0]
    assert "idx.csv:5: evil_000000: bad_path" in errors[1] and "idx.csv:6: -: bad_line" in errors[2]
    emb = np.load(out / "embeddings.npy")
    assert emb.shape[0] == 6 and not emb[2].any() and not emb[4].any() and not emb[5].any()
    assert all(abs(np.linalg.norm(emb[i]) - 1) < 1e-5 for i in (0, 1, 3))
    rows = latest(read_manifest(out / "embed_manifest.parquet", EMBED_MANIFEST_SCHEMA), ["line"]).to_pylist()
    failed = {r["line"]: r for r in rows if r["status"] == "failed"}
    assert set(failed) == {2, 4, 5} and failed[2]["code"] and failed[2]["message"]

    mp3.write_bytes(good)                      # the audio is back; the frames stay broken
    for f, src in zip(media_for_line(broken, media).frames, media_for_line(broken, corpus.media).frames):
        f.write_bytes(src.read_bytes())
    again = avdata("embed", str(index), "--media", str(media), "-o", str(out), "--workers", "1", "--retry-failed")
    assert again.returncode == 1 and "embedded 1, already done 3, failed 2" in again.stdout, again.stdout
    fixed = np.load(out / "embeddings.npy")
    assert abs(np.linalg.norm(fixed[2]) - 1) < 1e-5 and np.array_equal(fixed[[0, 1, 3]], emb[[0, 1, 3]])


def test_changed_index_or_embedder_is_refused(corpus: Corpus, tmp_path: Path) -> None:
    index = subset(corpus, tmp_path / "a.csv", [0, 1])
    out = tmp_path / "out"
    run_embed(EmbedOptions(index=index, media=corpus.media, out=out, workers=1))
    before = (out / "embeddings.npy").read_bytes()
    other = subset(corpus, tmp_path / "b.csv", [0, 2])
    with pytest.raises(EmbedMismatchError, match=r"meta\.json: this folder holds embeddings of another run \(index"):
        run_embed(EmbedOptions(index=other, media=corpus.media, out=out, workers=1))
    stats = tmp_path / "stats.json"
    table = json.loads(Path(get_embedder("signal")._stats_path).read_text())
    table["blocks"]["texture"]["std"][0] *= 1.5
    stats.write_text(json.dumps(table))
    run = avdata("embed", str(index), "--media", str(corpus.media), "-o", str(out), "--weights", str(stats))
    assert run.returncode == 3 and "embedder fingerprint signal-" in run.stderr and "Traceback" not in run.stderr
    assert (out / "embeddings.npy").read_bytes() == before


@pytest.mark.slow
def test_killed_embed_resumes_to_the_same_bytes(corpus: Corpus, tmp_path: Path) -> None:
    lines = corpus.index.read_text().splitlines()
    index = tmp_path / "index.csv"
    index.write_text("".join(x + "\n" for x in lines))
    args = [str(index), "--media", str(corpus.media), "--workers", "1", "--chunk-rows", "2"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "avdata", "embed", *args, "-o", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((killed / "chunks").glob("chunk-*.npy"))) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "embeddings.npy").exists(), "the run finished before it could be killed"
    assert json.loads((killed / "meta.json").read_text())["complete"] is False
    resumed = avdata("embed", *args, "-o", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    done = int(resumed.stdout.split("already done ")[1].split(",")[0])
    assert 6 <= done < len(lines)
    run_embed(EmbedOptions(index=index, media=corpus.media, out=tmp_path / "whole", workers=1, chunk_rows=2))
    assert (killed / "embeddings.npy").read_bytes() == (tmp_path / "whole" / "embeddings.npy").read_bytes()
    assert (killed / "meta.json").read_text() == (tmp_path / "whole" / "meta.json").read_text()
    assert not list(killed.glob(".tmp-*")) and not (killed / "chunks").exists()


def test_media_paths_stay_below_the_root(tmp_path: Path) -> None:
    m = media_for_line({"dir": "all_0_35000", "aclip": ["p0.mp3"], "frame": ["p0.4_01.jpg"], "aclip_128": "p0.npz",
                        "id": "abc"}, tmp_path)
    assert m.audio == tmp_path.resolve() / "all_0_35000/aclip/abc.p0.mp3"
    assert m.frames == (tmp_path.resolve() / "all_0_35000/frame/abc.p0.4_01.jpg",)
    assert m.fbank == tmp_path.resolve() / "all_0_35000/aclip_128/abc.p0.npz" and m.frames_224 is None
    with pytest.raises(UnsafePathError):
        media_for_line({"dir": "../x", "aclip": ["p0.mp3"], "frame": [], "id": "abc"}, tmp_path)


def test_embedders_command_lists_availability() -> None:
    status = embedder_status()
    assert status["signal"] == "available"
    assert "--weights CHECKPOINT CLIP_FILE" in status["vipant"]
    run = avdata("embedders")
    assert run.returncode == 0 and "signal (default): available" in run.stdout and "vipant: " in run.stdout
