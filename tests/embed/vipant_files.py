"""Write VIP-ANT checkpoints and CLIP files in the published layouts, with random values.

``write_checkpoint``: ``{"cfg": ..., "model": (image, audio, text, loss)}`` as VIP-ANT's CVALP saves
it (image and text heads frozen: empty state dicts); the audio head in ``CLIPAudioHead`` key names
(``pre_encoder.conv1.weight``, ``encoder.resblocks.N.*``, ``post_encoder.proj``, ``misc.*``), its
config as in ``configs/model/audio/vit_val.yaml`` with the run script's overrides (in_channels 3,
stride [16, 24], norms) and the ``${...}`` interpolations left unresolved as in the YAML.
``write_clip``: an OpenAI CLIP state dict (``visual.*`` plus a few text-tower keys), ViT-B/32 sizes
by default.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch

from avdata.embed.vit import ViTShape


def random_state(shape: ViTShape, seed: int) -> "OrderedDict[str, torch.Tensor]":
    g = torch.Generator().manual_seed(seed)
    out = OrderedDict()
    for key, dims in shape.expected().items():
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight")):
            out[key] = 1.0 + 0.1 * torch.randn(dims, generator=g)
        else:
            out[key] = 0.02 * torch.randn(dims, generator=g) * (5.0 if key in ("proj", "class_embedding") else 1.0)
    return out


def audio_config(width: int = 768, layers: int = 12, embed_dim: int = 512, stride=(16, 24)) -> dict:
    return {
        "model": {
            "image": {"name": "CLIPImageHead", "freeze": True, "width": width, "embed_dim": embed_dim,
                      "resolution": 224, "encoder": {"name": "TransformerBackbone", "layers": layers},
                      "pre_encoder": {"name": "ViTPreEncoder", "patch_size": 32, "stride": "${model.image.pre_encoder.patch_size}",
                                      "in_channels": 3}},
            "audio": {"name": "CLIPAudioHead", "width": "${model.image.width}", "embed_dim": "${model.image.embed_dim}",
                      "resolution": ["${running.max_audio_len}", "${running.num_mel_bins}"],
                      "encoder": {"name": "TransformerBackbone", "layers": "${model.image.encoder.layers}"},
                      "pre_encoder": {"name": "ViTPreEncoder", "patch_size": "${model.image.pre_encoder.patch_size}",
                                      "stride": list(stride), "in_channels": 3},
                      "post_encoder": {"name": "ViTPostEncoder"}, "misc": {"name": "CLIPMisc"}},
        },
        "running": {"max_audio_len": 1000, "num_mel_bins": 128,
                    "audio": {"norms": [-4.93839311, 5.75751113], "max_len": 1000}},
    }


def audio_head_shape(width: int = 768, layers: int = 12, embed_dim: int = 512, stride=(16, 24)) -> ViTShape:
    grid = ((1000 - 32) // stride[0] + 1, (128 - 32) // stride[1] + 1)
    return ViTShape(width, layers, (32, 32), tuple(stride), grid, 3, embed_dim)


_TO_VIPANT = (("conv1.", "pre_encoder.conv1."), ("ln_pre.", "pre_encoder.ln."),
              ("transformer.resblocks.", "encoder.resblocks."), ("ln_post.", "post_encoder.ln."))


def vipant_keys(state: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, torch.Tensor]":
    out = OrderedDict()
    for key, value in state.items():
        new = {"proj": "post_encoder.proj", "positional_embedding": "misc.positional_embedding",
               "class_embedding": "misc.class_embedding"}.get(key, key)
        for a, b in _TO_VIPANT:
            if new.startswith(a):
                new = b + new[len(a):]
        out[new] = value
    return out


def write_checkpoint(path: Path, *, width: int = 768, layers: int = 12, embed_dim: int = 512, stride=(16, 24),
                     config_stride=None, drop: str | None = None, reshape: str | None = None, seed: int = 0) -> Path:
    """A VA checkpoint; ``drop``/``reshape`` remove or mis-shape one audio-head key (VIP-ANT name)."""
    audio = vipant_keys(random_state(audio_head_shape(width, layers, embed_dim, stride), seed))
    if drop:
        del audio[drop]
    if reshape:
        audio[reshape] = torch.zeros(*audio[reshape].shape[:-1], audio[reshape].shape[-1] + 1)
    cfg = audio_config(width, layers, embed_dim, config_stride or stride)
    loss = OrderedDict(logit_scale=torch.tensor(4.6052))
    torch.save({"cfg": cfg, "model": (OrderedDict(), audio, OrderedDict(), loss)}, path)
    return path


def write_clip(path: Path, *, width: int = 768, layers: int = 12, embed_dim: int = 512, seed: int = 1) -> Path:
    """An OpenAI CLIP state dict (visual tower at ViT-B/32 sizes by default, random values)."""
    visual = random_state(ViTShape(width, layers, (32, 32), (32, 32), (7, 7), 3, embed_dim), seed)
    state = OrderedDict((f"visual.{k}", v) for k, v in visual.items())
    state["logit_scale"] = torch.tensor(4.6052)
    state["text_projection"] = torch.zeros(embed_dim, embed_dim)
    state["token_embedding.weight"] = torch.zeros(16, embed_dim)
    torch.save(state, path)
    return path
