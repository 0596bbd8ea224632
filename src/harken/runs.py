"""Started engine work as objects: a lazy event stream that holds a model lease, and its result.

Streaming is the primitive; a non-streaming answer is the collected stream.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from .errors import Cancelled
from .types import (
    Event,
    Finished,
    Progress,
    SegmentDone,
    TextDelta,
    Transcript,
    TranscriptInfo,
    Usage,
)


class CancelToken:
    """Set by whoever serves the caller (a client left); checked by the worker between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("the request was cancelled")


class _Run:
    """A started piece of engine work: a lazy event stream holding a model lease.

    The lease is held until the events are exhausted, ``close()`` is called, or the run is
    garbage-collected (a client that left before the first event must not pin a model).
    """

    def __init__(self, events: Iterator[Event], lease: ExitStack) -> None:
        self.events = events
        self._finalizer = weakref.finalize(self, lease.close)

    def close(self) -> None:
        self._finalizer()

    def iter_events(self) -> Iterator[Event]:
        """The events, releasing the model as soon as iteration stops for any reason."""
        try:
            yield from self.events
        finally:
            self.close()


class TranscriptionRun(_Run):
    """Eager metadata (language, duration) plus the lazy event stream; iterate it once."""

    def __init__(self, info: TranscriptInfo, events: Iterator[Event], lease: ExitStack) -> None:
        super().__init__(events, lease)
        self.info = info
        # Applied to the collected transcript: requested audio intelligence (speakers, ...).
        self.finish: Callable[[Transcript], Transcript] | None = None

    def collect(self, on_progress: Callable[[Progress], None] | None = None) -> Transcript:
        segments = []
        duration_s = self.info.duration_s  # long audio: the header's figure until decoded
        for event in self.iter_events():
            if isinstance(event, SegmentDone):
                segments.append(event.segment)
            elif isinstance(event, Progress) and on_progress is not None:
                on_progress(event)
            elif isinstance(event, Usage):
                duration_s = event.audio_s
        text = "".join(s.text for s in segments).strip()
        transcript = Transcript(
            text=text,
            language=self.info.language,
            language_probability=self.info.language_probability,
            duration_s=duration_s,
            segments=tuple(segments),
            task=self.info.task,
            model=self.info.model,
            language_probs=self.info.language_probs,
        )
        return transcript if self.finish is None else self.finish(transcript)


@dataclass(frozen=True)
class ChatResult:
    text: str
    usage: Usage
    finish_reason: str
    model: str


class ChatRun(_Run):
    """A started chat: the model that answers (after routing) and its lazy event stream."""

    def __init__(self, model: str, events: Iterator[Event], lease: ExitStack) -> None:
        super().__init__(events, lease)
        self.model = model

    def collect(self) -> ChatResult:
        parts: list[str] = []
        usage, reason = Usage(), "stop"
        for event in self.iter_events():
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finished):
                reason = event.reason
        return ChatResult("".join(parts), usage, reason, self.model)
