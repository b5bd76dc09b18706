"""issue 19: a model trained on the user's own clips gives a real audio-visual space."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from class_corpus import Corpus

from avdata.embed.run import EmbedOptions, run_embed
from avdata.train.options import TrainOptions
from avdata.train.run import run_train


def knn_top5_agreement(embeddings: Path, classes: list[str]) -> float:
    x = np.load(embeddings).astype(np.float64)
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    nn = np.argsort(-s, axis=1)[:, :5]
    labels = np.array(classes)
    return float((labels[nn] == labels[:, None]).mean())


@pytest.fixture(scope="module")
def trained(av_corpus: Corpus, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("avc")
    res = run_train(TrainOptions(index=(str(av_corpus.index),), media=str(av_corpus.media), out=str(out),
                                 epochs=20, batch_size=32, workers=2))
    return res


@pytest.mark.slow
def test_held_out_videos_are_told_apart_and_the_card_says_so(trained, av_corpus: Corpus) -> None:
    card = json.loads((trained.out / "card.json").read_text())
    assert card == trained.card
    final = card["final"]
    assert final["val_auc"] >= 0.9, card["history"]
    assert final["val_accuracy"] >= 0.8
    assert -1 <= final["suggested_min_score"] <= 1
    index = card["data"]["index"][0]
    assert index["sha256"] == hashlib.sha256(av_corpus.index.read_bytes()).hexdigest()
    assert index["lines"] == len(av_corpus.ids) == card["data"]["clips"] == 192
    assert card["data"]["train_clips"] + card["data"]["val_clips"] == 192      # none silent or still here
    assert card["data"]["val_videos"] == round(0.2 * 192)
    assert card["epochs_run"] == 20 and len(card["history"]) == 20
    assert card["options"]["seed"] == 0 and card["options"]["batch_size"] == 32
    assert 100_000 < card["model"]["parameters"] < 1_000_000
    assert card["model"]["sha256"] == hashlib.sha256((trained.out / "model.pt").read_bytes()).hexdigest()
    assert all(h["data_wait"] < h["seconds"] for h in card["history"])
    page = (trained.out / "report.html").read_text()
    assert "validation AUC" in page and (trained.out / "curves.png").stat().st_size > 5000


@pytest.mark.slow
def test_avc_knn_groups_classes_at_least_as_well_as_signal(trained, av_corpus: Corpus, tmp_path: Path) -> None:
    agreement = {}
    for name, weights in (("signal", ()), ("avc", (str(trained.model),))):
        res = run_embed(EmbedOptions(index=av_corpus.index, media=av_corpus.media, out=tmp_path / name,
                                     embedder=name, weights=weights, workers=2))
        assert not res.failures
        agreement[name] = knn_top5_agreement(res.embeddings, av_corpus.classes)
    assert agreement["avc"] >= agreement["signal"], agreement
    assert agreement["avc"] >= 0.9, agreement


@pytest.mark.slow
def test_the_exported_model_sees_at_embed_time_what_training_saw(trained, av_corpus: Corpus) -> None:
    """The avc embedder's vectors (fbank of the whole clip, middle frame, through model.pt) equal the
    trained towers on the prepared inputs of the same audio and frame."""
    import torch

    from avdata.embed import get_embedder, media_for_line
    from avdata.train.inputs import chosen_frames, clip_inputs
    from avdata.train.model import AVCModel

    ckpt = torch.load(trained.out / "checkpoint.pt", weights_only=True)
    model = AVCModel(128)
    model.load_state_dict(ckpt["model"])
    model.eval()
    emb = get_embedder("avc", weights=(str(trained.model),))
    assert emb.joint_space and emb.dim == 128
    for line in av_corpus.index.read_text().splitlines()[:5]:
        media = media_for_line(json.loads(line), av_corpus.media)
        got = emb.embed(media)
        inputs = clip_inputs(media)
        middle = chosen_frames(len(media.frames)).index((len(media.frames) + 1) // 2 - 1)
        with torch.no_grad():
            a, i = model(torch.from_numpy(inputs.audio)[None, None], torch.from_numpy(inputs.frames[middle])[None])
        # the same vectors up to fast_fbank's 1e-3 (training) against Kaldi's fbank (embedding)
        assert float(got.audio @ a[0].numpy()) > 0.9999 and np.allclose(got.audio, a[0].numpy(), atol=5e-3)
        assert float(got.image @ i[0].numpy()) > 0.99999 and np.allclose(got.image, i[0].numpy(), atol=1e-4)


@pytest.mark.slow
def test_embedders_lists_avc_and_score_uses_it_on_a_clip_table(trained, av_corpus: Corpus, tmp_path: Path) -> None:
    listed = subprocess.run([sys.executable, "-m", "avdata", "embedders", "--weights", str(trained.model)],
                            capture_output=True, text=True)
    assert "avc: available" in listed.stdout
    from avdata.audioscope.score import ScoreOptions, score_clips
    from avdata.table import read_clips

    threshold = trained.card["final"]["suggested_min_score"]
    out = tmp_path / "scored.parquet"
    summary = score_clips(ScoreOptions(clips=str(av_corpus.root / "clips.parquet"), media=str(av_corpus.index),
                                       layout="index", media_root=str(av_corpus.media), embedder="avc",
                                       weights=(str(trained.model),), output=str(out), min_score=threshold))
    assert summary.statuses == {"ok": 192}
    table = read_clips(out).to_pylist()
    scores = np.array([r["score"] for r in table])
    assert np.all(np.abs(scores) <= 1) and scores.std() > 0.01
    assert all(r["score_model"].startswith("avc-") for r in table)
    assert sum(r["filtered"] for r in table) == int((scores >= threshold).sum()) == summary.kept
