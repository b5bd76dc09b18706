"""``avdata embed`` and ``avdata score`` on hostile input (issue 25, defects 4, 7, 11, 12, 18):
the user's files in ``chunks/`` stay, NaN never becomes a silent zero row, a truncated chunk is
embedded again, embedder parameters are typed, and the render -> score path works at render's
default 16 kHz with ``--weights``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from avdata.embed import get_embedder
from avdata.embed.run import CHUNKS, EmbedOptions, run_embed
from avdata.errors import OptionError
from avdata.manifest import latest, read_manifest
from reliability_helpers import avdata

EMBED_TESTS = Path(__file__).resolve().parents[1] / "embed"


def _index(d: Path) -> Path:
    return d / "index" / "src_eval_segments.csv"


def test_embed_keeps_the_users_files_in_chunks(demo_copy: Path) -> None:
    out = demo_copy / "emb"
    (out / CHUNKS).mkdir(parents=True)
    (out / CHUNKS / "mine.txt").write_text("the user's")
    res = run_embed(EmbedOptions(index=_index(demo_copy), media=demo_copy / "media", out=out, executor="inline",
                                 chunk_rows=2, progress=False))
    assert res.embedded == len(_index(demo_copy).read_text().splitlines())
    assert (out / CHUNKS / "mine.txt").read_text() == "the user's"
    assert sorted(p.name for p in (out / CHUNKS).iterdir()) == ["mine.txt"]


def test_a_truncated_chunk_is_embedded_again(demo_copy: Path) -> None:
    out, fresh = demo_copy / "emb", demo_copy / "emb_fresh"
    opts = {"index": _index(demo_copy), "media": demo_copy / "media", "executor": "inline", "chunk_rows": 2,
            "progress": False}
    run_embed(EmbedOptions(out=fresh, **opts))
    # a killed run: meta.json not complete, two chunks on disk, one of them cut short
    run_embed(EmbedOptions(out=out, **opts))
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "complete": False}))
    (out / "embeddings.npy").unlink()
    (out / CHUNKS).mkdir()
    full = np.load(fresh / "embeddings.npy")
    np.save(out / CHUNKS / "chunk-000000.npy", full[:2])
    np.save(out / CHUNKS / "chunk-000001.npy", full[2:4])
    data = (out / CHUNKS / "chunk-000001.npy").read_bytes()
    (out / CHUNKS / "chunk-000001.npy").write_bytes(data[: len(data) // 2])
    res = run_embed(EmbedOptions(out=out, **opts))
    assert res.already_done == 2 and res.embedded == len(full) - 2
    assert (out / "embeddings.npy").read_bytes() == (fresh / "embeddings.npy").read_bytes()


def test_a_nan_aclip_128_fails_its_row_naming_the_file(demo_copy: Path) -> None:
    first = json.loads(_index(demo_copy).read_text().splitlines()[0])
    npz = demo_copy / "media" / first["dir"] / "aclip_128" / f"{first['id']}.{first['aclip_128']}"
    with npz.open("wb") as fh:
        np.savez(fh, flag=np.full((998, 128), np.nan, np.float32))
    res = run_embed(EmbedOptions(index=_index(demo_copy), media=demo_copy / "media", out=demo_copy / "emb",
                                 executor="inline", progress=False))
    assert [(line, code) for line, _, code, _ in res.failures] == [(0, "non_finite")]
    assert str(npz) in res.failures[0][3]
    emb = np.load(demo_copy / "emb" / "embeddings.npy")
    assert not emb[0].any() and np.allclose(np.linalg.norm(emb[1:], axis=1), 1, atol=1e-5)


def test_a_torchscript_model_returning_nan_fails_every_row(demo_copy: Path) -> None:
    torch = pytest.importorskip("torch")

    class Nan(torch.nn.Module):
        def forward(self, audio: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a = torch.full((audio.shape[0], 3), float("nan"))
            return a, a

    model = demo_copy / "nan.pt"
    torch.jit.save(torch.jit.script(Nan()), str(model))
    r = avdata("embed", str(_index(demo_copy)), "--media", str(demo_copy / "media"), "-o", str(demo_copy / "emb"),
               "--embedder", "torchscript", "--weights", str(model), "--workers", "1")
    n = len(_index(demo_copy).read_text().splitlines())
    assert r.returncode == 1 and f"embedded 0, already done 0, failed {n}" in r.stdout, r.stdout + r.stderr
    assert r.stderr.count("non_finite") == n
    rows = latest(read_manifest(demo_copy / "emb" / "embed_manifest.parquet"), ["line"]).to_pylist()
    assert {x["code"] for x in rows} == {"non_finite"}


@pytest.mark.parametrize("param, says", [("audio_weight=abc", "is not a float"), ("image_weight=nan", "finite"),
                                         ("nope=1", "nope")])
def test_a_bad_embedder_parameter_stops_before_anything_is_written(demo_copy: Path, param: str, says: str) -> None:
    out = demo_copy / "emb_bad"
    r = avdata("embed", str(_index(demo_copy)), "--media", str(demo_copy / "media"), "-o", str(out), "--param", param)
    assert r.returncode == 3 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()


def test_parameters_take_the_embedders_declared_types() -> None:
    e = get_embedder("signal", audio_weight="2", image_weight="0.5")
    assert e.audio_weight == 2.0 and isinstance(e.audio_weight, float) and e.image_weight == 0.5
    from avdata.embed import typed_params
    from avdata.embed.torchscript import TorchScriptEmbedder

    assert typed_params("torchscript", TorchScriptEmbedder, {"joint_space": "false", "threads": "2"}) == \
        {"joint_space": False, "threads": 2}
    for bad in ({"joint_space": "maybe"}, {"threads": "2.5"}, {"threads": True}):
        with pytest.raises(OptionError):
            typed_params("torchscript", TorchScriptEmbedder, bad)


@pytest.mark.slow
def test_render_then_score_with_vipant_at_the_default_16_khz(demo_copy: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    sys.path.insert(0, str(EMBED_TESTS))
    from vipant_files import write_checkpoint, write_clip

    small = {"width": 64, "layers": 2, "embed_dim": 32}
    ckpt, clip = write_checkpoint(tmp_path / "va.pth", **small), write_clip(tmp_path / "clip.pt", **small)
    d = demo_copy
    rates = {json.loads(x).get("sample_rate") for x in (d / "render" / "examples.jsonl").read_text().splitlines()}
    clips = d / "audioscope_clips.parquet"
    shutil.copy(d / "lists" / "audioscope.parquet", clips)
    r = avdata("score", str(clips), "--media", str(d / "render"), "--embedder", "vipant", "--weights", str(ckpt),
               "--weights", str(clip), "-o", str(d / "scored.parquet"))
    assert r.returncode == 0, (rates, r.stdout[-800:], r.stderr[-800:])
    from avdata.table import read_clips

    scores = read_clips(d / "scored.parquet").column("score").to_pylist()
    assert scores and all(s is not None and -1 <= s <= 1 for s in scores)
    manifest = d / "scored_score_manifest.parquet"
    rows = read_manifest(manifest).num_rows
    rerun = avdata("score", str(clips), "--media", str(d / "render"), "--embedder", "vipant", "--weights", str(ckpt),
                   "--weights", str(clip), "-o", str(d / "scored.parquet"))
    assert rerun.returncode == 0 and f"reused: {len(scores)}" in rerun.stdout, rerun.stdout
    assert read_manifest(manifest).num_rows == rows


def test_score_without_weights_names_the_option(demo_copy: Path) -> None:
    pytest.importorskip("torch")
    r = avdata("score", str(demo_copy / "lists" / "audioscope.parquet"), "--media", str(demo_copy / "render"),
               "--embedder", "vipant", "-o", str(demo_copy / "s.parquet"))
    assert r.returncode == 3 and "--weights" in r.stderr
    help_text = avdata("score", "--help").stdout
    assert "--weights" in help_text
