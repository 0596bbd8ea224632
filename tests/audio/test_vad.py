"""vad.py: Silero speech spans on real recordings (tolerant) and their complement (exact)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soxr

from harken.audio.decode import decode_audio
from harken.audio.vad import (
    VAD_HOP_S,
    Span,
    silence_spans,
    speech_probabilities,
    speech_spans,
)

RATE_HZ = 16_000


@pytest.fixture(scope="module")
def jfk(audio_dir: Path) -> np.ndarray:
    return decode_audio(audio_dir / "jfk.wav").samples


def assert_well_formed(spans: list[Span], duration_s: float) -> None:
    for a, b in zip(spans, spans[1:]):
        assert a.end_s <= b.start_s, f"{a} and {b} overlap or are out of order"
    for s in spans:
        assert 0.0 <= s.start_s < s.end_s <= duration_s + 1e-9


# --- speech spans on real audio ------------------------------------------------------------


def test_jfk_speech_covers_most_of_it_with_its_two_long_pauses(jfk: np.ndarray) -> None:
    duration_s = len(jfk) / RATE_HZ
    spans = speech_spans(jfk)
    assert_well_formed(spans, duration_s)
    ratio = sum(s.duration_s for s in spans) / duration_s
    assert 0.6 <= ratio <= 0.98
    # "... my fellow Americans, | ask not what your country can do for you, | ask what ..."
    # pauses near 2.3-3.2 s and 4.5-5.3 s: no speech span may cross their middles.
    gaps = silence_spans(spans, duration_s, min_s=0.5)
    for middle_s in (2.8, 4.9):
        assert any(g.start_s < middle_s - 0.2 and g.end_s > middle_s + 0.2 for g in gaps), gaps
    assert spans[0].start_s < 0.6 and spans[-1].end_s > 10.0  # speech runs almost end to end


def test_monkeys_are_not_speech(audio_dir: Path) -> None:
    monkeys = decode_audio(audio_dir / "asterisk_monkeys.wav").samples
    spans = speech_spans(monkeys)
    assert sum(s.duration_s for s in spans) < 0.1 * len(monkeys) / RATE_HZ


def test_digital_silence_between_two_copies_is_a_gap(jfk: np.ndarray) -> None:
    joined = np.concatenate([jfk, np.zeros(3 * RATE_HZ, np.float32), jfk])
    spans = speech_spans(joined)
    assert_well_formed(spans, len(joined) / RATE_HZ)
    assert not any(s.start_s < 14.0 and s.end_s > 11.0 for s in spans)  # 11-14 s is zeros
    gaps = silence_spans(spans, len(joined) / RATE_HZ, min_s=2.0)
    assert any(g.start_s <= 11.0 and g.end_s >= 14.0 and g.duration_s < 4.0 for g in gaps)


def speech_mask(spans: list[Span], duration_s: float) -> np.ndarray:
    """Speech or not per 10 ms."""
    times_s = np.arange(0.0, duration_s, 0.01)
    return np.any([(times_s >= s.start_s) & (times_s < s.end_s) for s in spans], axis=0)


@pytest.mark.parametrize("rate_hz", [8_000, 22_050, 44_100])
def test_other_rates_find_the_same_speech(jfk: np.ndarray, rate_hz: int) -> None:
    duration_s = len(jfk) / RATE_HZ
    at_16k = speech_mask(speech_spans(jfk), duration_s)
    other_spans = speech_spans(soxr.resample(jfk, RATE_HZ, rate_hz), rate_hz)
    assert_well_formed(other_spans, duration_s)
    other = speech_mask(other_spans, duration_s)
    # Up-sampling changes nothing Silero hears; 8 kHz loses the top half of the band.
    least_agreement = 0.8 if rate_hz < RATE_HZ else 0.97
    assert np.sum(at_16k & other) / np.sum(at_16k | other) >= least_agreement


def test_options_change_the_spans(jfk: np.ndarray) -> None:
    default = speech_spans(jfk)
    merged = speech_spans(jfk, min_silence_s=2.0)  # no pause in jfk is that long
    assert len(merged) < len(default)
    padded = speech_spans(jfk, pad_s=0.3)
    assert sum(s.duration_s for s in padded) > sum(s.duration_s for s in default)


def test_speech_probabilities_follow_the_spans(jfk: np.ndarray) -> None:
    probs = speech_probabilities(jfk)
    assert probs.dtype == np.float32
    assert len(probs) == -(-len(jfk) // 512)  # one per 32 ms window, the last one padded
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    times_s = (np.arange(len(probs)) + 0.5) * VAD_HOP_S
    spans = speech_spans(jfk)
    inside = np.zeros(len(probs), bool)
    for s in spans:
        inside |= (times_s >= s.start_s) & (times_s < s.end_s)
    assert probs[inside].mean() > 0.5 > probs[~inside].mean()


def test_empty_audio_has_no_speech() -> None:
    assert speech_spans(np.zeros(0, np.float32)) == []
    assert len(speech_probabilities(np.zeros(0, np.float32))) == 0
    assert speech_spans(np.zeros(RATE_HZ, np.float32)) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"min_silence_s": -1.0}, "min_silence_s"),
        ({"pad_s": float("nan")}, "pad_s"),
        ({"sample_rate_hz": 0}, "sample_rate_hz"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        speech_spans(np.zeros(RATE_HZ, np.float32), **kwargs)  # type: ignore[arg-type]


def test_stereo_is_refused() -> None:
    with pytest.raises(ValueError, match="1-D"):
        speech_spans(np.zeros((2, RATE_HZ), np.float32))


# --- spans and their complement (exact) ----------------------------------------------------


def test_span_duration_and_validation() -> None:
    assert Span(1.25, 3.0).duration_s == 1.75
    with pytest.raises(ValueError):
        Span(2.0, 1.0)
    with pytest.raises(ValueError):
        Span(-0.5, 1.0)


def test_silence_spans_are_the_exact_complement() -> None:
    # Unsorted, overlapping, and one gap (4.0-4.2) under the minimum.
    speech = [Span(3.0, 4.0), Span(1.0, 2.0), Span(0.5, 1.5), Span(4.2, 5.0)]
    assert silence_spans(speech, 6.0, min_s=0.3) == [Span(0.0, 0.5), Span(2.0, 3.0), Span(5.0, 6.0)]
    assert silence_spans(speech, 6.0, min_s=0.0) == [
        Span(0.0, 0.5), Span(2.0, 3.0), Span(4.0, 4.2), Span(5.0, 6.0)
    ]  # fmt: skip
    assert silence_spans(speech, 6.0, min_s=1.0) == [Span(2.0, 3.0), Span(5.0, 6.0)]


def test_silence_spans_edges() -> None:
    assert silence_spans([], 2.5) == [Span(0.0, 2.5)]
    assert silence_spans([], 0.0) == []
    assert silence_spans([Span(0.0, 2.5)], 2.5) == []
    # Speech past the end is cut at the duration; touching spans leave no gap.
    assert silence_spans([Span(1.0, 9.0)], 4.0) == [Span(0.0, 1.0)]
    assert silence_spans([Span(0.0, 1.0), Span(1.0, 2.0)], 2.0, min_s=0.0) == []
    # A gap of exactly min_s counts, float rounding notwithstanding (3.3 - 3.0 < 0.3).
    assert silence_spans([Span(0.0, 3.0), Span(3.3, 4.0)], 4.0) == [Span(3.0, 3.3)]
    with pytest.raises(ValueError):
        silence_spans([], -1.0)
