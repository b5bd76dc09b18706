"""The vipant embedder: published checkpoint layout, CLIP file, fbank recipe, error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import kaldi_native_fbank as knf  # noqa: E402

from avdata.embed import ClipMedia, get_embedder  # noqa: E402
from avdata.embed.base import EmbedderError  # noqa: E402
from avdata.embed.vipant import vipant_fbank  # noqa: E402
from avdata.media.encode import AudioOptions, write_audio  # noqa: E402
from avdata.media.inspect import decode_audio  # noqa: E402
from class_corpus import Corpus  # noqa: E402
from vipant_files import write_checkpoint, write_clip  # noqa: E402

SMALL = {"width": 64, "layers": 2, "embed_dim": 32}


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("vipant")
    return write_checkpoint(d / "va.pth", **SMALL), write_clip(d / "clip.pt", **SMALL)


def media_of(corpus: Corpus, line: int) -> ClipMedia:
    import json

    from avdata.embed import media_for_line

    return media_for_line(json.loads(corpus.index.read_text().splitlines()[line]), corpus.media)


def vipant_recipe_fbank(path: Path) -> np.ndarray:
    """VIP-ANT's audio input written out from its code, with kaldi-native-fbank in place of
    torchaudio.compliance.kaldi.fbank(htk_compat=True, use_energy=False, window_type='hanning',
    num_mel_bins=128, dither=0.0, frame_shift=10) (other options at Kaldi's defaults)."""
    audio, rate = decode_audio(path)
    wf = audio[0] - audio[0].mean()
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = float(rate)
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hanning"
    opts.frame_opts.frame_shift_ms = 10.0
    opts.mel_opts.num_bins = 128
    opts.use_energy = False
    opts.htk_compat = True
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(float(rate), wf.astype(np.float32).tolist())
    fb.input_finished()
    x = np.array([fb.get_frame(i) for i in range(fb.num_frames_ready)], dtype=np.float32)[:1000]
    x = np.pad(x, ((0, 1000 - x.shape[0]), (0, 0)))
    return (x - (-4.93839311)) / 5.75751113


def test_fbank_is_vipant_recipe(corpus: Corpus, tmp_path: Path) -> None:
    # a 4 s corpus clip (zero-padded to 1000 frames) and a 12 s stereo clip (cut to 1000)
    short = media_of(corpus, 0)
    rng = np.random.default_rng(3)
    long_path = tmp_path / "long.mp3"
    sig = (0.2 * rng.standard_normal((2, 12 * 44100)) + 0.05).astype(np.float32)
    write_audio(long_path, sig, 44100, AudioOptions(format="mp3"))
    for path in (short.audio, long_path):
        ours = vipant_fbank(ClipMedia(audio=path, frames=()))
        ref = vipant_recipe_fbank(path)
        assert ours.shape == ref.shape == (1000, 128)
        np.testing.assert_allclose(ours, ref, atol=2e-4)
    assert np.all(vipant_fbank(ClipMedia(audio=short.audio, frames=()))[500:] == np.float32(4.93839311 / 5.75751113))


def test_small_checkpoint_gives_unit_vectors_deterministically(small_files: tuple[Path, Path], corpus: Corpus) -> None:
    ckpt, clip = small_files
    a = get_embedder("vipant", weights=(str(ckpt), str(clip)))
    b = get_embedder("vipant", weights=(str(ckpt), str(clip)))
    assert a.dim == 32 and a.joint_space
    assert a.audio_shape.grid == (61, 5) and a.audio_shape.stride == (16, 24)   # from the config
    m = media_of(corpus, 1)
    ea, eb = a.embed(m), b.embed(m)
    assert ea.vector.dtype == np.float32 and ea.vector.shape == (32,)
    for v in (ea.vector, ea.audio, ea.image):
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    assert ea.vector.tobytes() == eb.vector.tobytes() and a.fingerprint() == b.fingerprint()
    other = a.embed(media_of(corpus, 2))
    assert not np.allclose(other.audio, ea.audio)


def test_stride_comes_from_the_config(tmp_path: Path, small_files: tuple[Path, Path]) -> None:
    _, clip = small_files
    ckpt = write_checkpoint(tmp_path / "s16.pth", stride=(16, 16), **SMALL)
    e = get_embedder("vipant", weights=(str(ckpt), str(clip)))
    assert e.audio_shape.grid == (61, 7)
    # weights made for stride [16, 24] but a config saying [16, 16]: the positional table is wrong
    bad = write_checkpoint(tmp_path / "mismatch.pth", stride=(16, 24), config_stride=(16, 16), **SMALL)
    with pytest.raises(EmbedderError, match=r"positional_embedding has shape \(306, 64\), expected \(428, 64\)"):
        get_embedder("vipant", weights=(str(bad), str(clip)))


def test_clip_as_torchscript_archive(tmp_path: Path, small_files: tuple[Path, Path], corpus: Corpus) -> None:
    """OpenAI's ViT-B-32.pt is a TorchScript archive; its state dict holds the same visual.* keys."""
    from avdata.embed.vit import VisionTransformer, ViTShape
    from vipant_files import random_state

    shape = ViTShape(64, 2, (32, 32), (32, 32), (7, 7), 3, 32)

    class ClipLike(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = VisionTransformer(shape)
            self.visual.load_state_dict(random_state(shape, seed=1))

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.visual(image)

    archive = tmp_path / "ViT-B-32.pt"
    torch.jit.save(torch.jit.trace(ClipLike().eval(), torch.zeros(1, 3, 224, 224)), str(archive))
    from_archive = get_embedder("vipant", weights=(str(small_files[0]), str(archive)))
    from_state = get_embedder("vipant", weights=small_files)       # the same values as a state dict
    m = media_of(corpus, 4)
    np.testing.assert_allclose(from_archive.embed(m).image, from_state.embed(m).image, atol=1e-6)


@pytest.mark.parametrize("drop, reshape, message", [
    ("encoder.resblocks.1.mlp.c_fc.weight", None, r"missing transformer\.resblocks\.1\.mlp\.c_fc\.weight"),
    (None, "post_encoder.proj", r"proj has shape \(64, 33\), expected \(64, 32\)"),
])
def test_bad_checkpoint_names_the_keys(tmp_path: Path, small_files: tuple[Path, Path], drop: str | None,
                                       reshape: str | None, message: str) -> None:
    ckpt = write_checkpoint(tmp_path / "bad.pth", drop=drop, reshape=reshape, **SMALL)
    with pytest.raises(EmbedderError, match=message) as info:
        get_embedder("vipant", weights=(str(ckpt), str(small_files[1])))
    assert str(ckpt) in str(info.value)


def test_missing_files_say_where_they_are_published(tmp_path: Path, small_files: tuple[Path, Path]) -> None:
    with pytest.raises(EmbedderError, match=r"VIP-ANT checkpoint not found: .*nope\.pth \(published at .*vipant"):
        get_embedder("vipant", weights=(str(tmp_path / "nope.pth"), str(small_files[1])))
    with pytest.raises(EmbedderError, match=r"CLIP ViT-B/32 file not found: .*clip\.pt \(published at .*openai/CLIP"):
        get_embedder("vipant", weights=(str(small_files[0]), str(tmp_path / "clip.pt")))
    with pytest.raises(EmbedderError, match="needs --weights CHECKPOINT CLIP_FILE"):
        get_embedder("vipant")


@pytest.mark.slow
def test_full_size_checkpoint_in_published_layout(tmp_path: Path, corpus: Corpus) -> None:
    """ViT-B/32 sizes throughout: 768 wide, 12 layers, 512-d, the audio head over 1000 x 128."""
    ckpt = write_checkpoint(tmp_path / "00071478.pth")
    clip = write_clip(tmp_path / "ViT-B-32.pt")
    e = get_embedder("vipant", weights=(str(ckpt), str(clip)))
    assert e.dim == 512 and e.audio_shape.expected()["positional_embedding"] == (306, 768)
    assert e.image_shape.expected()["conv1.weight"] == (768, 3, 32, 32)
    m = media_of(corpus, 3)
    first, again = e.embed(m), e.embed(m)
    assert first.vector.shape == (512,) and abs(float(np.linalg.norm(first.vector)) - 1) < 1e-5
    assert first.vector.tobytes() == again.vector.tobytes()
    assert -1.0 <= float(first.audio @ first.image) <= 1.0


def test_torchscript_embedder_contract(tmp_path: Path, corpus: Corpus) -> None:
    class Pair(torch.nn.Module):
        def forward(self, audio: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a = torch.stack([audio.mean(dim=(1, 2, 3)), audio.std(dim=(1, 2, 3)), audio.amax(dim=(1, 2, 3))], 1)
            i = torch.stack([image[:, 0].mean(dim=(1, 2)), image[:, 1].mean(dim=(1, 2)), image[:, 2].mean(dim=(1, 2))], 1)
            return a, i

    path = tmp_path / "pair.pt"
    torch.jit.save(torch.jit.script(Pair()), str(path))
    e = get_embedder("torchscript", weights=(str(path),))
    m = media_of(corpus, 0)          # a red "tone" clip
    out = e.embed(m)
    assert e.dim == 3 and out.vector.shape == (3,) and out.image is not None
    assert abs(float(np.linalg.norm(out.vector)) - 1) < 1e-5
    assert int(np.argmax(out.image)) == 0          # red channel strongest in CLIP-normalised space
    with pytest.raises(EmbedderError, match="not a TorchScript module"):
        bogus = tmp_path / "bogus.pt"
        bogus.write_bytes(b"not a model")
        get_embedder("torchscript", weights=(str(bogus),))
