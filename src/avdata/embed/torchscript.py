"""``torchscript``: a lab's own model as a TorchScript module (``--weights MODEL.pt``).

Input contract (what avdata passes to ``module.forward``):
- ``audio``: float32 tensor (1, 1, T, 128): the clip's VIP-ANT-normalised 128-bin Kaldi fbank,
  T = ``max_audio_len`` (default 1000 frames = 10 s; cut or zero-padded), exactly the ``vipant``
  embedder's audio input;
- ``image``: float32 tensor (1, 3, 224, 224): the middle frame through CLIP's transform
  (``media.features.frame_224``).
The module returns either one tensor (1, D) -- the clip's vector, no separate parts -- or a tuple
``(audio_vec, image_vec)`` of (1, D) each, in which case ``vector = normalise(audio + image)`` and
the parts are kept. Set ``joint_space=True`` (``--param joint_space=true``) only if the two parts
share one space. D is found by running the module once on zeros when it is loaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avdata.embed import register_embedder
from avdata.embed.base import (
    ClipMedia,
    EmbedderError,
    Embedding,
    file_sha256,
    fingerprint_of,
    l2_normalise,
    require_file,
)
from avdata.embed.vipant import DEFAULT_NORMS, MAX_AUDIO_LEN, import_torch, jit_load, middle_frame_input, vipant_fbank


def module_status(weights: tuple[str, ...], needs: str) -> str:
    """"available", or why an embedder of one TorchScript file cannot run here (``needs``: what to give)."""
    if importlib.util.find_spec("torch") is None:
        return "needs the 'torch' package: pip install 'avdata[torch]'"
    if len(weights) != 1:
        return f"needs --weights {needs}"
    return "available" if Path(weights[0]).is_file() else f"file not found: {weights[0]}"


def _status(weights: tuple[str, ...] = (), **_: Any) -> str:
    return module_status(weights, "MODEL.pt (your TorchScript module; see avdata.embed.torchscript)")


@register_embedder("torchscript", status=_status)
@dataclass
class TorchScriptEmbedder:
    """Any TorchScript module that follows the input contract in the module docstring."""

    weights: tuple[str, ...] = ()
    max_audio_len: int = MAX_AUDIO_LEN
    joint_space: bool = False
    threads: int = 1
    name: str = field(default="torchscript", init=False)

    def __post_init__(self) -> None:
        torch = import_torch()
        if len(self.weights) != 1:
            raise EmbedderError("torchscript needs --weights MODEL.pt (one TorchScript file)")
        self.path = require_file(self.weights[0], "TorchScript module", "your own export (torch.jit.save)")
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        self.module = self.load_module(torch).eval()
        audio = np.zeros((self.max_audio_len, 128), np.float32)
        image = np.zeros((3, 224, 224), np.float32)
        a, i = self._run(audio, image)
        self.dim = int(a.shape[0])

    def load_module(self, torch: Any) -> Any:
        """The TorchScript module in ``self.path`` (EmbedderError, one line, for any other file)."""
        try:
            return jit_load(torch, self.path)
        except (RuntimeError, ValueError) as e:
            raise EmbedderError(f"{self.path}: not a TorchScript module ({' '.join(str(e).split())[:200]})") from e

    def _run(self, audio: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        torch = import_torch()
        with torch.inference_mode():
            out = self.module(torch.from_numpy(audio)[None, None], torch.from_numpy(image)[None])
        if isinstance(out, (tuple, list)):
            if len(out) != 2:
                raise EmbedderError(f"{self.path}: forward returned {len(out)} tensors; expected 1 or 2")
            a, i = (np.asarray(t.detach().float().numpy()).reshape(-1) for t in out)
            if a.shape != i.shape:
                raise EmbedderError(f"{self.path}: audio and image vectors differ in size ({a.shape}, {i.shape})")
            return a, i
        return np.asarray(out.detach().float().numpy()).reshape(-1), None

    def fingerprint(self) -> str:
        return fingerprint_of(self.name, {"max_audio_len": self.max_audio_len, "joint_space": self.joint_space},
                              {"module": file_sha256(self.path)})

    def describe(self) -> dict[str, Any]:
        return {"fbank_norms": list(DEFAULT_NORMS), "max_audio_len": self.max_audio_len}

    def embed(self, media: ClipMedia) -> Embedding:
        audio = vipant_fbank(media, self.max_audio_len, DEFAULT_NORMS)
        image = middle_frame_input(media)
        a, i = self._run(audio, image)
        if i is None:
            return Embedding(vector=l2_normalise(a))
        a, i = l2_normalise(a), l2_normalise(i)
        return Embedding(vector=l2_normalise(a + i), audio=a, image=i)
