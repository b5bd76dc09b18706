"""AVIndexDataset on the demo corpus: the index stage's features, VIP-ANT's image transform, labels."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avdata.errors import MediaError
from avdata.loaders import AudioInput, AVIndexDataset, DatasetOptions, LabelMap, index_labels
from avdata.media.features import FBANK, fbank
from avdata.media.inspect import decode_audio

pytestmark = pytest.mark.slow  # the session's corpus takes ~10 s to build

MEAN, STD = -4.93839311, 5.75751113
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def lines(index: Path) -> list[dict]:
    return [json.loads(t) for t in index.read_text().splitlines()]


def stored_fbank(media: str, rec: dict) -> np.ndarray:
    with np.load(Path(media) / rec["dir"] / "aclip_128" / f"{rec['id']}.{rec['aclip_128']}") as z:
        return z["flag"]


def reference_image(path: Path) -> np.ndarray:
    """VIP-ANT's CLIP transform written out independently: shorter side 224 bicubic, centre crop."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = 224 / min(w, h)
    img = img.resize((max(224, round(w * s)), max(224, round(h * s))), Image.Resampling.BICUBIC)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    arr = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float64) / 255.0
    return ((arr - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)


def test_fbank_is_the_index_stages_aclip_128(train_index: Path, media: str) -> None:
    recs = lines(train_index)
    exact = AVIndexDataset(train_index, DatasetOptions(media=media, audio=AudioInput(remove_mean=False)))
    vipant = AVIndexDataset(train_index, DatasetOptions(media=media))
    npz = AVIndexDataset(train_index, DatasetOptions(media=media, features="npz"))
    assert len(exact) == len(recs) >= 5
    for i, rec in enumerate(recs):
        ref = stored_fbank(media, rec)
        expected = np.zeros((1000, 128), np.float32)
        expected[:min(1000, len(ref))] = ref[:1000]
        expected = (expected - MEAN) / STD
        assert np.array_equal(exact[i]["fbank"], expected.astype(np.float32))
        assert np.array_equal(npz[i]["fbank"], exact[i]["fbank"])
        # VIP-ANT removes the waveform mean first: a no-op in exact arithmetic (Kaldi removes every
        # frame's DC offset); only float rounding in near-silent bins differs
        diff = np.abs(vipant[i]["fbank"] - expected)
        assert np.median(diff) < 1e-5 and diff.max() < 0.01


def test_image_labels_and_frame_choice(train_index: Path, media: str) -> None:
    recs = lines(train_index)
    ds = AVIndexDataset(train_index, DatasetOptions(media=media, outputs=("image", "labels")))
    npz = AVIndexDataset(train_index, DatasetOptions(media=media, outputs=("image",), features="npz"))
    label_map = LabelMap(ds.labels.label_ids)
    for i, rec in enumerate(recs):
        item = ds[i]
        middle = math.ceil(len(rec["frame"]) / 2) - 1
        assert item["frame"] == rec["frame"][middle] and item["id"] == rec["id"]
        ref = reference_image(Path(media) / rec["dir"] / "frame" / f"{rec['id']}.{item['frame']}")
        assert item["image"].shape == (3, 224, 224) and np.abs(item["image"] - ref).max() < 1e-5
        assert np.array_equal(npz[i]["image"], item["image"])      # frame_224 of the same frame
        on = {label_map.label_ids[c] for c in np.flatnonzero(item["labels"])}
        assert on == set(rec["labels"]) and item["labels"].sum() == len(set(rec["labels"]))
        assert item["captions"] == rec.get("captions", [])


def test_training_draws_are_seeded_per_epoch_and_line(train_index: Path, media: str) -> None:
    opts = DatasetOptions(media=media, train=True, seed=5, outputs=("image",))
    a, b = AVIndexDataset(train_index, opts), AVIndexDataset(train_index, opts)
    n = len(a)
    first = [a[i]["frame"] for i in range(n)]
    assert first == [b[i]["frame"] for i in range(n)]                 # same seed, same epoch
    assert first == [pickle.loads(pickle.dumps(a))[i]["frame"] for i in range(n)]
    epochs = set()
    for e in range(6):
        a.set_epoch(e)
        epochs.add(tuple(a[i]["frame"] for i in range(n)))
    assert len(epochs) > 1                                            # the epoch changes the draw
    assert len({f for combo in epochs for f in combo}) == 4           # every frame gets drawn


def test_waveform_crop_and_labels_from_the_index(train_index: Path, media: str) -> None:
    recs = lines(train_index)
    labels = index_labels(train_index)
    assert set(labels) == {lab for r in recs for lab in r["labels"]}
    opts = DatasetOptions(media=media, outputs=("waveform", "fbank", "labels"), labels=labels,
                          audio=AudioInput(waveform_rate=16000, waveform_seconds=4.0, crop_seconds=4.0))
    item = AVIndexDataset(train_index, opts)[0]
    assert item["waveform"].shape == (64000,) and item["labels"].shape == (len(labels),)
    assert item["fbank"].shape == (1000, 128)
    audio, rate = decode_audio(Path(media) / recs[0]["dir"] / "aclip" / f"{recs[0]['id']}.{recs[0]['aclip'][0]}")
    # a centred 4 s crop at the clip's own rate: Kaldi frames of it, then zero padding (normalised)
    frames = FBANK.frame_count(4 * rate, rate)
    pad = np.float32((0 - MEAN) / STD)
    assert np.all(item["fbank"][frames:] == pad) and not np.all(item["fbank"][frames - 1] == pad)
    centre = (audio.shape[1] - 4 * rate) // 2
    crop = audio[0, centre:centre + 4 * rate]
    expected = fbank((crop - crop.mean(dtype=np.float64)).astype(np.float32), rate)
    assert np.abs(item["fbank"][:frames] - (expected - MEAN) / STD).max() < 1e-5
    # the waveform: the same centred window after resampling to 16 kHz (energy per second kept)
    assert np.isclose(np.sqrt(np.mean(item["waveform"] ** 2)), np.sqrt(np.mean(crop ** 2)), rtol=0.05)


def test_a_missing_file_names_the_index_line(tmp_path: Path, train_index: Path, media: str) -> None:
    rec = lines(train_index)[0]
    bad = tmp_path / "bad.csv"
    bad.write_text(json.dumps({**rec, "id": "missing_id_0"}) + "\n")
    with pytest.raises(MediaError, match=r"bad\.csv:1: id missing_id_0: .*no such file"):
        AVIndexDataset(bad, DatasetOptions(media=media))[0]


def test_dataloader_with_two_workers_gives_the_same_items(train_index: Path, media: str) -> None:
    torch = pytest.importorskip("torch")
    from avdata.loaders import collate

    ds = AVIndexDataset(train_index, DatasetOptions(media=media, train=True, seed=2))
    ds.set_epoch(3)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
    seen = 0
    for batch in loader:
        for k, i in enumerate(batch["index"].tolist()):
            ref = ds[i]
            assert batch["frame"][k] == ref["frame"]
            assert torch.equal(batch["fbank"][k], torch.from_numpy(ref["fbank"]))
            assert torch.equal(batch["image"][k], torch.from_numpy(ref["image"]))
            seen += 1
    assert seen == len(ds)
    tensors = AVIndexDataset(train_index, dataclasses.replace(ds.options, tensors=True))[0]
    assert isinstance(tensors["fbank"], torch.Tensor)


def test_the_package_exports_what_the_docs_name_and_takes_media_as_users_write_it(train_index: Path,
                                                                                  media: str) -> None:
    """issue 23: everything docs/loaders.md names imports from avdata.loaders; AVIndexDataset(index,
    media=ROOT) works; a string where options are expected is a clear TypeError."""
    import re

    import avdata.loaders as loaders

    docs = (Path(__file__).resolve().parents[2] / "docs" / "loaders.md").read_text()
    named = {"AVIndexDataset", "DatasetOptions", "WeightedSampler", "ShuffleSampler", "MixtureDataset",
             "MixtureOptions", "RenderedMoMs", "RenderedClips", "ShardReader", "collate"}
    assert named <= set(re.findall(r"[A-Z][A-Za-z]+|collate", docs)) | {"ShuffleSampler", "RenderedClips"}
    assert all(getattr(loaders, name) is not None for name in named) and named <= set(loaders.__all__)
    ds = loaders.AVIndexDataset(train_index, media=media)
    assert len(ds) and ds[0]["fbank"].shape == (1000, 128) and ds.options == loaders.DatasetOptions(media=media)
    with pytest.raises(TypeError, match="options must be a DatasetOptions, not str.*media=ROOT"):
        loaders.AVIndexDataset(train_index, media)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs the media root"):
        loaders.AVIndexDataset(train_index)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        loaders.Nope  # noqa: B018
