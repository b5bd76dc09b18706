"""The demo's model steps: train the correspondence model on the demo's clips, then score the
rendered AudioScope clips with it (and keep those at or above the threshold the training found on
held-out videos) and balance with its embeddings. Skipped, with one line, without torch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa

from avdata.table import write_clips

DEMO_EPOCHS = 3


def model_example(index: Path, media: Path, out: Path, scope: pa.Table, workers: int | None
                  ) -> list[tuple[str, list[str]]]:
    """``[(stage, lines)]`` for train, score and balance (avc)."""
    if importlib.util.find_spec("torch") is None:
        return [("train", ["train: skipped (needs torch: pip install 'avdata[torch]'); so are score and "
                           "balance with the avc model"])]
    from avdata.audioscope.score import ScoreOptions, score_clips
    from avdata.demo import balance_example
    from avdata.train.options import TrainOptions
    from avdata.train.run import run_train

    res = run_train(TrainOptions(index=(index,), media=media, out=out / "train", epochs=DEMO_EPOCHS, batch_size=16,
                                 workers=workers, progress=False))
    steps = [("train", res.lines() + [f"report: {out / 'train' / 'report.html'}"])]
    model = str(res.model)
    threshold = res.card["final"].get("suggested_min_score")
    min_score = round(float(threshold), 3) if threshold is not None else 0.0
    clips = out / "score" / "clips.parquet"
    write_clips(scope, clips)
    scored = score_clips(ScoreOptions(clips=str(clips), media=str(out / "render"), embedder="avc", weights=(model,),
                                      min_score=min_score, show_progress=False))
    steps.append(("score", [*scored.lines(), f"--min-score {min_score:g} (the threshold train found on held-out "
                                             "videos; scores compare only within one model)"]))
    steps.append(("balance", [f"with avc: {line}" for line in
                              balance_example(index.parent, media, out, workers, "avc", (model,))]))
    return steps
