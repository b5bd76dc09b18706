"""The kill-and-rerun helper shared by every stage that promises "a kill loses only the items in
flight" (fetch, extract, shards, render): start a command, SIGKILL it (with its process group) at a
random early moment, but only once one more item's output is on disk (the files tell, never the
manifest: a manifest that lags its files fails the tests), then let the test check and rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

import numpy as np

Progress = Callable[[], int]


def kill_after_progress(cmd: Sequence[str], progress: Progress, rng: np.random.Generator | None = None, *,
                        window: tuple[float, float] = (0.3, 3.0), settle: float = 0.3, limit: float = 120.0,
                        group: bool = True) -> bool:
    """Run ``cmd``; SIGKILL it at a random moment in ``window`` seconds, but not before ``progress()``
    grew and ``settle`` seconds passed after that (so a kill can make progress). Returns whether the
    process was killed (False: it ended by itself first)."""
    before = progress()
    proc = subprocess.Popen(list(cmd), start_new_session=group, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    at = float(rng.uniform(*window)) if rng is not None else window[0]
    grew_at = None
    try:
        while proc.poll() is None and time.monotonic() - t0 < limit:
            now = time.monotonic()
            if grew_at is None and progress() > before:
                grew_at = now
            if grew_at is not None and now - t0 >= at and now - grew_at >= settle:
                break
            time.sleep(0.02)
    finally:
        killed = proc.poll() is None
        if killed:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return killed


def kill_repeatedly(cmd: Sequence[str], progress: Progress, done: Callable[[], int], total: int,
                    check: Callable[[], None] = lambda: None, *, times: int = 10, seed: int = 0,
                    group: bool = True) -> list[int]:
    """Kill ``cmd`` early up to ``times`` times in a row (``kill_after_progress``), calling ``check()``
    after each kill and recording ``done()`` (the items the stage recorded); stops once ``total`` are
    done. Returns the counts, starting with 0: each must be larger than the one before."""
    rng = np.random.default_rng(seed)
    counts = [0]
    for _ in range(times):
        kill_after_progress(cmd, progress, rng, group=group)
        check()
        counts.append(done())
        if counts[-1] >= total:
            break
    return counts
