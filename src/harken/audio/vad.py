"""Where the speech is: Silero VAD (faster-whisper's bundled ONNX model) to speech spans, and
their exact complement as silence spans.

Pure functions: a float32 mono array and its sample rate in, frozen ``Span`` values out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soxr

VAD_RATE_HZ = 16_000  # faster-whisper runs Silero at 16 kHz only (its 512-sample window is fixed)
VAD_WINDOW_SAMPLES = 512  # one speech probability per 512 samples
VAD_HOP_S = VAD_WINDOW_SAMPLES / VAD_RATE_HZ  # 0.032 s between probabilities
# Span ends differ from exact arithmetic by float rounding (3.3 - 3.0 < 0.3); a gap this close
# to the minimum counts as reaching it.
_EPSILON_S = 1e-9


@dataclass(frozen=True, order=True)
class Span:
    """A stretch of audio, ``start_s`` to ``end_s`` seconds from the start."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_s <= self.end_s:
            raise ValueError(
                f"a span needs 0 <= start_s <= end_s, got {self.start_s} to {self.end_s}."
            )

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def speech_spans(
    samples: np.ndarray,
    sample_rate_hz: int = VAD_RATE_HZ,
    *,
    threshold: float = 0.5,
    min_silence_s: float = 0.3,
    min_speech_s: float = 0.25,
    pad_s: float = 0.1,
) -> list[Span]:
    """Speech spans, sorted and non-overlapping, within the audio's duration.

    ``threshold`` is Silero's speech probability (a span ends when it falls below
    ``threshold - 0.15``); pauses shorter than ``min_silence_s`` do not split a span; spans
    shorter than ``min_speech_s`` are dropped; each span is widened by ``pad_s`` on both sides
    (less where two spans would meet: they then share the gap between them).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}.")
    durations_s = {"min_silence_s": min_silence_s, "min_speech_s": min_speech_s, "pad_s": pad_s}
    for name, value in durations_s.items():
        if not value >= 0.0:  # written so that NaN fails too
            raise ValueError(f"{name} must be zero or more, got {value}.")
    audio = _at_vad_rate(samples, sample_rate_hz)
    if len(audio) == 0:
        return []
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=threshold,
        min_silence_duration_ms=round(min_silence_s * 1000),
        min_speech_duration_ms=round(min_speech_s * 1000),
        speech_pad_ms=round(pad_s * 1000),
    )
    found = get_speech_timestamps(audio, options, sampling_rate=VAD_RATE_HZ)
    duration_s = len(audio) / VAD_RATE_HZ
    return [
        Span(min(c["start"] / VAD_RATE_HZ, duration_s), min(c["end"] / VAD_RATE_HZ, duration_s))
        for c in found
    ]


def speech_probabilities(samples: np.ndarray, sample_rate_hz: int = VAD_RATE_HZ) -> np.ndarray:
    """Silero's speech probability per ``VAD_HOP_S`` (32 ms) window, float32 in [0, 1].

    Window ``i`` covers ``i * VAD_HOP_S`` to ``(i + 1) * VAD_HOP_S`` seconds; the last window is
    zero-padded. Low runs are the quiet places to cut long audio.
    """
    audio = _at_vad_rate(samples, sample_rate_hz)
    if len(audio) == 0:
        return np.zeros(0, np.float32)
    from faster_whisper.vad import get_vad_model

    padded = np.pad(audio, (0, -len(audio) % VAD_WINDOW_SAMPLES))
    probs = np.asarray(get_vad_model()(padded), dtype=np.float32).reshape(-1)
    return np.clip(probs, 0.0, 1.0)


def silence_spans(speech: Sequence[Span], duration_s: float, min_s: float = 0.3) -> list[Span]:
    """The gaps of at least ``min_s`` seconds that no speech span covers, within [0, duration_s].

    Exact: the spans may come in any order and may overlap; nothing is padded or rounded.
    """
    if not duration_s >= 0.0:
        raise ValueError(f"duration_s must be zero or more, got {duration_s}.")
    if not min_s >= 0.0:
        raise ValueError(f"min_s must be zero or more, got {min_s}.")
    gaps: list[Span] = []
    cursor_s = 0.0
    for span in sorted(speech):
        if span.start_s > cursor_s:
            gaps.append(Span(cursor_s, min(span.start_s, duration_s)))
        cursor_s = max(cursor_s, span.end_s)
        if cursor_s >= duration_s:
            break
    if cursor_s < duration_s:
        gaps.append(Span(cursor_s, duration_s))
    # A zero-length gap is no gap, even with min_s=0.
    return [g for g in gaps if g.duration_s > 0.0 and g.duration_s + _EPSILON_S >= min_s]


def as_mono(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """``samples`` as a float32 1-D array, after checking it is mono at a positive rate."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"samples must be a 1-D mono array, got shape {audio.shape}.")
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be positive, got {sample_rate_hz}.")
    return audio


def _at_vad_rate(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Mono float32 at 16 kHz, the only rate faster-whisper's Silero wrapper accepts."""
    audio = as_mono(samples, sample_rate_hz)
    if sample_rate_hz != VAD_RATE_HZ and len(audio):
        audio = soxr.resample(audio, sample_rate_hz, VAD_RATE_HZ, quality="HQ").astype(np.float32)
    return audio
