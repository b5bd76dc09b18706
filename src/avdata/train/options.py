"""Options and result of ``avdata train`` (the CLI's flags one to one)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avdata.errors import AvdataError, OptionError
from avdata.train.inputs import FEATURES, ROWS_PER_SECOND

DEVICES = ("auto", "cpu", "cuda")
MODEL = "model.pt"
CARD = "card.json"
CHECKPOINT = "checkpoint.pt"
REPORT = "report.html"
CURVES = "curves.png"
INPUTS = "inputs"
SILENT_LEVEL = -13.0        # loudest 10 ms below this log mean power (a -70 dBFS sine; digital silence -15.9)
STILL_MOTION = 1.0 / 255    # largest mean change between frames below one grey level: still


class TrainError(AvdataError):
    """Training cannot go on (too few videos, a non-finite loss, a folder of another run)."""


@dataclass(frozen=True)
class TrainOptions:
    """Options of ``run_train`` (mirrors ``avdata train``)."""

    index: tuple[str | os.PathLike[str], ...]
    media: str | os.PathLike[str]
    out: str | os.PathLike[str]
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    dim: int = 128
    seed: int = 0
    device: str = "auto"
    workers: int | None = None
    val_fraction: float = 0.2
    features: str = "raw"
    audio_window: float = 2.0           # seconds of audio around a frame
    silent_level: float = SILENT_LEVEL
    still_motion: float = STILL_MOTION
    restart: bool = False               # train again from scratch although OUT holds a run
    executor: str = "local"             # runs the input preparation (as for embed)
    ray_address: str | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        if not self.index:
            raise OptionError("train needs at least one index file")
        checks = [(self.epochs >= 1, "epochs must be at least 1"),
                  (self.batch_size >= 2, "batch size must be at least 2 (a positive needs a negative)"),
                  (self.lr > 0, "lr must be positive"), (self.dim >= 2, "dim must be at least 2"),
                  (0 <= self.val_fraction < 1, "val fraction must be in [0, 1)"),
                  (self.features in FEATURES, f"features must be one of {', '.join(FEATURES)}"),
                  (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
                  (16 <= self.window_rows <= 500, "audio window must be 0.32 to 10 seconds")]
        for ok, message in checks:
            if not ok:
                raise OptionError(message)

    @property
    def window_rows(self) -> int:
        return int(round(self.audio_window * ROWS_PER_SECOND))

    def identity(self) -> dict[str, Any]:
        """What decides the weights (a checkpoint of other values is not continued)."""
        return {"batch_size": self.batch_size, "lr": self.lr, "dim": self.dim, "seed": self.seed,
                "val_fraction": self.val_fraction, "features": self.features, "audio_window": self.audio_window,
                "silent_level": self.silent_level, "still_motion": self.still_motion}


@dataclass
class EpochStats:
    """One finished epoch."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    val_auc: float | None
    val_threshold: float | None         # the score that best separates matched from mismatched pairs
    clips: int
    seconds: float
    data_wait: float                    # seconds the loop waited for batches

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    """What a run did and where its outputs are."""

    out: Path
    model: Path
    card: dict[str, Any] = field(default_factory=dict)
    history: list[EpochStats] = field(default_factory=list)
    already_done: bool = False
    resumed_from: int = 0
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        c = self.card
        if self.already_done:
            head = f"train: already trained ({c.get('epochs_run')} epochs) -> {self.model} (--restart trains again)"
        else:
            resumed = f", resumed after epoch {self.resumed_from}" if self.resumed_from else ""
            head = f"train: {c.get('epochs_run')} epochs{resumed} on {c['data']['train_clips']} clips of " \
                   f"{c['data']['train_videos']} videos -> {self.model}"
        v = c.get("final", {})
        val = (f"validation ({c['data']['val_videos']} videos): accuracy {v['val_accuracy']:.3f}, "
               f"AUC {v['val_auc']:.3f}, loss {v['val_loss']:.3f}" if v.get("val_auc") is not None
               else "validation: none (too few videos held out)")
        left = c["data"]["left_out"]
        return [head, f"final train loss {v.get('train_loss', float('nan')):.3f}; {val}",
                f"left out as positives: {left or 'none'}; model: {c['model']['parameters']:,} parameters, "
                f"dim {c['model']['dim']}", *self.warnings]
