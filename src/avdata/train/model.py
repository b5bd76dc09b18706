"""The audio-visual correspondence model ``avdata train`` fits: two small towers, one shared space.

Audio tower (L3-Net / AVE-Net family): pooled fbank rows (R, 64) -> four 3 x 3 conv blocks (16, 32,
64, 128 channels; GroupNorm, ReLU, 2 x 2 max-pool) -> mean over time and frequency -> a two-layer
head to ``dim``. Image tower: a pooled frame (3, 56, 56) -> the same blocks -> mean -> head. Both
outputs are L2-normalised, so the audio-vs-image cosine is the coincidence score. GroupNorm rather
than BatchNorm: batch statistics would let a tower see which items share a batch. The contrastive
loss is symmetric InfoNCE over the batch with a learned temperature.

``ExportedAVC`` wraps the towers for the ``torchscript`` embedder contract: it takes the 1000-frame
normalised fbank (1, 1, T, 128) and a CLIP-normalised 224 x 224 frame, drops the zero padding at the
end of the audio, pools as ``avdata.train.inputs`` does, and returns ``(audio_vec, image_vec)``.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from avdata.embed.vipant import DEFAULT_NORMS
from avdata.errors import MissingExtraError
from avdata.train.inputs import AUDIO_POOL, IMAGE_POOL

WIDTHS = (16, 32, 64, 128)
MODEL_KIND = "avdata-avc"
MODEL_VERSION = 1
EXTRA_FILE = "avdata_avc.json"          # torch.jit.save(_extra_files=...): what the avc embedder checks
MIN_AUDIO_ROWS = 16                     # four 2 x 2 pools


try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError as e:            # one clear line when the torch extra is missing
    raise MissingExtraError("torch", "torch") from e


def block(cin: int, cout: int) -> Any:
    """3 x 3 conv, GroupNorm, ReLU, 2 x 2 max-pool."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(min(8, cout // 2), cout),
                         nn.ReLU(), nn.MaxPool2d(2))


class Tower(nn.Module):
    """Conv blocks, mean over the two axes, a two-layer head, L2-normalised output."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        layers, cin = [], channels
        for w in WIDTHS:
            layers.append(block(cin, w))
            cin = w
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(cin, cin), nn.ReLU(), nn.Linear(cin, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x).mean(dim=(2, 3))
        return F.normalize(self.head(h), dim=1)


class AVCModel(nn.Module):
    """``audio`` (B, 1, R, 64) pooled rows, ``image`` (B, 3, 56, 56) -> normalised (B, dim) each."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.audio = Tower(1, dim)
        self.image = Tower(3, dim)
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))      # log(1 / 0.07)

    def forward(self, audio: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.audio(audio), self.image(image)

    def loss(self, a: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE: row k of ``a`` belongs with row k of ``i``, every other row is a negative."""
        logits = self.logit_scale.clamp(max=4.6052).exp() * a @ i.t()
        target = torch.arange(a.shape[0], device=a.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


class ExportedAVC(nn.Module):
    """The towers behind the ``torchscript`` embedder contract (see the module docstring)."""

    def __init__(self, model: AVCModel) -> None:
        super().__init__()
        self.audio = model.audio
        self.image = model.image
        self.pad = float((0.0 - DEFAULT_NORMS[0]) / DEFAULT_NORMS[1])   # a zero-padded fbank frame, normalised
        self.audio_pool = int(AUDIO_POOL)
        self.image_pool = int(IMAGE_POOL)
        self.min_frames = int(MIN_AUDIO_ROWS * AUDIO_POOL)

    def forward(self, audio: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real = ((audio - self.pad).abs().amax(dim=3) > 1e-5).any(dim=0).any(dim=0)   # (T,)
        idx = torch.nonzero(real)
        n = int(idx[-1, 0]) + 1 if idx.shape[0] > 0 else audio.shape[2]
        n = max(n, self.min_frames)
        a = F.avg_pool2d(audio[:, :, :n, :], self.audio_pool)
        i = F.avg_pool2d(image, self.image_pool)
        return self.audio(a), self.image(i)


def build_model(dim: int) -> AVCModel:
    """A fresh model (weights from torch's current random state)."""
    return AVCModel(dim)


def export_model(model: AVCModel) -> Any:
    """The TorchScript module of a trained model (see the module docstring)."""
    with warnings.catch_warnings():     # TorchScript is the embedder contract, deprecated or not
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(ExportedAVC(model).eval())


def save_model(scripted: Any, path: str, info: dict[str, Any]) -> None:
    """``torch.jit.save`` with avdata's description as the extra file ``EXTRA_FILE``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, path, _extra_files={EXTRA_FILE: json.dumps(info)})


def parameter_count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
