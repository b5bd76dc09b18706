"""A CLIP-layout Vision Transformer in plain PyTorch (OpenAI CLIP ``VisionTransformer`` key names),
with VIP-ANT's two audio changes: a (row, column) stride for the patch convolution and, for an
input with fewer channels than the weights, the channel-mean of the patch weights
(``cvap/module/val.py: ViTPreEncoder``). Needs the optional ``torch`` extra."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTShape:
    """Sizes of a CLIP-layout ViT; ``grid`` is (rows, columns) of patches."""

    width: int
    layers: int
    patch: tuple[int, int]
    stride: tuple[int, int]
    grid: tuple[int, int]
    in_channels: int
    output_dim: int

    @property
    def heads(self) -> int:
        return self.width // 64

    def expected(self) -> dict[str, tuple[int, ...]]:
        """Every state-dict key and its shape."""
        w = self.width
        shapes: dict[str, tuple[int, ...]] = {
            "conv1.weight": (w, self.in_channels, *self.patch),
            "class_embedding": (w,),
            "positional_embedding": (self.grid[0] * self.grid[1] + 1, w),
            "ln_pre.weight": (w,), "ln_pre.bias": (w,),
            "ln_post.weight": (w,), "ln_post.bias": (w,),
            "proj": (w, self.output_dim),
        }
        for i in range(self.layers):
            p = f"transformer.resblocks.{i}."
            shapes.update({
                p + "attn.in_proj_weight": (3 * w, w), p + "attn.in_proj_bias": (3 * w,),
                p + "attn.out_proj.weight": (w, w), p + "attn.out_proj.bias": (w,),
                p + "ln_1.weight": (w,), p + "ln_1.bias": (w,),
                p + "mlp.c_fc.weight": (4 * w, w), p + "mlp.c_fc.bias": (4 * w,),
                p + "mlp.c_proj.weight": (w, 4 * w), p + "mlp.c_proj.bias": (w,),
                p + "ln_2.weight": (w,), p + "ln_2.bias": (w,),
            })
        return shapes


def shape_problems(state: Mapping[str, torch.Tensor], shape: ViTShape) -> list[str]:
    """Missing and mis-shaped keys of ``state`` against ``shape`` (empty when it fits)."""
    problems = []
    for key, want in shape.expected().items():
        if key not in state:
            problems.append(f"missing {key}")
        elif tuple(state[key].shape) != want:
            problems.append(f"{key} has shape {tuple(state[key].shape)}, expected {want}")
    return problems


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """CLIP's visual tower: patches -> [class] + positions -> transformer -> ln_post -> proj."""

    def __init__(self, shape: ViTShape) -> None:
        super().__init__()
        self.shape = shape
        w = shape.width
        self.conv1 = nn.Conv2d(shape.in_channels, w, kernel_size=shape.patch, stride=shape.stride, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros(shape.grid[0] * shape.grid[1] + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, shape.layers, shape.heads)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.zeros(w, shape.output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.conv1.weight
        if x.shape[1] != weight.shape[1]:          # VIP-ANT: 1-channel fbank, 3-channel weights
            weight = weight.mean(1, keepdim=True)
        x = F.conv2d(x, weight, stride=self.shape.stride)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding[: x.shape[1] + 1].to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj
