"""The guards of avdata train's pair drawing (issue 19): positives overlap in time, negatives come
from other videos, validation holds whole videos out."""

from __future__ import annotations

import numpy as np
import pytest

from avdata.train.inputs import ROWS_PER_SECOND
from avdata.train.pairs import (
    TrainClip,
    audio_end,
    batches,
    draw_positive,
    frame_time,
    negatives,
    split_videos,
    window_range,
    window_span,
)


def _clips(rng: np.random.Generator, n: int, videos: int) -> list[TrainClip]:
    out = []
    for k in range(n):
        rows = int(rng.integers(100, 501))
        count = int(rng.integers(1, 5))
        seconds = float(rng.choice([5.0, 10.0]))
        times = [frame_time(j, count, seconds) for j in range(count)]
        usable = [(j, t) for j, t in enumerate(times) if t <= audio_end(rows)]
        if not usable:
            continue
        out.append(TrainClip(0, k, f"v{int(rng.integers(videos))}", rows, tuple(j for j, _ in usable),
                             tuple(t for _, t in usable)))
    return out


@pytest.mark.parametrize("window", [16, 100, 250])
def test_every_positive_frame_lies_inside_its_audio_window_and_the_window_inside_the_real_audio(window: int) -> None:
    rng = np.random.default_rng(window)
    clips = [c for c in _clips(rng, 400, 50) if c.audio_rows >= window]
    assert len(clips) > 100
    drawn = 0
    for i, c in enumerate(clips):
        for r in (rng, None):
            p = draw_positive(i, c, window, r)
            t = c.times[c.slots.index(p.slot)]
            lo, hi = window_span(p.start, window)
            assert lo <= t <= hi, (c, p, t, lo, hi)
            assert 0 <= p.start and p.start + window <= c.audio_rows
            drawn += 1
    assert drawn == 2 * len(clips)


def test_a_frame_after_the_real_audio_has_no_window() -> None:
    rows = 200                                  # 4 s of audio (plus one fbank window)
    assert audio_end(rows) == pytest.approx(4.015)
    lo, hi = window_range(4.5, rows, 100)
    assert lo > hi
    lo, hi = window_range(4.0, rows, 100)
    assert lo <= hi and window_span(hi, 100)[1] >= 4.0
    assert frame_time(3, 4, 10.0) == 10.0 and frame_time(0, 1, 10.0) == 0.0
    assert ROWS_PER_SECOND == 50


def test_a_batch_never_holds_two_clips_of_one_video_and_every_clip_is_drawn() -> None:
    rng = np.random.default_rng(3)
    clips = _clips(rng, 300, 40)                # about 7 clips per video: many would collide
    for epoch in range(5):
        seen = []
        for batch in batches(clips, 16, np.random.default_rng([0, epoch])):
            videos = [clips[i].video for i in batch]
            assert len(set(videos)) == len(videos)
            assert 2 <= len(batch) <= 16
            seen += batch
        assert len(seen) == len(set(seen))
        assert len(seen) >= len(clips) - 7      # at most the tail of one video waits for a partner


def test_one_video_makes_no_batch_and_validation_negatives_are_other_videos() -> None:
    same = [TrainClip(0, k, "v", 200, (0,), (0.0,)) for k in range(5)]
    assert list(batches(same, 4, np.random.default_rng(0))) == []
    rng = np.random.default_rng(5)
    clips = _clips(rng, 60, 6)
    for i, j in enumerate(negatives(clips)):
        assert j >= 0 and clips[j].video != clips[i].video
    assert negatives(same) == [-1] * 5


def test_held_out_videos_take_all_their_clips() -> None:
    videos = [f"v{k % 30}" for k in range(120)]
    held = split_videos(videos, 0.2, seed=1)
    assert len(held) == 6 and held <= set(videos)
    assert split_videos(videos, 0.2, seed=1) == held            # the seed decides
    assert split_videos(videos, 0.2, seed=2) != held
    assert split_videos(videos[:3], 0.5, seed=0) == set()       # too few videos to hold any out
    assert len(split_videos(["a", "b", "c", "d"], 0.9, seed=0)) == 2   # two always stay to train
