"""``avdata train``: prepare the inputs, train the model, write ``model.pt``, ``card.json``, the report.

Output folder:
- ``inputs/NN-STEM/``: each index file's prepared inputs, written by the embed stage (chunks,
  ``embed_manifest.parquet``, resume) with ``avdata.train.inputs``; float16 rows.
- ``checkpoint.pt``: weights, optimiser state and history after the last finished epoch (atomic).
- ``model.pt``: the TorchScript model (the ``torchscript`` / ``avc`` embedder contract), written
  only when training has finished; ``card.json``: what it was trained on and how well it does;
  ``report.html`` (+ ``curves.png``): loss and accuracy per epoch.

A killed run started again continues after the last finished epoch and ends with the same weights
as an uninterrupted one. A finished run is not redone (more ``--epochs`` continue it; ``--restart``
trains again from scratch). A folder holding a run of other data or options is refused.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avdata import __version__
from avdata.arrays import load_npy
from avdata.atomic import atomic_path, sweep_temp_files, write_text_atomic
from avdata.embed.base import file_sha256
from avdata.embed.run import EMBED_MANIFEST_SCHEMA, EMBEDDINGS, MANIFEST, EmbedOptions, run_embed
from avdata.embed.vipant import import_torch
from avdata.errors import InputFormatError
from avdata.index.lines import field_seconds, iter_records
from avdata.manifest import STATUS_OK, latest, read_manifest
from avdata.pathcheck import DIR, FILE, Output, check_outputs
from avdata.train.inputs import DIM, INPUTS_FACTORY, InputsEmbedder, header
from avdata.train.loop import TrainData, run_epochs
from avdata.train.model import MODEL_KIND, MODEL_VERSION, build_model, export_model, parameter_count, save_model
from avdata.train.options import (
    CARD,
    CHECKPOINT,
    CURVES,
    INPUTS,
    MODEL,
    REPORT,
    EpochStats,
    TrainError,
    TrainOptions,
    TrainResult,
)
from avdata.train.pairs import Exclusions, TrainClip, audio_end, frame_time, split_videos


def pick_device(torch: Any, asked: str) -> Any:
    """``cpu``, ``cuda`` (a TrainError when torch sees no GPU), or ``auto`` (the GPU when there is one)."""
    has_cuda = bool(torch.cuda.is_available())
    if asked == "cuda" and not has_cuda:
        raise TrainError("--device cuda: torch sees no CUDA device here (use --device cpu or auto)")
    return torch.device("cuda" if asked == "cuda" or (asked == "auto" and has_cuda) else "cpu")


def data_fingerprint(opts: TrainOptions) -> dict[str, Any]:
    """The index files (path, sha256, lines) and the inputs' recipe: what the weights were made of."""
    files = []
    for p in opts.index:
        digest, lines, last = hashlib.sha256(), 0, b"\n"
        with open(p, "rb") as fh:           # a block at a time: an index of millions of lines is not held
            while block := fh.read(1 << 20):
                digest.update(block)
                lines += block.count(b"\n")
                last = block[-1:]
        files.append({"path": str(Path(p).resolve()), "sha256": digest.hexdigest(),
                      "lines": lines + (0 if last == b"\n" else 1)})   # numbered as the index readers number them
    return {"index": files, "media": str(Path(opts.media).resolve()),
            "inputs": InputsEmbedder(opts.features).fingerprint()}


def prepare_inputs(opts: TrainOptions, out: Path) -> list[Path]:
    """Each index file's inputs folder, made (or finished) by the embed stage."""
    folders = []
    for k, index in enumerate(opts.index):
        folder = out / INPUTS / f"{k:02d}-{Path(index).stem}"
        run_embed(EmbedOptions(index=index, media=opts.media, out=folder, embedder="avc-inputs",
                               factory=INPUTS_FACTORY, params=(("features", opts.features),), dtype="float16",
                               executor=opts.executor, workers=opts.workers, ray_address=opts.ray_address,
                               chunk_rows=64, progress=opts.progress))
        folders.append(folder)
    return folders


@dataclass
class Collected:
    """The prepared inputs, the usable clips, why the others are left out, and each failed line."""

    matrices: list[np.ndarray] = field(default_factory=list)
    clips: list[TrainClip] = field(default_factory=list)
    left: Exclusions = field(default_factory=Exclusions)
    failures: list[str] = field(default_factory=list)      # "FILE:LINE: ID: CODE: reason (not used)"


def collect_clips(opts: TrainOptions, folders: list[Path]) -> Collected:
    """The usable clips of every index file, and why the others are left out."""
    got = Collected()
    for k, (index, folder) in enumerate(zip(opts.index, folders)):
        matrix = load_npy(folder / EMBEDDINGS, mmap_mode="r")
        if matrix.shape[1] != DIM:
            raise TrainError(f"{folder / EMBEDDINGS}: rows of {matrix.shape[1]} values, expected {DIM}")
        got.matrices.append(matrix)
        manifest = latest(read_manifest(folder / MANIFEST, EMBED_MANIFEST_SCHEMA), ["line"]).to_pylist()
        failed = {int(r["line"]): r for r in manifest if r["status"] != STATUS_OK}
        for lineno, rec, _err in iter_records(index):
            row = lineno - 1
            if rec is None or row in failed:
                r = failed.get(row) or {"id": "", "code": "bad_line", "message": str(_err)}
                got.failures.append(f"{index}:{lineno}: {r['id'] or '-'}: {r['code']}: {r['message']} (not used)")
                got.left.counts["failed"] += 1
                continue
            reason, clip = _clip(opts, k, row, rec, matrix, index)
            if clip is None:
                got.left.counts[reason] += 1
            else:
                got.clips.append(clip)
    return got


def _clip(opts: TrainOptions, source: int, row: int, rec: dict, matrix: np.ndarray, index: Any
          ) -> tuple[str, TrainClip | None]:
    h = header(matrix[row])
    if h.level < opts.silent_level:
        return "silent", None
    if h.frames > 1 and h.motion < opts.still_motion:
        return "still", None
    if h.audio_rows < opts.window_rows:
        return "short_audio", None
    try:
        seconds = field_seconds(rec, "eos", index, row + 1) - field_seconds(rec, "bos", index, row + 1)
    except InputFormatError:
        seconds = 10.0                  # VIP-ANT's clip length when a line does not say
    count = len(rec.get("frame") or [])
    slots, times = [], []
    for slot, k in enumerate(h.frame_index):
        t = frame_time(k, count, seconds)
        if t <= audio_end(h.audio_rows):
            slots.append(slot)
            times.append(t)
    if not slots:
        return "no_frame_inside_audio", None
    return "", TrainClip(source, row, str(rec.get("id") or f"{index}:{row + 1}"), h.audio_rows,
                         tuple(slots), tuple(times))


def planned_outputs(opts: TrainOptions) -> list[Output]:
    """Every file and folder ``run_train`` writes into ``opts.out``."""
    out = Path(opts.out)
    files = [out / name for name in (MODEL, CARD, CHECKPOINT, REPORT, CURVES)]
    folders = [out / INPUTS / f"{k:02d}-{Path(index).stem}" for k, index in enumerate(opts.index)]
    return ([Output(out, DIR, "--out")] + [Output(f, FILE, "--out") for f in files]
            + [Output(f, DIR, "--out") for f in folders])


def run_train(opts: TrainOptions) -> TrainResult:
    """Train (or continue, or report as done) the model of ``opts`` (see the module docstring)."""
    check_outputs(planned_outputs(opts), [*opts.index, opts.media])
    torch = import_torch()
    device = pick_device(torch, opts.device)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(out)
    fingerprint = data_fingerprint(opts)
    # what decides the weights: the index files' bytes and the inputs' recipe, not where they are
    # (a copied or moved folder resumes)
    identity = {"options": opts.identity(),
                "data": {"index": [{k: f[k] for k in ("sha256", "lines")} for f in fingerprint["index"]],
                         "inputs": fingerprint["inputs"]}}
    ckpt_path, card_path, model_path = out / CHECKPOINT, out / CARD, out / MODEL
    result = TrainResult(out, model_path)
    checkpoint = None if opts.restart else _read_checkpoint(torch, ckpt_path, identity)
    done = checkpoint["epoch"] if checkpoint else 0
    if checkpoint and done >= opts.epochs and card_path.is_file() and model_path.is_file():
        card = json.loads(card_path.read_text())
        if card.get("model", {}).get("sha256") == file_sha256(model_path):
            result.card, result.already_done = card, True
            result.history = [EpochStats(**h) for h in checkpoint["history"]]
            return result

    got = collect_clips(opts, prepare_inputs(opts, out))
    result.warnings += got.failures
    matrices, clips, left, failures = got.matrices, got.clips, got.left, got.failures
    videos = sorted({c.video for c in clips})
    if len(videos) < 2:
        first = f"; first: {failures[0].removesuffix(' (not used)')}" if failures else ""
        raise TrainError(f"training needs usable clips of at least two videos; the index has "
                         f"{len(videos)} ({len(clips)} usable clips; left out: {left.text()}{first})")
    held = split_videos(videos, opts.val_fraction, opts.seed)
    data = TrainData(matrices, [c for c in clips if c.video not in held], [c for c in clips if c.video in held],
                     opts.window_rows)
    if opts.val_fraction > 0 and not held:
        result.warnings.append(f"train: no validation: {len(videos)} videos are too few to hold some out (4 needed)")

    torch.manual_seed(opts.seed)
    model = build_model(opts.dim).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    history: list[EpochStats] = []
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        history = [EpochStats(**h) for h in checkpoint["history"]]
        result.resumed_from = done

    def save(epoch: int) -> None:
        state = {"identity": identity, "epoch": epoch, "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "history": [h.as_dict() for h in history]}
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, str(tmp))

    t0 = time.time()
    run_epochs(model, optimizer, data, epochs=opts.epochs, start=done, batch_size=opts.batch_size,
               seed=opts.seed, device=device, history=history, on_epoch=save, show_progress=opts.progress)
    card = make_card(opts, {**identity, "data": fingerprint}, model, history, data, left, str(device),
                     time.time() - t0)
    scripted = export_model(model.to("cpu"))
    with atomic_path(model_path) as tmp:
        save_model(scripted, str(tmp), {"kind": MODEL_KIND, "version": MODEL_VERSION, "dim": opts.dim})
    card["model"]["sha256"] = file_sha256(model_path)
    from avdata.train.report import write_report

    write_report(out, card, history)
    write_text_atomic(card_path, json.dumps(card, indent=1) + "\n")     # last: the card says "finished"
    result.card, result.history = card, history
    return result


def _read_checkpoint(torch: Any, path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  one line for any unreadable checkpoint
        raise TrainError(f"{path}: not a checkpoint of avdata train ({type(e).__name__}); use a new output "
                         "folder or --restart") from e
    if not isinstance(ckpt, dict) or "identity" not in ckpt:
        raise TrainError(f"{path}: not a checkpoint of avdata train; use a new output folder or --restart")
    if ckpt["identity"] != identity:
        changed = [k for k in ("options", "data") if ckpt["identity"].get(k) != identity[k]]
        raise TrainError(f"{path.parent}: holds a run of other {' and '.join(changed)}; use a new output folder "
                         "or --restart")
    return ckpt


def make_card(opts: TrainOptions, identity: dict[str, Any], model: Any, history: list[EpochStats],
              data: TrainData, left: Exclusions, device: str, seconds: float) -> dict[str, Any]:
    """``card.json``: data fingerprint, options, epochs, final losses and validation figures."""
    last = history[-1]
    torch = import_torch()
    return {
        "avdata": __version__, "torch": torch.__version__, "device": device,
        "data": {**identity["data"], "clips": len(data.train) + len(data.val) + left.total(),
                 "train_clips": len(data.train), "train_videos": len({c.video for c in data.train}),
                 "val_clips": len(data.val), "val_videos": len({c.video for c in data.val}),
                 "left_out": dict(sorted(left.counts.items()))},
        "options": {**identity["options"], "epochs": opts.epochs, "device": opts.device},
        "model": {"kind": MODEL_KIND, "version": MODEL_VERSION, "dim": opts.dim,
                  "parameters": parameter_count(model), "file": MODEL},
        "epochs_run": last.epoch,
        "final": {"train_loss": last.train_loss, "val_loss": last.val_loss, "val_accuracy": last.val_accuracy,
                  "val_auc": last.val_auc, "suggested_min_score": last.val_threshold},
        "seconds_this_run": round(seconds, 3),
        "history": [h.as_dict() for h in history],
    }
