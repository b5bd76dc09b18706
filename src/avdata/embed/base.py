"""The embedder contract: what a clip's media is, what an embedding is, what an embedder does.

Other stages (balance, coincidence scoring) code against these three names only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from avdata.errors import AvdataError


@dataclass(frozen=True)
class ClipMedia:
    """One index line's media, absolute paths."""

    audio: Path | None                 # the audio clip (e.g. {root}/{dir}/aclip/{id}.p0.mp3)
    frames: tuple[Path, ...]           # the frame JPEGs
    fbank: Path | None = None          # aclip_128 npz (array under key "flag") when the index has it
    frames_224: Path | None = None


@dataclass
class Embedding:
    """One clip's vector (float32, shape (dim,), L2-normalised) and its audio / image parts."""

    vector: np.ndarray
    audio: np.ndarray | None = None    # audio part, L2-normalised (None if the embedder has none)
    image: np.ndarray | None = None    # image part, L2-normalised


@runtime_checkable
class Embedder(Protocol):
    """Turns a clip's media into one L2-normalised vector of ``dim`` floats."""

    name: str
    dim: int
    joint_space: bool   # audio and image parts live in one space (audio-vs-image cosine is meaningful)

    def fingerprint(self) -> str: ...

    def embed(self, media: ClipMedia) -> Embedding: ...


class EmbedderError(AvdataError):
    """An embedder that cannot be built (missing weights file, bad checkpoint, missing extra)."""


class ClipEmbedError(AvdataError):
    """One clip that could not be embedded; ``code`` goes to the embed manifest."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def l2_normalise(x: np.ndarray, eps: float = 1e-12, what: str = "vector") -> np.ndarray:
    """``x / |x|`` as float32 (a zero vector stays zero). A vector with NaN or infinity is
    ClipEmbedError ``non_finite``: it must fail its row, never become a silent zero row."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ClipEmbedError("non_finite", f"the embedder's {what} holds NaN or infinity")
    n = float(np.linalg.norm(x))
    return (x / n if n > eps else np.zeros_like(x)).astype(np.float32)


def file_sha256(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def fingerprint_of(name: str, params: dict, files: dict[str, str] | None = None) -> str:
    """A stable fingerprint: ``name`` + sorted parameters + the SHA-256 of each named file."""
    parts = [name] + [f"{k}={params[k]!r}" for k in sorted(params)]
    parts += [f"{k}:sha256={v}" for k, v in sorted((files or {}).items())]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"{name}-{digest}"


def require_file(path: str | os.PathLike[str] | None, what: str, published: str) -> Path:
    """The path of a weights file the user must supply, or EmbedderError naming it and its source."""
    if path is None:
        raise EmbedderError(f"{what} is needed (--weights); it is published at {published}; "
                            "avdata never downloads weights")
    p = Path(path)
    if not p.is_file():
        raise EmbedderError(f"{what} not found: {p} (published at {published}; avdata never downloads weights)")
    return p
