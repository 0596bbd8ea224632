"""The two engine protocols. Capabilities are data, not ``isinstance`` checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..types import Audio, ChatRequest, Event, Segment, TranscribeOptions, TranscriptInfo

# Called between units of work; raises ``Cancelled`` when the caller went away.
CancelCheck = Callable[[], None]


def never_cancelled() -> None:
    return None


@dataclass(frozen=True)
class TranscriberCaps:
    languages: frozenset[str] | None  # None: any Whisper language
    can_translate: bool
    word_timestamps: bool
    max_window_s: float  # one decoding window; longer audio is handled by the engine or service
    # Audio up to this long the engine decodes whole itself, window after window with the
    # previous window's text as context (faster-whisper's long-form decoding). Longer audio,
    # and batched decoding, go through the service's VAD chunking and stitching (longform.py).
    long_form_s: float = 0.0


@dataclass(frozen=True)
class ChatCaps:
    audio_per_message: int
    max_audio_s: float
    native_audio: bool  # False: audio reaches the model as text (the cascade)


@runtime_checkable
class Transcriber(Protocol):
    caps: TranscriberCaps

    def transcribe(
        self, audio: Audio, opts: TranscribeOptions, cancel: CancelCheck = never_cancelled
    ) -> tuple[Iterator[Segment], TranscriptInfo]:
        """Lazy segments plus eager metadata, as faster-whisper does."""
        ...


@runtime_checkable
class ChatEngine(Protocol):
    caps: ChatCaps

    def chat(self, request: ChatRequest, cancel: CancelCheck = never_cancelled) -> Iterator[Event]:
        ...
