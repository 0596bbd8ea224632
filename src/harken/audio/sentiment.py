"""Text sentiment of transcript segments with VADER (a rule-based lexicon, no model): per text,
and overall weighted by how long each segment was spoken.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SentimentLabel = Literal["positive", "neutral", "negative"]
# VADER's own cut-offs on the compound score (Hutto & Gilbert, 2014).
POSITIVE_COMPOUND = 0.05
NEGATIVE_COMPOUND = -0.05


@dataclass(frozen=True)
class Sentiment:
    """VADER scores: ``compound`` in [-1, 1]; the three proportions sum to 1."""

    label: SentimentLabel
    compound: float
    positive: float
    neutral: float
    negative: float


NO_TEXT = Sentiment("neutral", 0.0, 0.0, 1.0, 0.0)  # what nothing said scores

_analyzer: SentimentIntensityAnalyzer | None = None
_analyzer_lock = threading.Lock()


def sentiment(text: str) -> Sentiment:
    """Sentiment of one text; blank text is neutral."""
    if not text.strip():
        return NO_TEXT
    scores = _get_analyzer().polarity_scores(text)
    compound = float(scores["compound"])
    return Sentiment(
        label=label_for(compound),
        compound=compound,
        positive=float(scores["pos"]),
        neutral=float(scores["neu"]),
        negative=float(scores["neg"]),
    )


def overall(texts_with_durations: Sequence[tuple[str, float]]) -> Sentiment:
    """Duration-weighted mean of each text's scores; the label follows the mean compound.

    Blank texts are left out (silence has no sentiment). When every duration is zero the texts
    count equally.
    """
    scored: list[tuple[Sentiment, float]] = []
    for text, duration_s in texts_with_durations:
        if not (math.isfinite(duration_s) and duration_s >= 0.0):
            raise ValueError(f"durations must be finite and zero or more, got {duration_s}.")
        if text.strip():
            scored.append((sentiment(text), duration_s))
    if not scored:
        return NO_TEXT
    total_s = sum(d for _, d in scored)
    weights = [d / total_s for _, d in scored] if total_s > 0 else [1 / len(scored)] * len(scored)

    def mean(field: str) -> float:
        return sum(w * getattr(s, field) for (s, _), w in zip(scored, weights))

    compound = mean("compound")
    return Sentiment(
        label_for(compound), compound, mean("positive"), mean("neutral"), mean("negative")
    )


def label_for(compound: float) -> SentimentLabel:
    if compound >= POSITIVE_COMPOUND:
        return "positive"
    return "negative" if compound <= NEGATIVE_COMPOUND else "neutral"


def _get_analyzer() -> SentimentIntensityAnalyzer:
    """One analyzer per process, built on first use: loading the lexicon takes ~50 ms."""
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:  # another thread may have built it while we waited
                try:
                    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
                except ImportError as exc:
                    raise ImportError(
                        "text sentiment needs vaderSentiment: pip install vaderSentiment==3.3.2"
                    ) from exc
                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer
