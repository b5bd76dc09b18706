"""Clip planning: the gold clip clamped to the video, negatives beside it by the reference rule."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avdata.errors import AvdataError, UnsafePathError
from avdata.extract.job import frame_timestamps
from avdata.extract.plan import PlanOptions, chunk_dir, plan_clips


def spans(clips):
    return [(c.name, round(c.start, 6), round(c.end, 6)) for c in clips]


def test_gold_in_the_middle_gets_one_negative_each_side():
    assert spans(plan_clips(30, 40, 100)) == [("p0", 30, 40), ("n0", 17, 27), ("n1", 43, 53)]


def test_segment_at_zero_has_negatives_on_the_right_only():
    # no room on the left: the right side goes on, successive negatives margin apart
    assert spans(plan_clips(0, 10, 100)) == [("p0", 0, 10), ("n0", 13, 23), ("n1", 26, 36)]


def test_segment_at_the_very_end_has_negatives_on_the_left_only():
    assert spans(plan_clips(90, 100, 100)) == [("p0", 90, 100), ("n0", 77, 87), ("n1", 64, 74)]


def test_video_shorter_than_segment_clamps_gold_and_leaves_no_room():
    assert spans(plan_clips(0, 10, 6.5)) == [("p0", 0, 6.5)]
    assert spans(plan_clips(-2, 4, 30)) == [("p0", 0, 4), ("n0", 7, 17), ("n1", 20, 30)]


def test_segment_outside_video_plans_nothing():
    assert plan_clips(12, 22, 10) == []
    assert plan_clips(10, 20, 10) == []


def test_room_on_one_side_only_and_shortened_negatives():
    # left room 12 - 3 = 9 s (>= 5): a 9 s negative; right room 28 - 25 = 3 s: none
    assert spans(plan_clips(12, 22, 28)) == [("p0", 12, 22), ("n0", 0, 9)]
    # just under min_length of room on the left: skipped
    assert spans(plan_clips(7.9, 17.9, 20.9)) == [("p0", 7.9, 17.9)]
    # exactly min_length of room counts
    assert spans(plan_clips(8, 18, 21)) == [("p0", 8, 18), ("n0", 0, 5)]


def test_all_four_numbers_are_options():
    opts = PlanOptions(margin=1, max_length=4, min_length=2, max_negatives=5)
    assert spans(plan_clips(10, 12, 20, opts)) == [
        ("p0", 10, 12), ("n0", 5, 9), ("n1", 13, 17), ("n2", 0, 4), ("n3", 18, 20)]
    assert spans(plan_clips(30, 40, 100, PlanOptions(max_negatives=0))) == [("p0", 30, 40)]
    with pytest.raises(AvdataError):
        PlanOptions(min_length=6, max_length=5)


@given(st.floats(-5, 200), st.floats(0.1, 30), st.floats(1, 200), st.integers(0, 6))
def test_clips_stay_inside_and_never_overlap(start, length, duration, n):
    opts = PlanOptions(max_negatives=n)
    clips = plan_clips(start, start + length, duration, opts)
    for c in clips:
        assert 0 <= c.start < c.end <= duration + 1e-9
    for c in clips[1:]:
        assert opts.min_length - 1e-6 <= c.length <= opts.max_length + 1e-6
    ordered = sorted(clips, key=lambda c: c.start)
    for a, b in zip(ordered, ordered[1:]):
        assert b.start - a.end >= opts.margin - 1e-6
    assert len(clips) <= 1 + n


def test_chunk_dirs_and_frame_times():
    assert chunk_dir(0) == "all_0_35000"
    assert chunk_dir(34_999) == "all_0_35000"
    assert chunk_dir(35_000) == "all_35000_70000"
    assert chunk_dir(7, "bal", 5) == "bal_5_10"
    with pytest.raises(UnsafePathError):
        chunk_dir(0, "../x")
    assert frame_timestamps(2, 8, 4) == [2, 4, 6, 8]
    assert frame_timestamps(2, 8, 1) == [2]
