from hypothesis import given, strategies as st

from avdata.fetch.sections import hull, merge_spans, plan_sections, section_for


def test_section_covers_gold_and_negative_room() -> None:
    assert section_for(30.0, 40.0) == (17.0, 53.0)
    assert section_for(5.0, 15.0) == (0.0, 28.0)          # never before the video start
    assert section_for(30.0, 40.0, before=3.0, after=0.0) == (27.0, 40.0)


def test_overlapping_sections_of_one_video_merge() -> None:
    assert plan_sections([(30, 40), (45, 55), (200, 210)]) == [(17.0, 68.0), (187.0, 223.0)]
    assert hull(plan_sections([(30, 40), (200, 210)])) == (17.0, 223.0)


@given(st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 100)).map(lambda t: (t[0], t[0] + t[1])),
                min_size=1, max_size=20))
def test_merged_spans_are_disjoint_and_cover_every_input(spans: list[tuple[float, float]]) -> None:
    merged = merge_spans(spans)
    assert all(a[1] < b[0] for a, b in zip(merged, merged[1:]))
    for s, e in spans:
        assert any(ms <= s and e <= me for ms, me in merged)
