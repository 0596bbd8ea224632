"""Audio intelligence on request: denoising before the engine, and after it speakers per segment
and word, language per segment, sentiment per segment and overall, and the audio analysis.

``prepare`` runs before transcription (it may change the audio the engine hears); ``enrich``
runs on the finished transcript. The service calls both; nothing here knows HTTP.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .audio.analyze import analyze
from .audio.diarize import SpeakerCount, SpeakerTurn, diarize
from .audio.langid import (
    CachedDetector,
    Detector,
    LanguageProbs,
    combine,
    span_languages,
    whisper_detector,
)
from .audio.sentiment import overall, sentiment
from .audio.vad import Span, speech_spans
from .errors import InvalidRequest
from .types import SAMPLE_RATE_HZ, Audio, Segment, TranscribeOptions, Transcript, Word

if TYPE_CHECKING:
    from .audio.enhance import Enhancement


@dataclass(frozen=True)
class IntelligenceOptions:
    """What to find out besides the words; everything off by default (it all costs time)."""

    analysis: bool = False  # speech/silence spans, levels, SNR, non-speech sound labels
    denoise: bool = False  # RNNoise before the engine; SNR before and after in ``enhancement``
    diarize: bool = False  # speaker labels per segment and word
    speakers: SpeakerCount = field(default_factory=SpeakerCount)
    segment_languages: bool = False  # language candidates per segment (and per file)
    sentiment: bool = False  # per segment and overall

    @property
    def active(self) -> bool:
        return self.analysis or self.denoise or self.diarize or self.segment_languages or (
            self.sentiment
        )

    def transcribe_options(self, opts: TranscribeOptions) -> TranscribeOptions:
        """Speaker labels go on words, and speaker changes split segments: words are needed."""
        return replace(opts, word_timestamps=True) if self.diarize else opts


@dataclass(frozen=True, eq=False)
class Prepared:
    """The audio as uploaded, the audio the engine hears, and the speech found in the first."""

    original: Audio
    audio: Audio
    speech: tuple[Span, ...]
    enhancement: Enhancement | None = None  # when denoised


def prepare(audio: Audio, opts: IntelligenceOptions) -> Prepared:
    """Find the speech once (every later step reuses it) and denoise when asked."""
    if audio.sample_rate_hz != SAMPLE_RATE_HZ:
        raise ValueError(f"expected {SAMPLE_RATE_HZ} Hz audio, got {audio.sample_rate_hz} Hz.")
    speech = tuple(speech_spans(audio.samples, audio.sample_rate_hz))
    if not opts.denoise:
        return Prepared(audio, audio, speech)
    from .audio.enhance import denoise_with_report  # pyrnnoise only when asked for

    clean, report = denoise_with_report(audio.samples, audio.sample_rate_hz, speech)
    heard = Audio(clean, audio.sample_rate_hz, audio.source)
    return Prepared(audio, heard, speech, report)


Redecode = Callable[[Audio, str], Sequence[Segment]]
"""Transcribe a stretch of audio in a given language (times from the stretch's start)."""


def enrich(
    t: Transcript,
    prepared: Prepared,
    opts: IntelligenceOptions,
    detect: Detector | None = None,
    redecode: Redecode | None = None,
) -> Transcript:
    """``t`` with what ``opts`` asks for filled in.

    ``detect`` is needed for segment languages; with ``redecode`` too, stretches spoken in
    another language than the one the transcript was decoded in are transcribed again in
    their own (Whisper decodes a whole file in the language of its first 30 s).
    """
    rate = prepared.original.sample_rate_hz
    segments = list(t.segments)
    out = replace(t, enhancement=prepared.enhancement)
    if opts.analysis:
        out = replace(out, analysis=analyze(prepared.original.samples, rate, prepared.speech))
    if opts.segment_languages:
        if detect is None:
            raise InvalidRequest("this model cannot identify languages.", param="model")
        out, segments = _languages(out, segments, prepared, detect, redecode)
    if opts.diarize:
        turns = diarize(
            prepared.original.samples, rate, speakers=opts.speakers, speech=prepared.speech
        )
        segments = label_speakers(segments, turns)
    if opts.sentiment:
        segments = [replace(s, sentiment=sentiment(s.text)) for s in segments]
        out = replace(out, sentiment=overall([(s.text, s.end_s - s.start_s) for s in segments]))
    text = "".join(s.text for s in segments).strip()
    return replace(out, segments=tuple(segments), text=text)


def _languages(
    t: Transcript,
    segments: list[Segment],
    prepared: Prepared,
    detect: Detector,
    redecode: Redecode | None,
) -> tuple[Transcript, list[Segment]]:
    """Language ID on each speech span (the VAD's); each segment takes its span's answer.

    Spans, not Whisper's segments, because a segment decoded in the wrong language may be
    empty or mistimed; the spans are where the speech really is.
    """
    audio = prepared.audio
    spans = list(prepared.speech)
    found = span_languages(audio.samples, spans, detect, audio.sample_rate_hz)
    if not any(found):  # nothing said: the whole file is all there is to go on
        return replace(t, language_probs=t.language_probs or detect(audio.samples)), segments
    if redecode is not None and t.language:
        segments = _redecode_other_languages(segments, spans, found, audio, t.language, redecode)
    labelled = []
    for s in segments:
        k = _most_overlapping(spans, s.start_s, s.end_s)
        probs = found[k]
        labelled.append(replace(s, language=probs[0][0] if probs else s.language,
                                language_probs=probs))  # fmt: skip
    file_probs = combine([(p, sp.duration_s) for p, sp in zip(found, spans)])
    if t.task == "translate":  # the transcript's language is the target, English
        return replace(t, language_probs=file_probs), labelled
    code, p = file_probs[0]
    return replace(t, language=code, language_probability=p, language_probs=file_probs), labelled


def _redecode_other_languages(
    segments: list[Segment],
    spans: list[Span],
    found: list[LanguageProbs],
    audio: Audio,
    decoded_in: str,
    redecode: Redecode,
) -> list[Segment]:
    """Runs of spans in another language than ``decoded_in``, transcribed again in theirs."""
    runs: list[tuple[float, float, str]] = []
    for span, probs in zip(spans, found):
        code = probs[0][0] if probs else decoded_in
        if runs and runs[-1][2] == code:
            runs[-1] = (runs[-1][0], span.end_s, code)
        else:
            runs.append((span.start_s, span.end_s, code))
    rate = audio.sample_rate_hz
    for start_s, end_s, code in runs:
        if code == decoded_in:
            continue
        clip = Audio(audio.samples[round(start_s * rate) : round(end_s * rate)], rate)
        again = [_shifted(s, start_s) for s in redecode(clip, code)]
        # What the first pass made of this stretch goes: it was heard in the wrong language.
        segments = [s for s in segments if not start_s <= (s.start_s + s.end_s) / 2 <= end_s]
        segments += again
    segments.sort(key=lambda s: s.start_s)
    return [replace(s, id=i) for i, s in enumerate(segments)]


def _shifted(s: Segment, offset_s: float) -> Segment:
    words = tuple(replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s)
                  for w in s.words)  # fmt: skip
    return replace(s, start_s=s.start_s + offset_s, end_s=s.end_s + offset_s, words=words)


def _most_overlapping(spans: Sequence[Span], start_s: float, end_s: float) -> int:
    starts = np.array([sp.start_s for sp in spans])
    ends = np.array([sp.end_s for sp in spans])
    overlap = np.minimum(ends, end_s) - np.maximum(starts, start_s)
    best = int(np.argmax(overlap))
    if overlap[best] > 0:
        return best
    middle = (start_s + end_s) / 2
    return int(np.argmin(np.maximum(starts - middle, middle - ends)))


# --- speakers ------------------------------------------------------------------------------------


def label_speakers(segments: Sequence[Segment], turns: Sequence[SpeakerTurn]) -> list[Segment]:
    """Speakers on words and segments; a segment whose words change speaker is split there.

    A word takes the speaker it overlaps most (the nearest turn when it falls in a gap the VAD
    left out); a segment without words, the speaker it overlaps most. Split parts get fresh
    ids; token ids cannot be split by time and stay with the first part.
    """
    if not turns:
        return list(segments)
    starts = np.array([u.start_s for u in turns])
    ends = np.array([u.end_s for u in turns])
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            speaker = _speaker_of(seg.start_s, seg.end_s, starts, ends, turns)
            out.append(replace(seg, speaker=speaker))
            continue
        words = [replace(w, speaker=_speaker_of(w.start_s, w.end_s, starts, ends, turns))
                 for w in seg.words]  # fmt: skip
        out.extend(_split(seg, words))
    return [replace(s, id=i) for i, s in enumerate(out)]


def _speaker_of(
    start_s: float, end_s: float, starts: np.ndarray, ends: np.ndarray, turns: Sequence[SpeakerTurn]
) -> str:
    overlap = np.minimum(ends, end_s) - np.maximum(starts, start_s)
    best = int(np.argmax(overlap))
    if overlap[best] > 0:
        return turns[best].speaker
    middle = (start_s + end_s) / 2
    distance = np.maximum(starts - middle, middle - ends)
    return turns[int(np.argmin(distance))].speaker


def _split(seg: Segment, words: list[Word]) -> list[Segment]:
    """``seg`` cut where its words' speaker changes; one part keeps the segment as it was."""
    runs: list[list[Word]] = [[words[0]]]
    for w in words[1:]:
        if w.speaker == runs[-1][-1].speaker:
            runs[-1].append(w)
        else:
            runs.append([w])
    if len(runs) == 1:
        return [replace(seg, words=tuple(words), speaker=words[0].speaker)]
    parts = []
    for k, run in enumerate(runs):
        parts.append(
            replace(
                seg,
                start_s=seg.start_s if k == 0 else run[0].start_s,
                end_s=seg.end_s if k == len(runs) - 1 else run[-1].end_s,
                text="".join(w.text for w in run),
                words=tuple(run),
                speaker=run[0].speaker,
                tokens=seg.tokens if k == 0 else (),
            )
        )
    return parts


# --- engines -------------------------------------------------------------------------------------

_detectors: weakref.WeakKeyDictionary[Any, CachedDetector] = weakref.WeakKeyDictionary()
_detectors_lock = threading.Lock()


def detector_for(engine: Any) -> Detector | None:
    """A cached language detector on a multilingual Whisper engine; None for any other engine."""
    model = getattr(engine, "model", None)
    caps = getattr(engine, "caps", None)
    if model is None or not hasattr(model, "detect_language"):
        return None
    if caps is not None and not getattr(caps, "can_translate", True):
        return None  # an English-only model knows one language
    with _detectors_lock:
        found = _detectors.get(engine)
        if found is None:
            found = _detectors[engine] = CachedDetector(whisper_detector(model))
    return found


def check_engine(opts: IntelligenceOptions, engine: Any, model_id: str) -> None:
    """Refuse up front what the engine cannot do, before any audio is decoded by it."""
    if opts.segment_languages and detector_for(engine) is None:
        raise InvalidRequest(
            f"model '{model_id}' cannot identify languages (it knows one language); "
            "use a multilingual model such as 'whisper-base'.",
            param="model",
        )
