"""What an audio file sounds like beyond its words: speech and silence, levels, an SNR estimate,
clipping, and a rough label for each non-speech stretch (silence, music, noise, other).

Pure signal measures, no model but the VAD; ``describe`` renders the result as short plain text
for a text LLM to read beside a transcript. The sound labels are heuristics and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from harken.audio.vad import Span, as_mono, silence_spans, speech_spans

SoundKind = Literal["silence", "music", "noise", "other"]

FLOOR_DBFS = -120.0  # reported instead of -inf: below any real recording's noise
FRAME_S = 0.02  # short-frame RMS for the noise floor
NOISE_PERCENTILE = 10.0  # the quietest tenth of frames is taken as background
# Frames under one 16-bit LSB are digital silence (an edit or padding), not background noise.
DIGITAL_SILENCE_DBFS = -90.0
MIN_NOISE_FRAMES_S = 1.0  # enough non-speech to measure the floor there rather than everywhere
CLIP_LEVEL = 0.999  # |sample| at or above this is at full scale
MIN_GAP_S = 0.3  # non-speech gaps shorter than this are pauses between words, not listed
LEVEL_FRAME_S = 0.1  # non-speech is cut where it turns quiet or loud, to this step,
BLOCK_S = 1.0  # ... and each part labelled in blocks this long; runs of one label merge
MIN_PART_S = 0.25  # shorter parts at a gap's ends are left unlabelled
INAUDIBLE_DBFS = -60.0  # too quiet to call anything but silence
QUIET_DBFS = -50.0  # quiet in absolute terms ...
QUIET_BELOW_SPEECH_DB = 20.0  # ... or this far under the speech: background only, a pause
# Spectral features (see ``_features``), tuned on synthetic tones and noise and real recordings.
BAND_HZ = (100.0, 5000.0)
PEAK_PROMINENCE = 10.0  # a tonal peak stands 10 dB over the bins around it
PEAK_RANGE = 1e-4  # ... and within 40 dB of the frame's strongest bin
HOLD_HOPS = 3  # a held note keeps its peaks this many hops (~100 ms at 32 ms hops)
MUSIC_PERSISTENCE = 0.5  # share of tonal peaks held
MUSIC_PEAKS_PER_FRAME = 2.0
STEADY_SIMILARITY = 0.9  # spectra of the block's quarters this alike: nothing changes
NOISE_FLATNESS = 0.25  # white noise measures about 0.55, tones near 0, speech ~0.05-0.2
NOISE_STEADINESS = 0.5  # stationary noise ~0.58 (any colour); calls, crowds, effects ~0.1-0.45
SILENCE = "silence or quiet background"
MAX_LISTED = 12  # describe() lists at most this many spans in one list


@dataclass(frozen=True, order=True)
class SoundSpan(Span):
    """A non-speech stretch with a rough label; ``description`` says how sure it is."""

    kind: SoundKind
    description: str


@dataclass(frozen=True)
class AudioAnalysis:
    """Measures of one recording; levels in dBFS (0 = full scale), floored at ``FLOOR_DBFS``."""

    duration_s: float
    speech_spans: tuple[Span, ...]
    silence_spans: tuple[Span, ...]  # non-speech gaps of MIN_GAP_S or more; see ``sounds``
    speech_ratio: float  # speech seconds / duration
    loudness_dbfs: float  # RMS over speech; over the whole file when there is no speech
    peak_dbfs: float
    noise_floor_dbfs: float  # quiet frames' RMS, digital silence excluded
    snr_db: float | None  # speech over noise floor; None when there is no speech
    clipping_ratio: float  # share of samples at full scale
    # The silence spans labelled, split where the label changes (slivers at their ends dropped).
    sounds: tuple[SoundSpan, ...]

    @property
    def speech_s(self) -> float:
        return sum(s.duration_s for s in self.speech_spans)


def analyze(
    samples: np.ndarray, sample_rate_hz: int = 16_000, speech: Sequence[Span] | None = None
) -> AudioAnalysis:
    """Measure ``samples``; ``speech`` spans are found with the VAD unless given."""
    audio = as_mono(samples, sample_rate_hz)
    duration_s = len(audio) / sample_rate_hz
    spans = tuple(sorted(speech_spans(audio, sample_rate_hz) if speech is None else speech))
    gaps = tuple(silence_spans(spans, duration_s, MIN_GAP_S))
    speech_power = _span_power(audio, sample_rate_hz, spans)
    noise_power = _noise_power(audio, sample_rate_hz, spans)
    loudness_dbfs = _db(_mean_square(audio) if speech_power is None else speech_power)
    speech_dbfs = None if speech_power is None else _db(speech_power)
    return AudioAnalysis(
        duration_s=duration_s,
        speech_spans=spans,
        silence_spans=gaps,
        speech_ratio=min(1.0, sum(s.duration_s for s in spans) / duration_s) if duration_s else 0.0,
        loudness_dbfs=loudness_dbfs,
        peak_dbfs=_db(float(np.max(np.abs(audio))) ** 2) if len(audio) else FLOOR_DBFS,
        noise_floor_dbfs=_db(noise_power),
        snr_db=None if speech_power is None else _snr_db(speech_power, noise_power),
        clipping_ratio=float(np.mean(np.abs(audio) >= CLIP_LEVEL)) if len(audio) else 0.0,
        sounds=classify_sounds(audio, sample_rate_hz, gaps, speech_dbfs=speech_dbfs),
    )


def estimate_snr_db(
    samples: np.ndarray, sample_rate_hz: int, speech: Sequence[Span]
) -> float | None:
    """Speech level over the background, in dB; None when ``speech`` is empty.

    The speech spans' power still holds the noise under the speech, so the noise power is
    subtracted before the ratio: a 5 dB SNR mixture estimates near 5 dB, not near 6.2 dB.
    """
    audio = as_mono(samples, sample_rate_hz)
    speech_power = _span_power(audio, sample_rate_hz, speech)
    if speech_power is None:
        return None
    return _snr_db(speech_power, _noise_power(audio, sample_rate_hz, speech))


def classify_sounds(
    samples: np.ndarray, sample_rate_hz: int, spans: Sequence[Span], *, speech_dbfs: float | None
) -> tuple[SoundSpan, ...]:
    """Label each of ``spans`` (non-speech) with what it likely holds.

    Each span is first cut where its level crosses into or out of quiet (in LEVEL_FRAME_S
    steps, so a silence is placed to within a frame), then each part is labelled in blocks of
    about BLOCK_S from spectral flatness, steadiness and how long tonal peaks are held; runs of
    one label merge. ``speech_dbfs``, the speech level, lets a background well under the speech
    count as silence.
    """
    audio = as_mono(samples, sample_rate_hz)
    quiet_dbfs = QUIET_DBFS if speech_dbfs is None else max(
        QUIET_DBFS, speech_dbfs - QUIET_BELOW_SPEECH_DB
    )
    out: list[SoundSpan] = []
    for span in sorted(spans):
        parts = _level_runs(audio, sample_rate_hz, span, quiet_dbfs)
        # A sliver at either end is the edge of the speech beside it, not a sound of its own.
        while len(parts) > 1 and parts[0].duration_s < MIN_PART_S:
            parts.pop(0)
        while len(parts) > 1 and parts[-1].duration_s < MIN_PART_S:
            parts.pop()
        blocks = [block for part in parts for block in _blocks(part)]
        labels = [
            _label(audio[round(b.start_s * sample_rate_hz) : round(b.end_s * sample_rate_hz)],
                   sample_rate_hz, quiet_dbfs)
            for b in blocks
        ]  # fmt: skip
        # One odd block between two alike (a held note inside a melody) takes their label.
        for i in range(1, len(labels) - 1):
            if labels[i - 1] == labels[i + 1] != labels[i] and "silence" not in (
                labels[i][0], labels[i + 1][0]
            ):
                labels[i] = labels[i - 1]
        for block, (kind, description) in zip(blocks, labels):
            if out and out[-1].end_s == block.start_s and out[-1].description == description:
                out[-1] = SoundSpan(out[-1].start_s, block.end_s, kind, description)
            else:
                out.append(SoundSpan(block.start_s, block.end_s, kind, description))
    return tuple(out)


def _level_runs(audio: np.ndarray, rate_hz: int, span: Span, quiet_dbfs: float) -> list[Span]:
    """``span`` cut into alternately quiet and louder runs of LEVEL_FRAME_S frames."""
    count = max(1, int(span.duration_s / LEVEL_FRAME_S))
    edges_s = np.linspace(span.start_s, span.end_s, count + 1)
    idx = np.clip(np.round(edges_s * rate_hz).astype(np.int64), 0, len(audio))
    part = audio[idx[0] : idx[-1]]
    energy = np.concatenate([[0.0], np.cumsum(np.square(part, dtype=np.float64))])
    power = (energy[idx[1:] - idx[0]] - energy[idx[:-1] - idx[0]]) / np.maximum(1, np.diff(idx))
    quiet = power < 10.0 ** (quiet_dbfs / 10.0)
    # Majority over 5 frames: a dip or a click under 0.3 s does not cut a run.
    padded = np.pad(quiet.astype(np.int64), 2, mode="edge")
    quiet = np.convolve(padded, np.ones(5, np.int64), mode="valid") >= 3
    cuts = np.flatnonzero(np.diff(quiet)) + 1
    bounds = [0, *cuts.tolist(), count]
    return [
        Span(span.start_s if a == 0 else float(edges_s[a]),
             span.end_s if b == count else float(edges_s[b]))
        for a, b in zip(bounds[:-1], bounds[1:])
    ]  # fmt: skip


# --- levels ------------------------------------------------------------------------------------


def _db(power: float) -> float:
    return max(FLOOR_DBFS, 10.0 * float(np.log10(power))) if power > 0 else FLOOR_DBFS


def _mean_square(x: np.ndarray) -> float:
    # float64: float32 sums of millions of squares lose the quiet parts.
    return float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0


def _span_power(audio: np.ndarray, rate_hz: int, spans: Sequence[Span]) -> float | None:
    """Mean power over the spans' samples, None when they hold none."""
    total, count = 0.0, 0
    for s in spans:
        part = audio[round(s.start_s * rate_hz) : round(s.end_s * rate_hz)]
        total += float(np.sum(np.square(part, dtype=np.float64)))
        count += len(part)
    return total / count if count else None


def _noise_power(audio: np.ndarray, rate_hz: int, speech: Sequence[Span]) -> float:
    """A low percentile of short-frame power: the background between (and under) the words.

    Measured over the non-speech frames when there are enough, else over every frame (speech
    with no pauses still has gaps between words). A percentile, not the mean, so that music or
    a cough in the pauses does not count as background.
    """
    frame = max(1, round(FRAME_S * rate_hz))
    frame_s = frame / rate_hz
    n_frames = len(audio) // frame
    if n_frames == 0:
        return _mean_square(audio)
    power = np.mean(np.square(audio[: n_frames * frame], dtype=np.float64).reshape(-1, frame), 1)
    in_speech = np.zeros(n_frames, bool)
    for s in speech:
        in_speech[int(s.start_s / frame_s) : int(np.ceil(s.end_s / frame_s))] = True
    live = power > 10.0 ** (DIGITAL_SILENCE_DBFS / 10.0)
    if not live.any():
        return float(np.max(power))
    pool = power[live & ~in_speech]
    if len(pool) * frame_s < MIN_NOISE_FRAMES_S:
        pool = power[live]
    return float(np.percentile(pool, NOISE_PERCENTILE))


def _snr_db(speech_power: float, noise_power: float) -> float:
    noise = max(noise_power, 10.0 ** (FLOOR_DBFS / 10.0))
    # Speech spans carry the noise too: take it out, but never below a tenth of the noise.
    clean = max(speech_power - noise, 0.1 * noise)
    return 10.0 * float(np.log10(clean / noise))


# --- sound labels ------------------------------------------------------------------------------


def _blocks(span: Span) -> list[Span]:
    """``span`` cut into BLOCK_S pieces; a short tail joins the block before it."""
    count = max(1, round(span.duration_s / BLOCK_S))
    edges = np.linspace(span.start_s, span.end_s, count + 1)
    edges[0], edges[-1] = span.start_s, span.end_s  # exact ends, for merging and for tests
    return [Span(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


@dataclass(frozen=True)
class _Features:
    """Spectral measures of one block (see ``_features``)."""

    flatness: float  # broadband: white noise ~0.55, speech ~0.05-0.2, tones ~0
    steadiness: float  # stationary noise of any colour ~0.58, changing sounds lower
    persistence: float  # share of tonal peaks held ~100 ms: notes high, glides and noise low
    peaks_per_frame: float
    changing: bool  # the spectrum moves within the block (a melody, unlike a dial tone)


def _label(block: np.ndarray, rate_hz: int, quiet_dbfs: float) -> tuple[SoundKind, str]:
    level_dbfs = _db(_mean_square(block))
    if level_dbfs < INAUDIBLE_DBFS:
        return "silence", SILENCE
    f = _features(block, rate_hz)
    tonal = f.persistence >= MUSIC_PERSISTENCE and f.peaks_per_frame >= 1.0
    # Music before the level test: quiet music under loud speech is still music.
    if tonal and f.peaks_per_frame >= MUSIC_PEAKS_PER_FRAME and f.changing:
        return "music", "likely music (held tones, changing pitch)"
    if level_dbfs < quiet_dbfs:
        return "silence", SILENCE
    if tonal:
        return "other", "likely a steady tone, beep or hum"
    if f.flatness >= NOISE_FLATNESS or f.steadiness >= NOISE_STEADINESS:
        return "noise", "likely noise (broadband or steady, no held tones)"
    return "other", "other non-speech sound (not music-like, not steady noise)"


def _features(block: np.ndarray, rate_hz: int) -> _Features:
    """Measures of one block from a ~64 ms STFT over BAND_HZ.

    Flatness: geometric over arithmetic mean of each frame's power spectrum (median over
    frames). Steadiness: the same ratio taken over time per bin, after dividing by the bin's
    mean, median over bins: stationary noise of any colour gives the exponential distribution's
    0.56-0.6 while speech, calls and effects swing and score lower. Persistence: the share of
    tonal peaks found again within one bin in each of the next HOLD_HOPS frames: notes hold
    their pitch, voices glide, noise peaks are random. Changing: some quarter of the block has a
    spectrum unlike the next one's.
    """
    n_fft = 2 ** int(round(np.log2(0.064 * rate_hz)))  # ~64 ms: 16 Hz bins at 16 kHz
    hop = n_fft // 2
    if len(block) < n_fft + HOLD_HOPS * hop:
        return _Features(0.0, 0.0, 0.0, 0.0, False)
    starts = np.arange(0, len(block) - n_fft + 1, hop)
    frames = block[starts[:, None] + np.arange(n_fft)] * np.hanning(n_fft).astype(np.float32)
    freqs_hz = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    band = (freqs_hz >= BAND_HZ[0]) & (freqs_hz <= min(BAND_HZ[1], 0.45 * rate_hz))
    power = np.abs(np.fft.rfft(frames, axis=1)[:, band]).astype(np.float64) ** 2 + 1e-20
    flatness = np.exp(np.mean(np.log(power), 1)) / np.mean(power, 1)
    relative = power / np.mean(power, 0, keepdims=True)
    steadiness = np.exp(np.mean(np.log(relative), 0))  # the mean of ``relative`` is 1 per bin
    peaks = _tonal_peaks(power)
    # A peak is held when each of the next HOLD_HOPS frames has a peak within one bin of it.
    near = peaks.copy()
    near[:, 1:] |= peaks[:, :-1]
    near[:, :-1] |= peaks[:, 1:]
    held = peaks[:-HOLD_HOPS].copy()
    for lag in range(1, HOLD_HOPS + 1):
        held &= near[lag : len(near) - HOLD_HOPS + lag]
    quarters = [np.mean(q, 0) for q in np.array_split(power, 4) if len(q)]
    similarity = min(
        float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
        for a, b in zip(quarters[:-1], quarters[1:])
    )
    return _Features(
        flatness=float(np.median(flatness)),
        steadiness=float(np.median(steadiness)),
        persistence=float(np.sum(held) / max(1, np.sum(peaks[:-HOLD_HOPS]))),
        peaks_per_frame=float(np.mean(np.sum(peaks, 1))),
        changing=similarity < STEADY_SIMILARITY,
    )


def _tonal_peaks(power: np.ndarray) -> np.ndarray:
    """Local maxima standing PEAK_PROMINENCE over their neighbourhood (bins 3 to 8 away).

    Local, not global, so that the slope of pink or brown noise makes no peaks; a median, so
    that a neighbouring harmonic (or the other tone of a dial tone) does not hide a peak.
    """
    padded = np.pad(power, ((0, 0), (8, 8)), mode="edge")
    width = power.shape[1]
    around = np.median(
        [padded[:, 8 + d : 8 + d + width] for d in range(-8, 9) if abs(d) >= 3], axis=0
    )
    local_max = np.zeros_like(power, bool)
    local_max[:, 1:-1] = (power[:, 1:-1] > power[:, :-2]) & (power[:, 1:-1] >= power[:, 2:])
    loud = power > PEAK_RANGE * np.max(power, 1, keepdims=True)
    return local_max & loud & (power > PEAK_PROMINENCE * around)


# --- text --------------------------------------------------------------------------------------


def describe(analysis: AudioAnalysis) -> str:
    """One short line of plain text for an LLM: speech share, pauses, level, noise, sounds.

    Every token here is read before the first word of an answer (about 4 ms each for the 0.5B
    LLM on 2 cores), so only what is not said elsewhere: the duration and the speech's timing
    are in the transcript's header and timestamps, the noise floor is in the SNR. Bounded for
    long files: a list past MAX_LISTED spans shows only the longest ones.
    """
    a = analysis
    n = len(a.speech_spans)
    if n:
        stretches = f"{n} stretch{'es' * (n != 1)}"
        parts = [f"speech {a.speech_s:.1f} s ({a.speech_ratio:.0%}) in {stretches}"]
        if long_gaps := [s for s in a.silence_spans if s.duration_s >= 0.5]:
            parts.append(f"pauses over 0.5 s at {_span_list(long_gaps)}")
        level = f"loudness {a.loudness_dbfs:.0f} dBFS"
        if a.snr_db is not None:
            level += f", SNR {a.snr_db:.0f} dB ({_snr_word(a.snr_db)})"
        parts.append(level)
    else:
        parts = [f"no speech detected; level {a.loudness_dbfs:.0f} dBFS"]
    if a.clipping_ratio >= 1e-4:
        parts.append(f"clipping: {a.clipping_ratio:.2%} of samples at full scale")
    if heard := [s for s in a.sounds if s.kind != "silence"]:
        parts.append(f"other sounds: {_span_list(heard)}")
    elif a.sounds:
        parts.append(f"other sounds: none, {SILENCE} only")
    return "; ".join(parts)


def _span_list(spans: Sequence[Span]) -> str:
    """Spans as text; past MAX_LISTED, the longest ones in time order and a count of the rest."""
    shown = list(spans)
    if len(shown) > MAX_LISTED:
        shown = sorted(sorted(shown, key=lambda s: -s.duration_s)[: MAX_LISTED - 2])
    parts = []
    for s in shown:
        text = f"{s.start_s:.1f}–{s.end_s:.1f} s"
        # The label without its explanation in brackets: "likely music", "likely noise".
        parts.append(f"{text} {s.description.split(' (')[0]}" if isinstance(s, SoundSpan) else text)
    rest = len(spans) - len(shown)
    return ", ".join(parts) + (f" (and {rest} shorter)" if rest else "")


def _snr_word(snr_db: float) -> str:
    if snr_db >= 30:
        return "clean"
    if snr_db >= 15:
        return "some background noise"
    return "noisy" if snr_db >= 5 else "very noisy"
