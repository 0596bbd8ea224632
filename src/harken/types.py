"""Canonical types: what every dialect parses into and every engine speaks.

Times are seconds as floats named ``*_s``; sample counts ``*_samples``; rates ``*_hz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

import numpy as np

if TYPE_CHECKING:  # the audio-intelligence results a transcript may carry (harken.intelligence)
    from .audio.analyze import AudioAnalysis
    from .audio.enhance import Enhancement
    from .audio.sentiment import Sentiment

SAMPLE_RATE_HZ = 16_000  # every engine sees 16 kHz mono float32
BYTES_PER_SAMPLE = 4  # float32

Task = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class AudioSource:
    """What the caller sent, before it was made canonical."""

    container: str  # e.g. "wav", "mp3", "ogg"
    codec: str  # e.g. "pcm_s16le", "mp3", "vorbis"
    sample_rate_hz: int
    channels: int
    size_bytes: int


@dataclass(frozen=True, eq=False)
class Audio:
    """Canonical audio: float32 mono samples in [-1, 1] at ``sample_rate_hz``."""

    samples: np.ndarray
    sample_rate_hz: int = SAMPLE_RATE_HZ
    source: AudioSource | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float = 1.0
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    language: str | None = None
    seek: int = 0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    # Set on request by harken.intelligence: this segment's own language candidates (best
    # first, ISO-639-1 codes) and its text's sentiment.
    language_probs: tuple[tuple[str, float], ...] = ()
    sentiment: Sentiment | None = None


@dataclass(frozen=True)
class TranscriptInfo:
    """Known before the first segment: language and duration (faster-whisper's ``info``)."""

    language: str | None
    language_probability: float
    duration_s: float
    task: Task = "transcribe"
    model: str = ""
    # Top language candidates, most likely first: (code, probability).
    language_probs: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    language_probability: float
    duration_s: float
    segments: tuple[Segment, ...]
    task: Task = "transcribe"
    model: str = ""
    # Top language candidates for the file, most likely first: (code, probability).
    language_probs: tuple[tuple[str, float], ...] = ()
    # Set on request by harken.intelligence (None when not asked for).
    analysis: AudioAnalysis | None = None  # of the audio as uploaded, before any denoising
    enhancement: Enhancement | None = None  # what denoising did
    sentiment: Sentiment | None = None  # overall, duration-weighted

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)


@dataclass(frozen=True)
class TranscribeOptions:
    """Options for one transcription; validated once, here (whisper's ``DecodingOptions``)."""

    task: Task = "transcribe"
    language: str | None = None  # ISO-639-1; None detects
    prompt: str | None = None
    # A single temperature, or the fallback ladder tried in order when decoding fails the
    # compression-ratio / log-prob guards (OpenAI's ``temperature=0`` means the ladder).
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    word_timestamps: bool = True
    beam_size: int | None = None  # None: the server's setting (HARKEN_WHISPER__BEAM_SIZE)
    # Silero VAD drops non-speech before decoding: Whisper invents words on noise otherwise.
    vad_filter: bool = True
    # > 1: decode this many VAD-cut chunks at once (faster-whisper's batched pipeline) for audio
    # longer than one window; 0 or 1 decodes window after window.
    batch_size: int | None = None  # None: the server's setting (HARKEN_WHISPER__BATCH_SIZE)

    def __post_init__(self) -> None:
        if self.task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', not {self.task!r}.")
        if not self.temperature:
            raise ValueError("temperature needs at least one value.")
        for t in self.temperature:
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"temperature must be between 0 and 1, got {t}.")
        if self.batch_size is not None and self.batch_size < 0:
            raise ValueError(f"batch_size must be 0 or more, got {self.batch_size}.")
        if self.beam_size is not None and self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}.")


# --- chat ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True, eq=False)
class AudioPart:
    audio: Audio


Part = Union[TextPart, AudioPart]
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    max_tokens: int = 1000
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("messages must contain at least one message.")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be between 0 and 2, got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")


# --- events: the only thing that flows back ----------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class SegmentDone:
    segment: Segment


@dataclass(frozen=True)
class Progress:
    done_s: float
    total_s: float


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_s: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Finished:
    reason: Literal["stop", "length", "error"] = "stop"
    model: str = ""


Event = Union[TextDelta, SegmentDone, Progress, Usage, Finished]
