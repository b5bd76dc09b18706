"""``avc``: the audio-visual correspondence model ``avdata train`` wrote (``--weights OUT/model.pt``).

It is a ``torchscript`` module of the same input contract (the 1000-frame normalised fbank and the
middle frame through CLIP's transform), returning ``(audio_vec, image_vec)`` in one space
(``joint_space``): ``score`` takes their cosine as the coincidence score, ``balance`` the
normalised sum. The file must carry avdata's description (``avdata_avc.json``, written by
``avdata train``); any other file is refused with one line. Scores of two models are not comparable.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

from avdata.embed import register_embedder
from avdata.embed.base import EmbedderError, file_sha256, fingerprint_of
from avdata.embed.torchscript import TorchScriptEmbedder, module_status


def _status(weights: tuple[str, ...] = (), **_: Any) -> str:
    return module_status(weights, "OUT/model.pt (the model `avdata train` wrote)")


@register_embedder("avc", status=_status)
@dataclass
class AVCEmbedder(TorchScriptEmbedder):
    """The model of ``avdata train`` (see the module docstring)."""

    joint_space: bool = field(default=True, init=False)
    name: str = field(default="avc", init=False)

    def load_module(self, torch: Any) -> Any:
        from avdata.train.model import EXTRA_FILE, MODEL_KIND, MODEL_VERSION

        extra = {EXTRA_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra)
        except (RuntimeError, ValueError) as e:
            raise EmbedderError(f"{self.path}: not a model of avdata train (not a TorchScript file: "
                                f"{' '.join(str(e).split())[:160]})") from e
        try:
            info = json.loads(extra[EXTRA_FILE] or "null")
        except ValueError:
            info = None
        if not isinstance(info, dict) or info.get("kind") != MODEL_KIND:
            raise EmbedderError(f"{self.path}: a TorchScript module but not a model of avdata train (no "
                                f"{EXTRA_FILE}); use --embedder torchscript for other modules")
        if info.get("version") != MODEL_VERSION:
            raise EmbedderError(f"{self.path}: avc model version {info.get('version')}; this avdata reads "
                                f"version {MODEL_VERSION}")
        return module

    def fingerprint(self) -> str:
        return fingerprint_of(self.name, {"max_audio_len": self.max_audio_len}, {"module": file_sha256(self.path)})
