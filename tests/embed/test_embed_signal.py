"""The ``signal`` embedder: a labelled corpus through extract -> index -> embed clusters by class;
its fbank path equals Kaldi's; aclip_128 features are reused; the statistics are in the fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avdata.embed import ClipMedia, get_embedder, media_for_line
from avdata.embed.run import EmbedOptions, run_embed
from avdata.embed.signal import clip_fbank
from avdata.media.features import fbank, write_aclip_128
from avdata.media.inspect import decode_audio
from avdata.media.kaldi_fbank import fast_fbank
from class_corpus import CLASSES, Corpus

TOP = 10


def top_k_same_class(emb: np.ndarray, classes: list[str], k: int = TOP) -> np.ndarray:
    """For every row: the share of its k nearest other rows (cosine) that have its class."""
    sims = emb.astype(np.float64) @ emb.astype(np.float64).T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    labels = np.array(classes)
    return (labels[nearest] == labels[:, None]).mean(axis=1)


@pytest.mark.slow
def test_labelled_corpus_neighbours_share_the_class(corpus: Corpus, tmp_path: Path) -> None:
    res = run_embed(EmbedOptions(index=corpus.index, media=corpus.media, out=tmp_path / "emb", workers=2))
    assert not res.failures and res.rows == len(corpus.classes) == 4 * 12
    emb = np.load(res.embeddings, mmap_mode="r")
    share = top_k_same_class(np.asarray(emb), corpus.classes)
    per_class = len(corpus.classes) // len(CLASSES)
    chance = (per_class - 1) / (len(corpus.classes) - 1)      # 11/47 = 0.23 for a random embedding
    assert share.min() >= 0.9, (share, chance)
    # the same numpy check gives chance level for vectors that know nothing about the clips
    rnd = np.random.default_rng(0).standard_normal(emb.shape)
    assert top_k_same_class(rnd, corpus.classes).mean() < 0.5 < chance + 0.5
    # both halves carry the class on their own
    e = get_embedder("signal")
    lines = corpus.index.read_text().splitlines()
    parts = [e.embed(media_for_line(json.loads(x), corpus.media)) for x in lines]
    for name in ("audio", "image"):
        half = np.stack([getattr(p, name) for p in parts])
        assert top_k_same_class(half, corpus.classes).mean() >= 0.9, name


def test_fast_fbank_equals_kaldi(corpus: Corpus) -> None:
    m = media_for_line(json.loads(corpus.index.read_text().splitlines()[0]), corpus.media)
    audio, rate = decode_audio(m.audio)
    rng = np.random.default_rng(1)
    for x, r in ((audio[0], rate), (rng.standard_normal(48000 * 3).astype(np.float32) * 0.1, 48000),
                 (np.zeros(22050, np.float32), 22050)):
        ref, ours = fbank(x, r), fast_fbank(x, r)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        diff = np.abs(ours.astype(np.float64) - ref)       # both float32, summed in different orders
        assert diff.max() < 1e-2 and diff.mean() < 2e-4, (diff.max(), diff.mean())
        some = np.array([5, 6, 0, len(ref) - 1])
        np.testing.assert_allclose(fast_fbank(x, r, frames=some), ours[some], atol=1e-4)


def test_aclip_128_is_reused_and_gives_the_same_vector(corpus: Corpus, tmp_path: Path) -> None:
    m = media_for_line(json.loads(corpus.index.read_text().splitlines()[1]), corpus.media)
    npz = tmp_path / "feat.npz"
    write_aclip_128(m.audio, npz)
    with_npz = ClipMedia(audio=None, frames=m.frames, fbank=npz)      # no audio file: the npz alone
    assert np.abs(clip_fbank(with_npz) - clip_fbank(m)).max() < 1e-2
    e = get_embedder("signal")
    a, b = e.embed(m), e.embed(with_npz)
    assert float(a.vector @ b.vector) > 0.9999
    for part in (a.vector, a.audio, a.image):
        assert part.dtype == np.float32 and abs(float(np.linalg.norm(part)) - 1) < 1e-5
    assert e.embed(m).vector.tobytes() == a.vector.tobytes()          # deterministic


def test_statistics_are_part_of_the_fingerprint(tmp_path: Path) -> None:
    e = get_embedder("signal")
    stats = json.loads(Path(e._stats_path).read_text())
    stats["blocks"]["colour"]["std"][0] *= 2
    other = tmp_path / "stats.json"
    other.write_text(json.dumps(stats))
    f = get_embedder("signal", weights=(str(other),))
    assert f.fingerprint() != e.fingerprint() and f.dim == e.dim == 150
    assert get_embedder("signal", audio_weight=2.0).fingerprint() != e.fingerprint()
    assert get_embedder("signal").fingerprint() == e.fingerprint()


def test_labelled_corpus_through_balance(corpus: Corpus, tmp_path: Path) -> None:
    """The recipe end to end: extract -> index -> embed (signal) -> balance. Two clips of each class
    are the seeds (the "balanced set"), the other ten of each class the pool: at least 90% of each
    seed's top-10 neighbours share its class, for every class (chance: 10/40 = 0.25)."""
    from avdata.balance.run import BalanceOptions, run_balance

    lines = corpus.index.read_text().splitlines(keepends=True)
    seen: dict[str, int] = {}
    seeds, pool = [], []
    for line, c in zip(lines, corpus.classes):
        seen[c] = seen.get(c, 0) + 1
        (seeds if seen[c] <= 2 else pool).append(line)
    files = {}
    for name, part in (("seeds", seeds), ("pool", pool)):
        files[name] = tmp_path / f"src_{name}.csv"
        files[name].write_text("".join(part))
        res = run_embed(EmbedOptions(index=files[name], media=corpus.media, out=tmp_path / f"emb_{name}", workers=2))
        assert not res.failures
    knn = run_balance(BalanceOptions(seeds=files["seeds"], seed_emb=tmp_path / "emb_seeds", pool=files["pool"],
                                     pool_emb=tmp_path / "emb_pool", out=tmp_path / "knn", k=TOP, report=False,
                                     progress=False))
    cls = {json.loads(line)["id"]: c for line, c in zip(lines, corpus.classes)}
    share: dict[str, list[float]] = {c: [] for c in CLASSES}
    for line in (tmp_path / "knn" / f"knn_top{TOP}.jsonl").read_text().splitlines():
        ((seed, neighbours),) = json.loads(line).items()
        assert len(neighbours) == TOP and all(n in cls and n != seed for n, _ in neighbours)
        share[cls[seed]].append(np.mean([cls[n] == cls[seed] for n, _ in neighbours]))
    assert all(len(v) == 2 for v in share.values())
    for c, values in share.items():
        assert np.mean(values) >= 0.9, (c, values)
    assert knn.counts.seeds_searched == len(seeds)
