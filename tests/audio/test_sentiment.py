"""sentiment.py: VADER labels on clear sentences and the duration-weighted overall score."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from harken.audio import sentiment as sentiment_module
from harken.audio.sentiment import NO_TEXT, Sentiment, label_for, overall, sentiment

LOVE = "I love this, it is wonderful"
HATE = "This is terrible and I hate it"
MEETING = "The meeting is at three"


@pytest.mark.parametrize(
    ("text", "label"), [(LOVE, "positive"), (HATE, "negative"), (MEETING, "neutral")]
)
def test_clear_sentences(text: str, label: str) -> None:
    s = sentiment(text)
    assert s.label == label
    assert s.positive + s.neutral + s.negative == pytest.approx(1.0, abs=0.01)
    if label == "positive":
        assert s.compound > 0.5 and s.positive > s.negative == 0.0
    elif label == "negative":
        assert s.compound < -0.5 and s.negative > s.positive == 0.0
    else:
        assert s.compound == 0.0 and s.neutral == 1.0


def test_blank_text_is_neutral() -> None:
    assert sentiment("") == NO_TEXT
    assert sentiment("  \n") == Sentiment("neutral", 0.0, 0.0, 1.0, 0.0)


def test_vader_thresholds() -> None:
    assert label_for(0.05) == "positive"
    assert label_for(0.0499) == "neutral"
    assert label_for(-0.0499) == "neutral"
    assert label_for(-0.05) == "negative"


def test_overall_is_weighted_by_duration() -> None:
    love, hate = sentiment(LOVE), sentiment(HATE)
    mostly_love = overall([(LOVE, 9.0), (HATE, 1.0)])
    assert mostly_love.label == "positive"
    assert mostly_love.compound == pytest.approx(0.9 * love.compound + 0.1 * hate.compound)
    assert mostly_love.negative == pytest.approx(0.9 * love.negative + 0.1 * hate.negative)
    mostly_hate = overall([(LOVE, 1.0), (HATE, 9.0)])
    assert mostly_hate.label == "negative"
    assert mostly_hate.compound == pytest.approx(0.1 * love.compound + 0.9 * hate.compound)


def test_overall_edges() -> None:
    assert overall([]) == NO_TEXT
    assert overall([("", 5.0), ("   ", 2.0)]) == NO_TEXT
    # Blank segments (silence) do not dilute the rest.
    assert overall([(LOVE, 2.0), ("", 100.0)]) == sentiment(LOVE)
    # All durations zero: each text counts the same.
    even = overall([(LOVE, 0.0), (MEETING, 0.0)])
    assert even.compound == pytest.approx(sentiment(LOVE).compound / 2)
    with pytest.raises(ValueError, match="durations"):
        overall([(LOVE, -1.0)])
    with pytest.raises(ValueError, match="durations"):
        overall([(LOVE, float("nan"))])


def test_one_analyzer_shared_by_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment_module, "_analyzer", None)  # threads race to build it
    texts = [LOVE, HATE, MEETING] * 20
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sentiment, texts))
    assert results == [sentiment(t) for t in texts]
    assert sentiment_module._get_analyzer() is sentiment_module._get_analyzer()
