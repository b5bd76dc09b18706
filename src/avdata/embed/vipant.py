"""``vipant``: VIP-ANT's audio-visual model (zhaoyanpeng/vipant) from files the user supplies.

``--weights CHECKPOINT CLIP_FILE``:
- CHECKPOINT: VIP-ANT's published VA checkpoint (e.g. ``00071478.pth``), read with
  ``torch.load(..., weights_only=False)`` (its config is pickled): ``ckpt["cfg"]`` is the run's
  config, ``ckpt["model"]`` the state dicts (image, audio, text, loss) or (audio, loss). The audio
  head is a CLIP ViT-B/32 layout (``CLIPAudioHead``: ``pre_encoder.conv1``, ``pre_encoder.ln``,
  ``encoder.resblocks.*``, ``post_encoder.ln``, ``post_encoder.proj``, ``misc.*``; the older
  ``encoder.*`` layout of ``NaiveCLIPAudioHead`` is read too). Its patch size, stride, width,
  layers and input resolution come from the config (``model.audio``, ``running.max_audio_len``,
  ``running.num_mel_bins``), not from constants.
- CLIP_FILE: OpenAI CLIP ViT-B/32 (``ViT-B-32.pt`` as ``clip.load`` downloads it, a TorchScript
  archive, or a saved state dict) for the frames: VIP-ANT keeps CLIP's image tower frozen and
  does not store it in the checkpoint.

Audio, as VIP-ANT's evaluation (``cvap/data/audioset_cls.py``, ``bash/run_bimodal_va.sh``): the
clip's first channel at its own rate, mean removed, 128-bin Kaldi fbank (``media.features.fbank``;
the index's ``aclip_128`` npz when present), first 1000 frames, zero-padded to 1000, normalised
``(x - mean) / std`` with ``running.audio.norms`` (default -4.93839311, 5.75751113). Image: the
middle frame (``ceil(n/2) - 1``) through VIP-ANT's CLIP transform (``media.features.frame_224``).
Both towers end in CLIP's 512-d image space (``joint_space = True``): ``audio`` and ``image`` are
the normalised tower outputs, ``vector`` is ``normalise(audio + image)`` (``part="audio"`` or
``"image"`` makes it one tower).
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avdata.embed import register_embedder
from avdata.embed.base import (
    ClipEmbedError,
    ClipMedia,
    EmbedderError,
    Embedding,
    file_sha256,
    fingerprint_of,
    l2_normalise,
    require_file,
)
from avdata.errors import MediaError, MissingExtraError

CHECKPOINT_SOURCE = ("VIP-ANT's README (github.com/zhaoyanpeng/vipant, the pre-trained VA model, "
                     "e.g. 00071478.pth)")
CLIP_SOURCE = "OpenAI CLIP (github.com/openai/CLIP, clip/clip.py _MODELS['ViT-B/32'], ViT-B-32.pt)"
DEFAULT_NORMS = (-4.93839311, 5.75751113)
MAX_AUDIO_LEN = 1000
NUM_MEL_BINS = 128
PARTS = ("both", "audio", "image")


def _status(weights: tuple[str, ...] = (), **_: Any) -> str:
    if importlib.util.find_spec("torch") is None:
        return "needs the 'torch' package: pip install 'avdata[torch]'"
    if len(weights) != 2:
        return f"needs --weights CHECKPOINT CLIP_FILE (from {CHECKPOINT_SOURCE} and {CLIP_SOURCE})"
    for path, src in zip(weights, (CHECKPOINT_SOURCE, CLIP_SOURCE)):
        if not Path(path).is_file():
            return f"file not found: {path} (published at {src})"
    return "available"


def import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise MissingExtraError("torch", "torch") from e
    return torch


_INTERP = re.compile(r"^\$\{([^}]+)\}$")


def _plain_config(cfg: Any) -> Any:
    """The checkpoint's config as plain dicts/lists (an OmegaConf object is resolved)."""
    if isinstance(cfg, Mapping) and type(cfg) is dict:
        return cfg
    try:
        from omegaconf import OmegaConf  # the real checkpoint pickles a DictConfig

        return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:
        return dict(cfg) if isinstance(cfg, Mapping) else cfg


def cfg_get(cfg: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """``cfg["a"]["b"]`` for ``"a.b"``, following ``${x.y}`` interpolations; ``default`` if absent."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    if isinstance(node, str) and (m := _INTERP.match(node.strip())):
        return cfg_get(cfg, m.group(1), default)
    return node


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1 if len(value) > 1 else 0])
    return int(value), int(value)


_AUDIO_RENAMES = ((r"^pre_encoder\.conv1\.", "conv1."), (r"^pre_encoder\.ln\.", "ln_pre."),
                  (r"^encoder\.resblocks\.", "transformer.resblocks."), (r"^post_encoder\.ln\.", "ln_post."),
                  (r"^post_encoder\.proj$", "proj"), (r"^misc\.", ""))


def audio_state_to_clip(state: Mapping[str, Any]) -> dict[str, Any]:
    """An audio-head state dict (``CLIPAudioHead`` or ``NaiveCLIPAudioHead``) in CLIP key names."""
    if any(k.startswith("encoder.conv1.") for k in state):           # NaiveCLIPAudioHead
        return {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    out = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _AUDIO_RENAMES:
            new = re.sub(pattern, repl, new)
        out[new] = value
    return out


def audio_shape(cfg: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """The audio ViT's sizes from the checkpoint's config (CLIPAudioHead or NaiveCLIPAudioHead keys)."""
    from avdata.embed.vit import ViTShape

    audio = cfg_get(cfg, "model.audio", {}) or {}
    pre = audio.get("pre_encoder") or {}
    width = int(cfg_get(cfg, "model.audio.width") or cfg_get(cfg, "model.image.width") or 768)
    layers = cfg_get(cfg, "model.audio.encoder.layers", cfg_get(cfg, "model.audio.layers"))
    layers = int(layers if layers is not None else cfg_get(cfg, "model.image.encoder.layers", 12))
    patch = _pair(cfg_get(cfg, "model.audio.pre_encoder.patch_size", audio.get("patch_size", 32)))
    stride_value = cfg_get(cfg, "model.audio.pre_encoder.stride", audio.get("stride"))
    stride = _pair(stride_value) if stride_value else patch
    in_ch = int(cfg_get(cfg, "model.audio.pre_encoder.in_channels", pre.get("in_channels", audio.get("in_channel", 1))))
    res = cfg_get(cfg, "model.audio.resolution")
    if isinstance(res, (list, tuple)) and len(res) == 2:
        rows, cols = (int(cfg_get(cfg, r[2:-1]) if isinstance(r, str) else r) for r in res)
    else:
        rows = int(cfg_get(cfg, "running.max_audio_len", MAX_AUDIO_LEN))
        cols = int(cfg_get(cfg, "running.num_mel_bins", NUM_MEL_BINS))
    grid = ((rows - patch[0]) // stride[0] + 1, (cols - patch[1]) // stride[1] + 1)
    out_dim = int(cfg_get(cfg, "model.audio.embed_dim") or cfg_get(cfg, "model.image.embed_dim") or 512)
    del state
    return ViTShape(width, layers, patch, stride, grid, in_ch, out_dim), (rows, cols)


def clip_visual_shape(state: Mapping[str, Any]) -> Any:
    """The sizes of a CLIP visual tower, read from its own state dict."""
    from avdata.embed.vit import ViTShape

    conv = state.get("conv1.weight")
    pos = state.get("positional_embedding")
    proj = state.get("proj")
    if conv is None or pos is None or proj is None:
        missing = [k for k, v in (("visual.conv1.weight", conv), ("visual.positional_embedding", pos),
                                  ("visual.proj", proj)) if v is None]
        raise EmbedderError(f"not a CLIP ViT file: missing {', '.join(missing)}")
    side = int(round(math.sqrt(pos.shape[0] - 1)))
    layers = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
    p = int(conv.shape[-1])
    return ViTShape(int(conv.shape[0]), layers, (p, p), (p, p), (side, side), int(conv.shape[1]), int(proj.shape[1]))


def jit_load(torch: Any, path: Path) -> Any:
    """``torch.jit.load`` without its deprecation warning (CLIP files are TorchScript archives)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu")


def _load_clip_state(path: Path) -> dict[str, Any]:
    torch = import_torch()
    try:
        state = jit_load(torch, path).state_dict()
    except (RuntimeError, ValueError):
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001  any unreadable file gets one line
            raise EmbedderError(f"{path}: not a CLIP model file ({type(e).__name__}: {e})") from e
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise EmbedderError(f"{path}: not a CLIP model file (no state dict)")
    return {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}


def _load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    torch = import_torch()
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=False)
    except ModuleNotFoundError as e:
        raise EmbedderError(f"{path}: the checkpoint's pickled config needs the '{e.name}' package "
                            f"(pip install {e.name})") from e
    except Exception as e:  # noqa: BLE001
        raise EmbedderError(f"{path}: cannot read the checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, Mapping) or "model" not in ckpt or "cfg" not in ckpt:
        raise EmbedderError(f"{path}: not a VIP-ANT checkpoint (expected a dict with 'cfg' and 'model')")
    model = ckpt["model"]
    if not isinstance(model, (list, tuple)) or len(model) not in (2, 4):
        raise EmbedderError(f"{path}: ckpt['model'] must hold 4 (image, audio, text, loss) or 2 (audio, loss) "
                            "state dicts")
    audio = model[1] if len(model) == 4 else model[0]
    return _plain_config(ckpt["cfg"]), dict(audio)


@register_embedder("vipant", status=_status)
@dataclass
class VipantEmbedder:
    """VIP-ANT's audio head + OpenAI CLIP's image tower, both into CLIP's 512-d space."""

    weights: tuple[str, ...] = ()
    part: str = "both"
    threads: int = 1
    name: str = field(default="vipant", init=False)
    joint_space: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        from avdata.embed.vit import VisionTransformer, shape_problems

        torch = import_torch()
        if self.part not in PARTS:
            raise EmbedderError(f"vipant part must be one of {', '.join(PARTS)}; got {self.part!r}")
        if len(self.weights) != 2:
            raise EmbedderError(f"vipant needs --weights CHECKPOINT CLIP_FILE: the VA checkpoint from "
                                f"{CHECKPOINT_SOURCE} and the CLIP ViT-B/32 file from {CLIP_SOURCE}; "
                                "avdata never downloads weights")
        self.checkpoint = require_file(self.weights[0], "VIP-ANT checkpoint", CHECKPOINT_SOURCE)
        self.clip_file = require_file(self.weights[1], "CLIP ViT-B/32 file", CLIP_SOURCE)
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        cfg, audio_state = _load_checkpoint(self.checkpoint)
        state = audio_state_to_clip(audio_state)
        shape, self.audio_resolution = audio_shape(cfg, state)
        problems = shape_problems(state, shape)
        if problems:
            raise EmbedderError(f"{self.checkpoint}: the audio head does not fit its config ({shape}): "
                                + "; ".join(problems[:12]) + (" ..." if len(problems) > 12 else ""))
        self.audio_model = VisionTransformer(shape)
        self.audio_model.load_state_dict({k: state[k] for k in shape.expected()})
        vstate = _load_clip_state(self.clip_file)
        vshape = clip_visual_shape(vstate)
        problems = shape_problems(vstate, vshape)
        if problems:
            raise EmbedderError(f"{self.clip_file}: not a complete CLIP visual tower: " + "; ".join(
                "visual." + p.removeprefix("missing ") if p.startswith("missing ") else "visual." + p
                for p in problems[:12]))
        if vshape.output_dim != shape.output_dim:
            raise EmbedderError(f"{self.clip_file}: CLIP projects to {vshape.output_dim}, the audio head to "
                                f"{shape.output_dim}: not the CLIP model VIP-ANT was trained with")
        self.image_model = VisionTransformer(vshape)
        self.image_model.load_state_dict({k: vstate[k] for k in vshape.expected()})
        self.image_size = vshape.patch[0] * vshape.grid[0]
        self.audio_model.eval()
        self.image_model.eval()
        norms = cfg_get(cfg, "running.audio.norms") or DEFAULT_NORMS
        self.norms = (float(norms[0]), float(norms[1])) if len(norms) == 2 else DEFAULT_NORMS
        self.dim = shape.output_dim
        self.audio_shape, self.image_shape = shape, vshape

    def fingerprint(self) -> str:
        return fingerprint_of(self.name, {"part": self.part, "norms": self.norms},
                              {"checkpoint": file_sha256(self.checkpoint), "clip": file_sha256(self.clip_file)})

    def describe(self) -> dict[str, Any]:
        return {"fbank_norms": list(self.norms), "audio_resolution": list(self.audio_resolution),
                "audio_stride": list(self.audio_shape.stride), "audio_grid": list(self.audio_shape.grid),
                "part": self.part}

    def audio_input(self, media: ClipMedia) -> np.ndarray:
        """The normalised (max_audio_len, num_mel_bins) fbank VIP-ANT feeds its audio head."""
        return vipant_fbank(media, self.audio_resolution[0], self.norms)

    def image_input(self, media: ClipMedia) -> np.ndarray:
        """The middle frame as VIP-ANT's CLIP transform makes it: (3, 224, 224)."""
        return middle_frame_input(media, self.image_size)

    def embed(self, media: ClipMedia) -> Embedding:
        torch = import_torch()
        with torch.inference_mode():
            a = i = None
            if self.part in ("both", "audio"):
                x = torch.from_numpy(self.audio_input(media))[None, None]
                a = l2_normalise(self.audio_model(x)[0].numpy())
            if self.part in ("both", "image"):
                x = torch.from_numpy(self.image_input(media))[None]
                i = l2_normalise(self.image_model(x)[0].numpy())
        vector = l2_normalise(a + i) if a is not None and i is not None else (a if a is not None else i)
        assert vector is not None               # part is one of PARTS (checked when built)
        return Embedding(vector=vector, audio=a, image=i)


def vipant_fbank(media: ClipMedia, max_len: int = MAX_AUDIO_LEN, norms: tuple[float, float] = DEFAULT_NORMS
                 ) -> np.ndarray:
    """VIP-ANT's audio input: fbank of the first channel (mean removed), cut or zero-padded to
    ``max_len`` frames, then ``(x - norms[0]) / norms[1]``. Reuses the ``aclip_128`` npz. Audio
    below 22.05 kHz (render's 16 kHz default) is first resampled up (``rate_for_fbank``)."""
    feats = clip_fbank(media)[:max_len]
    if feats.shape[0] < max_len:
        feats = np.pad(feats, ((0, max_len - feats.shape[0]), (0, 0)))
    return ((feats - norms[0]) / norms[1]).astype(np.float32)


def clip_fbank(media: ClipMedia, use_npz: bool = True, fast: bool = False) -> np.ndarray:
    """The clip's raw 128-bin fbank, all its frames (no cut, no padding, not normalised): the
    ``aclip_128`` npz when ``use_npz`` and the index names one that exists, else decoded from the
    audio clip (first channel, mean removed; below 22.05 kHz resampled up; ``fast``: numpy's
    ``fast_fbank``, the same numbers to about 1e-3). ClipEmbedError on failure."""
    from avdata.arrays import fbank_array, read_npz
    from avdata.media.features import AUDIO_KEY, fbank, rate_for_fbank
    from avdata.media.inspect import decode_audio

    if use_npz and media.fbank is not None and media.fbank.is_file():
        where = str(media.fbank)
        try:
            return fbank_array(read_npz(media.fbank, where, "bad_fbank"), AUDIO_KEY, where)
        except MediaError as e:
            raise ClipEmbedError(e.code, e.message) from e
    if media.audio is None:
        raise ClipEmbedError("no_audio", "the index line names no audio clip")
    try:
        audio, rate = decode_audio(media.audio)
        mono, rate = rate_for_fbank(audio[0] - audio[0].mean(), rate)    # 16 kHz renders: see rate_for_fbank
        if fast:
            from avdata.media.kaldi_fbank import fast_fbank

            return fast_fbank(mono, rate)
        return fbank(mono, rate)
    except MediaError as e:
        raise ClipEmbedError(e.code, e.message) from e


def middle_frame_input(media: ClipMedia, size: int = 224) -> np.ndarray:
    """The middle frame (``ceil(n/2) - 1``, VIP-ANT's evaluation choice) through CLIP's transform."""
    from avdata.media.features import frame_224

    if not media.frames:
        raise ClipEmbedError("no_frames", "the index line names no frames")
    path = media.frames[int(math.ceil(len(media.frames) / 2)) - 1]
    try:
        return frame_224(path, size)
    except (OSError, ValueError, SyntaxError) as e:
        raise ClipEmbedError("bad_frame", f"{path}: {type(e).__name__}: {e}") from e
