"""What an embedder takes and gives (a minimal copy of the embedder contract; the embed stage's
own module replaces it at merge)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ClipMedia:
    """The files of one clip: audio, frames, and optional pre-encoded features."""

    audio: Path | None
    frames: tuple[Path, ...]
    fbank: Path | None = None
    frames_224: Path | None = None


@dataclass
class Embedding:
    """A clip's embedding (float32, L2-normalised) and, when the model has them, its audio and image parts."""

    vector: np.ndarray
    audio: np.ndarray | None = None
    image: np.ndarray | None = None


class Embedder(Protocol):
    """An audio-visual embedder; ``joint_space``: its audio and image parts live in one space."""

    name: str
    dim: int
    joint_space: bool

    def fingerprint(self) -> str: ...

    def embed(self, media: ClipMedia) -> Embedding: ...
