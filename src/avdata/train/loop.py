"""The epochs: batches from the prepared inputs (a background thread), the contrastive step,
validation on held-out videos, and a checkpoint after every epoch.

Every random choice of epoch ``e`` comes from ``numpy.random.default_rng([seed, e])`` and the
weights start from ``torch.manual_seed(seed)``, so a run resumed from the checkpoint of epoch
``e`` ends with the same weights as one that never stopped (bit-equal on the CPU).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from avdata.progress import progress
from avdata.train.inputs import IMAGE, MEL, audio_of, frame_of
from avdata.train.options import EpochStats, TrainError
from avdata.train.pairs import Positive, TrainClip, batches, draw_positive, negatives

VAL_SEED = 1_000_003
PREFETCH = 4


@dataclass
class TrainData:
    """The prepared inputs (one row matrix per index file) and the clips of each side."""

    matrices: list[np.ndarray]
    train: list[TrainClip]
    val: list[TrainClip]
    window: int


def batch_arrays(data: TrainData, clips: Sequence[TrainClip], drawn: Sequence[Positive]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Audio (B, 1, window, 64) and frames (B, 3, 56, 56) of drawn positives: row k of both is one
    clip, so each audio is the positive of its own frame and a negative of every other."""
    audio = np.empty((len(drawn), 1, data.window, MEL), np.float32)
    image = np.empty((len(drawn), 3, IMAGE, IMAGE), np.float32)
    for k, p in enumerate(drawn):
        c = clips[p.clip]
        audio[k, 0] = audio_of(data.matrices[c.source], c.row, p.start, data.window)
        image[k] = frame_of(data.matrices[c.source], c.row, p.slot)
    return audio, image


def epoch_batches(data: TrainData, clips: Sequence[TrainClip], batch_size: int, rng: np.random.Generator
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for batch in batches(clips, batch_size, rng):
        drawn = [draw_positive(i, clips[i], data.window, rng) for i in batch]
        yield batch_arrays(data, clips, drawn)


class Prefetch:
    """Runs a batch generator in a thread; ``wait`` is the time the consumer spent blocked."""

    _END = object()

    def __init__(self, source: Iterator[Any], depth: int = PREFETCH) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(depth)
        self.wait = 0.0
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._fill, args=(source,), daemon=True)
        self.thread.start()

    def _fill(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                while not self.stop.is_set():
                    try:
                        self.queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self.stop.is_set():
                    return
        except BaseException as e:  # noqa: BLE001  re-raised in the consumer
            self.error = e
        self.queue.put(self._END)

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                t0 = time.perf_counter()
                item = self.queue.get()
                self.wait += time.perf_counter() - t0
                if item is self._END:
                    if self.error is not None:
                        raise self.error
                    return
                yield item
        finally:
            self.stop.set()


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a matched pair scores above a mismatched one (ties count half)."""
    neg_sorted = np.sort(neg)
    below = np.searchsorted(neg_sorted, pos, side="left")
    equal = np.searchsorted(neg_sorted, pos, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(pos) * len(neg)))


def best_threshold(pos: np.ndarray, neg: np.ndarray) -> float:
    """The score that best separates matched (``>=``) from mismatched pairs (balanced accuracy;
    halfway between the best cut's score and the next lower one)."""
    values = np.unique(np.concatenate([pos, neg]))
    hit = 1 - np.searchsorted(np.sort(pos), values, side="left") / len(pos)
    reject = np.searchsorted(np.sort(neg), values, side="left") / len(neg)
    k = int(np.argmax(hit + reject))
    below = values[k - 1] if k else values[k] - 1e-3
    return float((values[k] + below) / 2)


@dataclass
class Validation:
    """Figures on held-out videos (None when there are too few)."""

    loss: float | None = None
    accuracy: float | None = None       # share of clips whose own frame scores above the other video's
    auc: float | None = None
    threshold: float | None = None      # the score that best separates matched from mismatched pairs


def validate(model: Any, data: TrainData, batch_size: int, seed: int, device: Any) -> Validation:
    """Loss, correspondence accuracy, AUC and threshold on held-out videos: each clip's audio window
    (around its middle usable frame) against its own frame and against a frame of another video."""
    torch = _torch()
    clips = data.val
    other = negatives(clips)
    pairs = [(i, j) for i, j in enumerate(other) if j >= 0]
    if len(pairs) < 2:
        return Validation()
    model.eval()
    drawn = [draw_positive(i, c, data.window, None) for i, c in enumerate(clips)]
    losses, weights = [], []
    with torch.no_grad():
        a_vecs, i_vecs = [], []
        for s in range(0, len(drawn), batch_size):
            audio, image = batch_arrays(data, clips, drawn[s:s + batch_size])
            a, i = model(torch.from_numpy(audio).to(device), torch.from_numpy(image).to(device))
            a_vecs.append(a.cpu())
            i_vecs.append(i.cpu())
        A, I = torch.cat(a_vecs), torch.cat(i_vecs)
        for batch in batches(clips, batch_size, np.random.default_rng([seed, VAL_SEED])):
            idx = torch.tensor(batch)
            losses.append(float(model.loss(A[idx], I[idx])))
            weights.append(len(batch))
        pos = np.array([float(A[i] @ I[i]) for i, _ in pairs])
        neg = np.array([float(A[i] @ I[j]) for i, j in pairs])
    model.train()
    loss = float(np.average(losses, weights=weights)) if losses else None
    accuracy = float((pos > neg).mean() + 0.5 * (pos == neg).mean())     # ties count half, as in the AUC
    return Validation(loss, accuracy, auc(pos, neg), best_threshold(pos, neg))


def run_epochs(model: Any, optimizer: Any, data: TrainData, *, epochs: int, start: int, batch_size: int,
               seed: int, device: Any, history: list[EpochStats], on_epoch: Callable[[int], None],
               show_progress: bool | None = None) -> None:
    """Train epochs ``start + 1 .. epochs``; ``on_epoch(e)`` saves the checkpoint after each."""
    torch = _torch()
    model.train()
    for epoch in range(start + 1, epochs + 1):
        rng = np.random.default_rng([seed, epoch])
        t0 = time.perf_counter()
        feed = Prefetch(epoch_batches(data, data.train, batch_size, rng))
        total, seen = 0.0, 0
        bar = progress(len(data.train), f"train {epoch}/{epochs}", "clip", enabled=show_progress)
        try:
            for audio, image in feed:
                a, i = model(torch.from_numpy(audio).to(device), torch.from_numpy(image).to(device))
                loss = model.loss(a, i)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainError(f"epoch {epoch}: the loss is not finite ({value}); the last good weights are "
                                     "in the checkpoint (try a smaller --lr)")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                try:
                    optimizer.step()
                except RuntimeError as e:       # e.g. an lr so large that a step overflows
                    raise TrainError(f"epoch {epoch}: the optimiser step failed ({' '.join(str(e).split())[:160]}); "
                                     "the last good weights are in the checkpoint (try a smaller --lr)") from e
                total += value * len(audio)
                seen += len(audio)
                bar.update(len(audio))
                bar.set_postfix(loss=f"{total / seen:.3f}")
        finally:
            bar.close()
        if seen == 0:
            raise TrainError("no training batch: need clips of at least two videos on the training side")
        v = validate(model, data, batch_size, seed, device)
        history.append(EpochStats(epoch, total / seen, v.loss, v.accuracy, v.auc, v.threshold, seen,
                                  time.perf_counter() - t0, feed.wait))
        on_epoch(epoch)


def _torch() -> Any:
    from avdata.embed.vipant import import_torch

    return import_torch()
