"""issue 19: a killed training run, started again, ends with the same weights as one that never
stopped (bit-equal on the CPU); a finished run is not redone unless asked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from kill_loop import kill_after_progress
from train_corpus import Written


def _cmd(small: Written, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "avdata", "train", str(small.index), "--media", str(small.media), "-o", str(out),
            "--epochs", "8", "--batch-size", "8", "--workers", "1", "--seed", "5", *extra]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.jit.load(str(out / "model.pt")).state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _epoch(out: Path) -> int:
    ckpt = out / "checkpoint.pt"
    return int(torch.load(ckpt, weights_only=True)["epoch"]) if ckpt.is_file() else 0


@pytest.mark.slow
def test_kill_mid_training_then_rerun_gives_the_weights_of_an_uninterrupted_run(small: Written, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    r = subprocess.run(_cmd(small, whole), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    reference = _weights(whole)

    out = tmp_path / "killed"
    kills = []
    for attempt in range(6):
        killed = kill_after_progress(_cmd(small, out), lambda: _epoch(out), np.random.default_rng(attempt),
                                     window=(0.2, 1.5), settle=0.05)
        kills.append((killed, _epoch(out)))
        if not killed:
            break
        assert not (out / "model.pt").exists()          # no model until training has finished
        assert not (out / "card.json").exists()
    assert any(k and 0 < e < 8 for k, e in kills), kills   # at least one kill landed mid-training
    r = subprocess.run(_cmd(small, out), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resumed after epoch" in r.stdout or "already trained" in r.stdout or not kills[-1][0]
    assert _same(_weights(out), reference)
    card = json.loads((out / "card.json").read_text())
    assert card["epochs_run"] == 8 and [h["epoch"] for h in card["history"]] == list(range(1, 9))
    whole_card = json.loads((whole / "card.json").read_text())
    assert [h["train_loss"] for h in card["history"]] == [h["train_loss"] for h in whole_card["history"]]


@pytest.mark.slow
def test_a_finished_run_is_not_redone_more_epochs_continue_it_and_restart_trains_again(small: Written,
                                                                                      tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = subprocess.run(_cmd(small, out), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    stamp = (out / "model.pt").stat().st_mtime_ns
    again = subprocess.run(_cmd(small, out), capture_output=True, text=True)
    assert again.returncode == 0 and "already trained (8 epochs)" in again.stdout
    assert (out / "model.pt").stat().st_mtime_ns == stamp
    more = subprocess.run(_cmd(small, out)[:-6] + ["--epochs", "10", "--batch-size", "8", "--workers", "1",
                                                    "--seed", "5"], capture_output=True, text=True)
    assert more.returncode == 0 and "10 epochs, resumed after epoch 8" in more.stdout, more.stdout
    ten = _weights(out)
    restart = subprocess.run(_cmd(small, out)[:-6] + ["--epochs", "10", "--batch-size", "8", "--workers", "1",
                                                       "--seed", "5", "--restart"], capture_output=True, text=True)
    assert restart.returncode == 0 and "resumed" not in restart.stdout
    assert _same(_weights(out), ten)                  # 8 + 2 epochs == 10 epochs from scratch
    other = subprocess.run(_cmd(small, out)[:-2] + ["--seed", "6"], capture_output=True, text=True)
    assert other.returncode == 3 and "holds a run of other options" in other.stderr
    assert other.stderr.count("\n") == 1
