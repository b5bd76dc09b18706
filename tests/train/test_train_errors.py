"""issue 19: bad input to avdata train and the avc embedder: one line each, exit codes as elsewhere,
nothing half-written left as if it were a finished model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_corpus import Written


def _train(index: Path, media: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", "train", str(index), "--media", str(media), "-o", str(out),
                           "--epochs", "2", "--batch-size", "8", "--workers", "1", *extra],
                          capture_output=True, text=True, timeout=600)


def _one_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("avdata: error: ") and "Traceback" not in stderr, stderr
    return lines[0]


def _no_model(out: Path) -> None:
    assert not (out / "model.pt").exists() and not (out / "card.json").exists()


def test_one_video_is_too_few(small: Written, tmp_path: Path) -> None:
    lines = [json.loads(x) for x in small.index.read_text().splitlines()]
    for x in lines:
        x["id"] = lines[0]["id"] if x is lines[0] else x["id"]
    one = tmp_path / "one.csv"
    first = lines[0]
    one.write_text("".join(json.dumps({**first, "aclip": ["p0.mp3"]}) + "\n" for _ in range(3)))
    r = _train(one, small.media, tmp_path / "out")
    assert r.returncode == 3
    assert "at least two videos" in _one_line(r.stderr)
    _no_model(tmp_path / "out")


def test_clips_without_media_are_named_and_the_rest_trains(small: Written, tmp_path: Path) -> None:
    lines = small.index.read_text().splitlines()
    broken = json.loads(lines[0])
    broken["id"] = "gone0000000"                       # no media under this id
    noframes = {**json.loads(lines[1]), "frame": []}
    index = tmp_path / "index.csv"
    index.write_text("\n".join([json.dumps(broken), json.dumps(noframes), *lines[2:], "not json"]) + "\n")
    r = _train(index, small.media, tmp_path / "out")
    assert r.returncode == 1, r.stderr
    err = [x for x in r.stderr.splitlines() if x.strip()]
    assert any(f"{index}:1: gone0000000: " in x and "(not used)" in x for x in err), err
    assert any(f"{index}:2: " in x and "no_frames" in x for x in err), err
    assert any(f"{index}:{len(lines) + 1}: " in x for x in err), err
    assert "Traceback" not in r.stderr
    card = json.loads((tmp_path / "out" / "card.json").read_text())
    assert card["data"]["left_out"] == {"failed": 3}
    assert (tmp_path / "out" / "model.pt").is_file()


def test_no_usable_clip_at_all_is_could_not_run(small: Written, tmp_path: Path) -> None:
    r = _train(small.index, tmp_path, tmp_path / "out")          # a media root without the clips
    assert r.returncode == 3
    assert "at least two videos" in [x for x in r.stderr.splitlines() if x.startswith("avdata: error")][0]
    _no_model(tmp_path / "out")


def test_a_non_finite_loss_stops_with_one_line_and_no_model(small: Written, tmp_path: Path) -> None:
    r = _train(small.index, small.media, tmp_path / "out", "--lr", "1e20")
    assert r.returncode == 3
    assert "loss is not finite" in _one_line(r.stderr)
    _no_model(tmp_path / "out")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_asked_for_and_absent(small: Written, tmp_path: Path) -> None:
    r = _train(small.index, small.media, tmp_path / "out", "--device", "cuda")
    assert r.returncode == 3
    assert "--device cuda" in _one_line(r.stderr)
    _no_model(tmp_path / "out")


def test_a_foreign_or_unreadable_model_is_refused_by_avc(small: Written, tmp_path: Path) -> None:
    class Other(torch.nn.Module):
        def forward(self, a: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return a.mean(dim=(1, 2)), i.mean(dim=(2, 3))

    foreign = tmp_path / "foreign.pt"
    torch.jit.save(torch.jit.script(Other()), str(foreign))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"PK\x03\x04 not a model at all")
    for path, reason in ((foreign, "not a model of avdata train (no avdata_avc.json)"),
                         (junk, "not a model of avdata train (not a TorchScript file")):
        r = subprocess.run([sys.executable, "-m", "avdata", "embed", str(small.index), "--media", str(small.media),
                            "-o", str(tmp_path / f"emb_{path.stem}"), "--embedder", "avc", "--weights", str(path)],
                           capture_output=True, text=True)
        assert r.returncode == 3
        assert reason in _one_line(r.stderr)
