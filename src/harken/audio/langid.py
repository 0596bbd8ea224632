"""Spoken-language identification per stretch of audio, with the top candidates' probabilities.

The detector is any callable from 16 kHz samples to ``(code, probability)`` pairs, most likely
first; ``whisper_detector`` wraps faster-whisper's ``WhisperModel.detect_language``. Results are
cached by audio content, so asking again about the same stretch costs nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harken.audio.vad import Span

LanguageProbs = tuple[tuple[str, float], ...]  # (ISO-639-1 code, probability), best first
Detector = Callable[[np.ndarray], LanguageProbs]

TOP_LANGUAGES = 5
RATE_HZ = 16_000
# Whisper's detector needs a little audio to go on; a shorter stretch is widened to this,
# centred on itself, within the file.
MIN_DETECT_S = 1.0
CACHE_ENTRIES = 512


def whisper_detector(model: Any, top: int = TOP_LANGUAGES) -> Detector:
    """A detector on a faster-whisper ``WhisperModel`` (multilingual): its first 30 s window."""

    def detect(samples: np.ndarray) -> LanguageProbs:
        _, _, probs = model.detect_language(audio=np.asarray(samples, np.float32))
        return tuple((str(code), float(p)) for code, p in probs[:top])

    return detect


class CachedDetector:
    """A detector remembering its last CACHE_ENTRIES answers, keyed by the samples' digest."""

    def __init__(self, detect: Detector, capacity: int = CACHE_ENTRIES) -> None:
        self._detect = detect
        self._capacity = capacity
        self._cache: OrderedDict[bytes, LanguageProbs] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, samples: np.ndarray) -> LanguageProbs:
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        key = hashlib.blake2b(audio.tobytes(), digest_size=16).digest()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self._detect(audio)
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return found


def span_languages(
    samples: np.ndarray, spans: Sequence[Span], detect: Detector, sample_rate_hz: int = RATE_HZ
) -> list[LanguageProbs]:
    """The language candidates of each span's audio, in the order of ``spans``."""
    if sample_rate_hz != RATE_HZ:
        raise ValueError(f"language ID runs on {RATE_HZ} Hz audio, got {sample_rate_hz} Hz.")
    audio = np.asarray(samples, dtype=np.float32)
    duration_s = len(audio) / RATE_HZ
    out: list[LanguageProbs] = []
    for span in spans:
        start_s, end_s = span.start_s, min(span.end_s, duration_s)
        if end_s - start_s < MIN_DETECT_S:
            widen = (MIN_DETECT_S - (end_s - start_s)) / 2
            start_s, end_s = max(0.0, start_s - widen), min(duration_s, end_s + widen)
        part = audio[round(start_s * RATE_HZ) : round(end_s * RATE_HZ)]
        out.append(detect(part) if len(part) else ())
    return out


def combine(
    weighted: Sequence[tuple[LanguageProbs, float]], top: int = TOP_LANGUAGES
) -> LanguageProbs:
    """Duration-weighted mean of several stretches' candidates: the file's languages.

    A language missing from a stretch's top list counts as 0 there, so the result is a lower
    bound that still ranks a two-language recording's languages by how long each was spoken.
    """
    total = sum(w for probs, w in weighted if probs)
    if total <= 0:
        return ()
    scores: dict[str, float] = {}
    for probs, w in weighted:
        for code, p in probs:
            scores[code] = scores.get(code, 0.0) + p * w / total
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    return tuple(ranked[:top])
