"""plan_chunks: exact chunk plans on synthetic speech spans and level tracks."""

from __future__ import annotations

import numpy as np
import pytest

from harken.audio.segment import Chunk, frame_levels_db, plan_chunks
from harken.audio.vad import Span


def spans(*pairs: tuple[float, float]) -> list[Span]:
    return [Span(a, b) for a, b in pairs]


def test_no_speech_no_chunks() -> None:
    assert plan_chunks([], None, 120.0, 30.0) == []


def test_spans_packed_while_they_fit_and_cut_in_the_silence_between() -> None:
    speech = spans((1, 8), (9, 20), (21, 29), (30, 40), (41, 55))
    assert plan_chunks(speech, None, 60.0, 30.0) == [
        Chunk(1, 29),  # (30, 40) would make it 39 s
        Chunk(30, 55),
    ]


def test_every_chunk_fits_and_chunks_do_not_overlap() -> None:
    rng = np.random.default_rng(7)
    edges = np.cumsum(rng.uniform(0.3, 6.0, size=400))
    speech = [Span(float(a), float(b)) for a, b in zip(edges[::2], edges[1::2])]
    chunks = plan_chunks(speech, None, float(edges[-1]) + 1, 30.0)
    assert all(c.duration_s <= 30.0 + 1e-9 for c in chunks)
    assert all(a.end_s <= b.start_s for a, b in zip(chunks, chunks[1:]))
    # Every span lies inside exactly one chunk: none is cut, none dropped.
    for s in speech:
        assert sum(c.start_s <= s.start_s and s.end_s <= c.end_s for c in chunks) == 1


def test_long_silence_is_not_carried_inside_a_chunk() -> None:
    speech = spans((0, 5), (6, 10), (13, 20))
    assert plan_chunks(speech, None, 30.0, 30.0, max_gap_s=2.0) == [Chunk(0, 10), Chunk(13, 20)]
    assert plan_chunks(speech, None, 30.0, 30.0, max_gap_s=3.0) == [Chunk(0, 20)]


def test_spans_are_sorted_merged_and_clipped_to_the_audio() -> None:
    speech = spans((10, 14), (0, 3), (2, 5), (14, 16), (18, 30))
    assert plan_chunks(speech, None, 25.0, 30.0, max_gap_s=1.0) == [
        Chunk(0, 5),
        Chunk(10, 16),
        Chunk(18, 25),
    ]


def test_long_span_cut_at_the_quietest_frame_in_the_last_half_of_the_window() -> None:
    # One span of 70 s, frames of 1 s; quiet dips at 10.5 s (too early: first half of the
    # window), 22.5 s and 48.5 s.
    levels = np.ones(80)
    levels[10] = 0.0
    levels[22] = 0.1
    levels[48] = 0.2
    chunks = plan_chunks(spans((0, 70)), levels, 80.0, 30.0, hop_s=1.0)
    assert chunks == [Chunk(0, 22.5), Chunk(22.5, 48.5), Chunk(48.5, 70)]


def test_a_wide_dip_beats_a_single_quiet_frame() -> None:
    levels = np.full(60, 0.9)
    levels[20] = 0.3  # one frame: a stop consonant
    levels[25:28] = 0.35  # three frames: a pause between words
    chunks = plan_chunks(spans((0, 50)), levels, 60.0, 30.0, hop_s=1.0)
    assert chunks[0] == Chunk(0, 26.5)


def test_ties_go_to_the_latest_frame_and_no_levels_cut_at_the_window_end() -> None:
    flat = np.full(100, 0.5)
    assert plan_chunks(spans((0, 40)), flat, 100.0, 30.0, hop_s=1.0)[0] == Chunk(0, 29.5)
    assert plan_chunks(spans((0, 70)), None, 100.0, 30.0) == [
        Chunk(0, 30),
        Chunk(30, 60),
        Chunk(60, 70),
    ]


def test_remainder_of_a_cut_span_packs_with_the_next_span() -> None:
    levels = np.ones(60)
    levels[25] = 0.0
    chunks = plan_chunks(spans((0, 35), (36, 40), (41, 59)), levels, 60.0, 30.0, hop_s=1.0)
    assert chunks == [Chunk(0, 25.5), Chunk(25.5, 40), Chunk(41, 59)]


def test_overlap_is_centred_on_a_cut_inside_speech_only() -> None:
    levels = np.ones(100)
    levels[24] = 0.0
    speech = spans((0, 40), (42, 50))
    chunks = plan_chunks(speech, levels, 100.0, 30.0, hop_s=1.0, overlap_s=2.0)
    assert chunks == [Chunk(0, 25.5), Chunk(23.5, 50)]
    assert all(c.duration_s <= 30.0 for c in chunks)


def test_overlapping_cut_stays_within_the_window() -> None:
    chunks = plan_chunks(spans((0, 50)), None, 50.0, 30.0, overlap_s=4.0)
    assert chunks == [Chunk(0, 30), Chunk(26, 50)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration_s": -1.0},
        {"max_chunk_s": 0.0},
        {"hop_s": 0.0},
        {"max_gap_s": -1.0},
        {"overlap_s": 10.0},
        {"duration_s": float("nan")},
    ],
)
def test_bad_arguments_are_refused_in_plain_words(kwargs: dict) -> None:
    args = {"duration_s": 10.0, "max_chunk_s": 30.0} | kwargs
    with pytest.raises(ValueError, match="must be"):
        plan_chunks(
            [],
            None,
            args.pop("duration_s"),
            args.pop("max_chunk_s"),
            **args,
        )


def test_chunk_refuses_negative_or_reversed_times() -> None:
    with pytest.raises(ValueError):
        Chunk(3.0, 2.0)
    assert Chunk(1.0, 2.5).shifted(10.0) == Chunk(11.0, 12.5)


def test_frame_levels_find_the_silence_in_a_tone() -> None:
    rate = 16_000
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    tone[16_000:17_600] = 0.0  # 100 ms of silence at 1.0 s
    db = frame_levels_db(tone, rate, hop_s=0.05)
    assert len(db) == 40
    assert db[21] == pytest.approx(-100.0)
    assert db[5] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)
    levels = np.full(len(db), 0.0) + db
    chunks = plan_chunks(spans((0, 2)), levels, 2.0, 1.5, hop_s=0.05)
    assert chunks[0].end_s == pytest.approx(1.075)
