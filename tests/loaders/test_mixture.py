"""MixtureDataset: random partners from an index, explicit pairs, rendered examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avdata.errors import AvdataError
from avdata.loaders import AVIndexDataset, DatasetOptions
from avdata.loaders.mixture import (IndexClips, MixtureDataset, MixtureOptions, RenderedClips, RenderedMoMs,
                                    pairs_by_id)
from avdata.media.encode import AudioOptions, write_audio
from avdata.media.inspect import decode_audio
from avdata.media.synth import draw_time_frame, reference_audio


@pytest.mark.slow
def test_index_mixtures(train_index: Path, media: str) -> None:
    ds = AVIndexDataset(train_index, DatasetOptions(media=media))
    opts = MixtureOptions(sample_rate=16000, seconds=5.0, seed=3)
    mix = MixtureDataset(ds, opts)
    assert len(mix) == len(ds)
    pairs = [mix.pair(i) for i in range(len(mix))]
    assert all(a == i and b != i for i, (a, b) in enumerate(pairs))
    assert pairs == [MixtureDataset(ds, opts).pair(i) for i in range(len(mix))]          # same seed
    assert pairs != [MixtureDataset(ds, MixtureOptions(seed=4)).pair(i) for i in range(len(mix))]
    item = mix[0]
    a, b = pairs[0]
    assert item["mixture"].shape == (80000,) and item["sources"].shape == (2, 80000)
    assert np.array_equal(item["mixture"], item["sources"][0] + item["sources"][1])
    clips = IndexClips(ds, opts)
    assert np.array_equal(item["sources"][1], clips.waveform(b, opts))
    assert np.array_equal(item["image"], ds[a]["image"])              # the first clip's frame
    assert np.array_equal(item["labels"], np.maximum(ds[a]["labels"], ds[b]["labels"]))
    assert item["ids"] == [ds[a]["id"], ds[b]["id"]]
    explicit = MixtureDataset(ds, opts, pairs=pairs_by_id(clips, [(item["ids"][1], item["ids"][0])]))
    swapped = explicit[0]
    assert len(explicit) == 1 and np.array_equal(swapped["sources"], item["sources"][::-1])
    with pytest.raises(AvdataError, match="'nope' is not among the clips"):
        pairs_by_id(clips, [(item["ids"][0], "nope")])


def write_render_root(root: Path) -> list[dict]:
    """An ``avdata render`` output as its writer lays it out: clip and MoM rows in examples.jsonl."""
    rate, n = 16000, 16000 * 2
    rows: list[dict] = []
    waves = {}
    for k in range(3):
        wave = reference_audio(k * 50_000, n, rate, 1) * (0.5 if k else 1.0)
        waves[k] = wave
        audio = f"clips/c{k}.wav"
        (root / "clips").mkdir(parents=True, exist_ok=True)
        write_audio(root / audio, wave, rate, AudioOptions(format="wav"))
        frames = []
        for f in range(3):
            frames.append(f"clips/c{k}_{f}.jpg")
            Image.fromarray(draw_time_frame(1000 * k + f, 160, 90)).save(root / frames[-1])
        rows.append({"id": f"c{k}", "source": f"v/{k}.mp4", "start": 1.0, "end": 3.0, "offset": 0.0, "audio": audio,
                     "frames": frames, "sample_rate": rate, "samples": n, "split": "validate",
                     "annotation": "onscreen" if k == 0 else "offscreen", "filtered": False, "padded": False})
    (root / "moms").mkdir()
    write_audio(root / "moms/m0.wav", (waves[0] + waves[1]) * 0.5, rate, AudioOptions(format="wav"))
    rows.append({"id": "m0", "source1": "v/0.mp4", "start1": 1.0, "end1": 3.0, "source2": "v/1.mp4", "start2": 1.0,
                 "end2": 3.0, "mix": "moms/m0.wav", "audio1": "clips/c0.wav", "audio2": "clips/c1.wav",
                 "frames": rows[0]["frames"], "mp4": "moms/m0.mp4", "sample_rate": rate, "samples": n,
                 "split": "validate", "annotation": "onscreen", "headroom_scale": 0.5})
    (root / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_rendered_examples(tmp_path: Path) -> None:
    rows = write_render_root(tmp_path)
    opts = MixtureOptions(sample_rate=16000, seconds=2.0, seed=1)
    moms = RenderedMoMs(tmp_path, opts)
    assert len(moms) == 1
    item = moms[0]
    c0, _ = decode_audio(tmp_path / "clips/c0.wav")
    c1, _ = decode_audio(tmp_path / "clips/c1.wav")
    m0, _ = decode_audio(tmp_path / "moms/m0.wav")
    assert np.array_equal(item["sources"][0], c0[0]) and np.array_equal(item["sources"][1], c1[0])
    assert np.array_equal(item["mixture"], m0[0]) and item["ids"] == ["v/0.mp4", "v/1.mp4"]
    assert item["frame"] == rows[0]["frames"][1] and item["annotation"] == "onscreen"   # middle frame
    clips = RenderedClips(tmp_path)
    assert len(clips) == 3
    mix = MixtureDataset(clips, MixtureOptions(sample_rate=8000, seconds=3.0, seed=2))
    got = mix[1]
    a, b = mix.pair(1)
    assert got["mixture"].shape == (24000,) and np.all(got["mixture"][16000:] == 0)    # 2 s padded to 3 s
    assert np.array_equal(got["mixture"], got["sources"][0] + got["sources"][1])
    assert got["ids"] == [f"c{a}", f"c{b}"] and "labels" not in got


def test_render_root_without_moms_is_reported(tmp_path: Path) -> None:
    rows = write_render_root(tmp_path)
    (tmp_path / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    with pytest.raises(AvdataError, match=r"examples\.jsonl: no examples with a 'mix' key"):
        RenderedMoMs(tmp_path)
