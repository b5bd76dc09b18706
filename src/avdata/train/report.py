"""``report.html`` of ``avdata train``: the card's figures and the loss / accuracy curves per epoch."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from avdata.atomic import write_text_atomic  # noqa: E402
from avdata.index.report import save_figure  # noqa: E402
from avdata.train.options import CURVES, REPORT, EpochStats  # noqa: E402


def plot_curves(out: Path, history: list[EpochStats]) -> Path:
    """Loss (train, validation) and validation accuracy / AUC per epoch."""
    epochs = [h.epoch for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(epochs, [h.train_loss for h in history], "o-", label="train")
    val = [(h.epoch, h.val_loss) for h in history if h.val_loss is not None]
    if val:
        left.plot(*zip(*val), "o-", label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("contrastive loss")
    left.set_title("loss")
    left.legend()
    for key, label in (("val_accuracy", "correspondence accuracy"), ("val_auc", "AUC")):
        points = [(h.epoch, getattr(h, key)) for h in history if getattr(h, key) is not None]
        if points:
            right.plot(*zip(*points), "o-", label=label)
    right.axhline(0.5, color="grey", linestyle=":", label="chance")
    right.set_ylim(0, 1.02)
    right.set_xlabel("epoch")
    right.set_title("held-out videos: matched vs mismatched pairs")
    right.legend(loc="lower right")
    plots: list[Path] = []
    save_figure(fig, out / CURVES, plots)
    return plots[0]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def write_report(out: Path, card: dict[str, Any], history: list[EpochStats]) -> Path:
    """Write ``report.html`` and ``curves.png`` in ``out``."""
    curves = plot_curves(out, history)
    esc = html.escape
    d, f, m = card["data"], card["final"], card["model"]
    rows = [("clips", d["clips"]), ("training", f"{d['train_clips']} clips of {d['train_videos']} videos"),
            ("validation", f"{d['val_clips']} clips of {d['val_videos']} held-out videos"),
            ("left out as positives", d["left_out"] or "none"), ("epochs", card["epochs_run"]),
            ("final train loss", f["train_loss"]), ("final validation loss", f["val_loss"]),
            ("validation correspondence accuracy", f["val_accuracy"]), ("validation AUC", f["val_auc"]),
            ("model", f"{m['parameters']:,} parameters, {m['dim']}-d joint space"), ("device", card["device"])]
    table = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(_fmt(v))}</td></tr>" for k, v in rows)
    files = "\n".join(f"<li>{esc(x['path'])} (sha256 {esc(x['sha256'][:16])}…, {x['lines']} lines)</li>"
                      for x in d["index"])
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>avdata train: {esc(str(out.name))}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;box-sizing:border-box}}
img{{max-width:100%;height:auto}}table{{border-collapse:collapse}}th,td{{text-align:left;padding:0.2em 0.8em;
border-bottom:1px solid #ddd;overflow-wrap:anywhere}}figcaption{{font-size:0.9em;color:#333}}</style></head>
<body><h1>avdata train: the audio-visual correspondence model</h1>
<table>{table}</table>
<h2>Trained on</h2><ul>{files}</ul>
<figure><img src="{esc(curves.name)}" alt="loss and validation accuracy per epoch">
<figcaption>Left: contrastive loss per epoch. Right: on held-out videos, how often a clip's audio scores
higher with its own frame than with another video's frame (accuracy), and the AUC over all matched and
mismatched pairs; 0.5 is chance. Scores are comparable only within one model.</figcaption></figure>
</body></html>
"""
    write_text_atomic(out / REPORT, page)
    return out / REPORT
