"""Stitching chunk results: offsets into the file's timeline, each word once at every seam."""

from __future__ import annotations

import pytest

from harken.audio.merge import ChunkResult, Stitcher, resolve_seam, stitch, to_timeline
from harken.audio.segment import Chunk
from harken.types import Segment, Word


def seg(*words: tuple[str, float, float], id: int = 0) -> Segment:
    ws = tuple(Word(start_s=a, end_s=b, text=f" {t}") for t, a, b in words)
    return Segment(id=id, start_s=ws[0].start_s, end_s=ws[-1].end_s,
                   text="".join(w.text for w in ws), words=ws)  # fmt: skip


def texts(segments: list[Segment]) -> list[str]:
    return [w.text.strip() for s in segments for w in s.words]


def test_results_are_shifted_into_the_file_timeline_and_renumbered() -> None:
    results = [
        ChunkResult(Chunk(10.0, 20.0), (seg(("ask", 0.5, 0.9), ("not", 1.0, 1.3)),)),
        ChunkResult(Chunk(25.0, 40.0), (seg(("what", 0.2, 0.4)), seg(("your", 2.0, 2.2)))),
    ]
    out = stitch(results)
    assert [s.id for s in out] == [0, 1, 2]
    assert [(s.start_s, s.end_s) for s in out] == [(10.5, 11.3), (25.2, 25.4), (27.0, 27.2)]
    assert [(w.start_s, w.end_s) for w in out[0].words] == [(10.5, 10.9), (11.0, 11.3)]
    assert texts(out) == ["ask", "not", "what", "your"]


def test_times_are_clamped_to_the_chunk_and_rounded_to_the_millisecond() -> None:
    result = ChunkResult(Chunk(0.1, 3.0), (seg(("late", 2.5, 3.4), ("x", -0.2, 0.0000004)),))
    (s,) = to_timeline(result)
    assert [(w.start_s, w.end_s) for w in s.words] == [(2.6, 3.0), (0.1, 0.1)]


def test_abutting_chunks_keep_every_word_even_the_same_word_twice() -> None:
    # Chunks meeting in silence never overlap: a repeated word is speech, not a duplicate.
    results = [
        ChunkResult(Chunk(0.0, 5.0), (seg(("no", 4.0, 4.5)),)),
        ChunkResult(Chunk(5.0, 9.0), (seg(("no", 0.3, 0.8)),)),
    ]
    assert texts(stitch(results)) == ["no", "no"]


def test_overlap_keeps_each_word_on_its_side_of_the_seam() -> None:
    # Chunks (0, 12) and (10, 22) overlap by 2 s: the seam is 11.0.
    a = [seg(("one", 8.0, 8.5), ("two", 9.0, 9.5), ("three", 10.2, 10.7), ("four", 11.2, 11.8))]
    b = [seg(("three", 10.25, 10.75), ("four", 11.2, 11.7), ("five", 12.5, 13.0))]
    before, after = resolve_seam(a, b, 11.0)
    assert texts(before) == ["one", "two", "three"]
    assert texts(after) == ["four", "five"]
    assert after[0].start_s == 11.2 and after[0].text == " four five"


def test_a_word_across_the_seam_is_kept_once_when_timestamps_disagree() -> None:
    # "seam" straddles 11.0; chunk a puts its midpoint after, b before: neither would keep it.
    a = [seg(("the", 10.0, 10.4), ("seam", 10.8, 11.4))]
    b = [seg(("seam", 10.6, 11.3), ("word", 11.5, 12.0))]
    before, after = resolve_seam(a, b, 11.0)
    assert texts(before) + texts(after) == ["the", "seam", "word"]


def test_a_word_both_sides_place_on_their_own_side_is_not_duplicated() -> None:
    # a: midpoint 10.95 (before), b: midpoint 11.05 (after): both would keep "seam".
    a = [seg(("the", 10.0, 10.4), ("seam", 10.7, 11.2))]
    b = [seg(("Seam,", 10.8, 11.3), ("word", 11.5, 12.0))]
    before, after = resolve_seam(a, b, 11.0)
    assert texts(before) + texts(after) == ["the", "seam", "word"]


def test_different_words_at_overlapping_times_are_both_kept() -> None:
    a = [seg(("red", 10.6, 10.99))]
    b = [seg(("fox", 10.98, 11.4))]
    before, after = resolve_seam(a, b, 11.0)
    assert texts(before) + texts(after) == ["red", "fox"]


def test_segments_without_words_are_kept_by_their_midpoint() -> None:
    a = [Segment(0, 5.0, 9.0, " early"), Segment(1, 10.4, 11.2, " seam")]
    b = [Segment(0, 10.5, 11.3, " seam"), Segment(1, 12.0, 14.0, " after")]
    before, after = resolve_seam(a, b, 11.0)
    assert [s.text for s in before] == [" early", " seam"]  # midpoint 10.8
    assert [s.text for s in after] == [" after"]  # " seam" here has its midpoint at 10.9


def test_stitcher_holds_only_what_the_next_overlap_can_reach() -> None:
    stitcher = Stitcher(overlap_s=2.0)
    first = ChunkResult(
        Chunk(0.0, 12.0),
        (seg(("one", 1.0, 1.5)), seg(("two", 9.0, 9.5), ("three", 10.2, 10.7))),
    )
    out = stitcher.feed(first)
    assert texts(out) == ["one"]  # "two three" ends within 2 s of the chunk end: held
    second = ChunkResult(Chunk(10.0, 22.0), (seg(("three", 0.25, 0.75), ("four", 1.5, 2.0)),))
    out = stitcher.feed(second)
    assert texts(out) == ["two", "three", "four"]
    assert [s.id for s in out] == [1, 2]
    assert stitcher.flush() == []


def test_stitcher_without_overlap_emits_at_once_in_order() -> None:
    stitcher = Stitcher()
    a = stitcher.feed(ChunkResult(Chunk(0.0, 3.0), (seg(("a", 2.0, 2.9)),)))
    b = stitcher.feed(ChunkResult(Chunk(3.0, 6.0), (seg(("b", 0.1, 0.5)),)))
    assert texts(a) == ["a"] and texts(b) == ["b"]
    assert stitcher.flush() == []
    with pytest.raises(ValueError):
        Stitcher(overlap_s=-1.0)


def test_overlapping_stitch_end_to_end_has_every_word_once() -> None:
    words = [(f"w{i}", i * 0.5, i * 0.5 + 0.3) for i in range(60)]  # 30 s of words
    chunks = [Chunk(0.0, 12.0), Chunk(10.0, 22.0), Chunk(20.0, 30.0)]
    results = []
    for c in chunks:
        inside = [(t, a - c.start_s, b - c.start_s) for t, a, b in words
                  if a >= c.start_s and b <= c.end_s]  # fmt: skip
        results.append(ChunkResult(c, (seg(*inside),)))
    out = stitch(results, overlap_s=2.0)
    assert texts(out) == [w[0] for w in words]
    starts = [w.start_s for s in out for w in s.words]
    assert starts == sorted(starts)
