"""Cut long audio into chunks an engine can decode in one window: speech spans packed into
chunks of at most ``max_chunk_s``, split inside speech only at its quietest point.

Pure functions: speech spans, a per-frame level track and durations in; frozen ``Chunk`` values
out. No models, no settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .vad import VAD_HOP_S, Span

# A cut inside speech lands in the last half of the window, so chunks stay long (fewer windows
# to decode) while the cut can still move to a pause between words.
MIN_FILL = 0.5
# Level smoothing before picking the quietest frame: a gap between words spans a few 32 ms
# frames, a stop consonant one; the centre-weighted kernel prefers the wider dip.
_SMOOTHING = np.array([0.25, 0.5, 0.25])
# Silence longer than this is not carried inside a chunk: Whisper invents words in long silences
# (openai/whisper's hallucination_silence_threshold is 2 s for the same reason).
MAX_GAP_S = 2.0
_EPSILON_S = 1e-9


@dataclass(frozen=True, order=True)
class Chunk:
    """A stretch of the original audio decoded as one unit, ``start_s`` to ``end_s``."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_s <= self.end_s:
            raise ValueError(
                f"a chunk needs 0 <= start_s <= end_s, got {self.start_s} to {self.end_s}."
            )

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def shifted(self, offset_s: float) -> Chunk:
        return Chunk(self.start_s + offset_s, self.end_s + offset_s)


def plan_chunks(
    speech: Sequence[Span],
    levels: np.ndarray | None,
    duration_s: float,
    max_chunk_s: float,
    *,
    hop_s: float = VAD_HOP_S,
    max_gap_s: float = MAX_GAP_S,
    overlap_s: float = 0.0,
) -> list[Chunk]:
    """Chunks covering every speech span, each at most ``max_chunk_s`` long, in time order.

    Consecutive spans share a chunk while it fits and the silence between them is at most
    ``max_gap_s``; chunks then meet in silence, so no word is cut. A span longer than the window
    is cut at the quietest frame of ``levels`` (one value per ``hop_s``, lower is quieter:
    Silero speech probabilities or an energy track) in the last half of the window; with
    ``levels=None`` it is cut at the window's end. ``overlap_s`` makes chunks cut inside
    speech overlap by that much, centred on the cut, for engines whose results are then
    deduplicated (``merge.resolve_seam``); chunks that meet in silence never overlap.
    """
    _validate(duration_s, max_chunk_s, hop_s, max_gap_s, overlap_s)
    chunks: list[Chunk] = []
    start_s = end_s = -1.0  # the chunk being packed; start_s < 0: none yet
    for span in _merged(speech, duration_s):
        fits = span.end_s - start_s <= max_chunk_s + _EPSILON_S
        if start_s >= 0.0 and fits and span.start_s - end_s <= max_gap_s + _EPSILON_S:
            end_s = span.end_s
            continue
        if start_s >= 0.0:
            chunks.append(Chunk(start_s, end_s))
        start_s, end_s = span.start_s, span.end_s
        while end_s - start_s > max_chunk_s + _EPSILON_S:
            half_s = overlap_s / 2
            lo_s = start_s + max_chunk_s * MIN_FILL
            cut_s = _quietest(levels, hop_s, lo_s, start_s + max_chunk_s - half_s)
            chunks.append(Chunk(start_s, cut_s + half_s))
            start_s = cut_s - half_s
    if start_s >= 0.0:
        chunks.append(Chunk(start_s, end_s))
    return chunks


def frame_levels_db(
    samples: np.ndarray, sample_rate_hz: int, hop_s: float = VAD_HOP_S
) -> np.ndarray:
    """RMS level per ``hop_s`` frame in dBFS (floor -100): an energy track for ``plan_chunks``
    where no VAD probabilities are at hand. The last frame is zero-padded."""
    if sample_rate_hz <= 0 or hop_s <= 0:
        raise ValueError("sample_rate_hz and hop_s must be positive.")
    hop = max(1, round(hop_s * sample_rate_hz))
    audio = np.asarray(samples, dtype=np.float32)
    if len(audio) == 0:
        return np.zeros(0, np.float32)
    frames = np.pad(audio, (0, -len(audio) % hop)).reshape(-1, hop).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return (20.0 * np.log10(np.maximum(rms, 1e-5))).astype(np.float32)


def _merged(speech: Sequence[Span], duration_s: float) -> list[Span]:
    """Spans sorted, clipped to the audio, overlapping or touching ones joined, empty dropped."""
    out: list[Span] = []
    for span in sorted(speech):
        start_s, end_s = min(span.start_s, duration_s), min(span.end_s, duration_s)
        if end_s <= start_s:
            continue
        if out and start_s <= out[-1].end_s:
            out[-1] = Span(out[-1].start_s, max(out[-1].end_s, end_s))
        else:
            out.append(Span(start_s, end_s))
    return out


def _quietest(levels: np.ndarray | None, hop_s: float, lo_s: float, hi_s: float) -> float:
    """The centre of the quietest frame whose centre lies in [lo_s, hi_s]; the latest on ties."""
    if levels is None or len(levels) == 0:
        return hi_s
    first = max(0, int(np.ceil(lo_s / hop_s - 0.5 - _EPSILON_S)))
    last = min(len(levels) - 1, int(np.floor(hi_s / hop_s - 0.5 + _EPSILON_S)))
    if last < first:
        return hi_s
    track = np.asarray(levels, dtype=np.float64)
    padded = np.pad(track, 1, mode="edge")
    smooth = np.convolve(padded, _SMOOTHING, mode="valid")[first : last + 1]
    # Latest minimum: reverse, take the first argmin, map back.
    best = last - int(np.argmin(smooth[::-1]))
    return (best + 0.5) * hop_s


def _validate(
    duration_s: float, max_chunk_s: float, hop_s: float, max_gap_s: float, overlap_s: float
) -> None:
    if not duration_s >= 0.0:
        raise ValueError(f"duration_s must be zero or more, got {duration_s}.")
    if not max_chunk_s > 0.0:
        raise ValueError(f"max_chunk_s must be positive, got {max_chunk_s}.")
    if not hop_s > 0.0:
        raise ValueError(f"hop_s must be positive, got {hop_s}.")
    if not max_gap_s >= 0.0:
        raise ValueError(f"max_gap_s must be zero or more, got {max_gap_s}.")
    if not 0.0 <= overlap_s <= max_chunk_s / 4:
        raise ValueError(
            f"overlap_s must be between 0 and a quarter of max_chunk_s, got {overlap_s}."
        )
