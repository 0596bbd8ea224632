"""The CPU default for reasoning over audio: Whisper + audio analysis -> a text LLM.

Each audio in the conversation is transcribed (with timestamps and language) and analysed
(speech, pauses, levels, noise, non-speech sounds, sentiment); the text LLM reads that as
"Audio 1", "Audio 2"... Results are cached by audio content, so follow-up turns and repeated
audio skip the ASR. A request that only asks for a transcript gets Whisper's words verbatim.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace
from typing import Any

from ..languages import language_name
from ..types import (
    Audio,
    AudioPart,
    ChatRequest,
    Event,
    Finished,
    Message,
    Segment,
    TextDelta,
    TextPart,
    TranscribeOptions,
    Transcript,
    Usage,
)
from .base import CancelCheck, ChatCaps, Transcriber, never_cancelled
from .condense import condense
from .intent import is_transcription_request
from .llm import LlamaEngine, Sampling
from .prompts import (
    SYSTEM_PROMPT,
    TRANSLATE_SYSTEM_PROMPT,
    AudioNotes,
    render_audio,
    translation_prompt,
)

# ``manager.lease(model_id)``: a context manager yielding (entry, loaded engine).
Lease = Callable[[str], AbstractContextManager[tuple[Any, Any]]]

MEMO_CAPACITY = 64  # audios remembered; a note is a few KB of text, the audio is not kept


class AudioMemo:
    """A bounded, thread-safe LRU of ``AudioNotes`` keyed by (ASR model, audio content hash)."""

    def __init__(self, capacity: int = MEMO_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}.")
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], AudioNotes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(asr_model: str, audio: Audio) -> tuple[str, str]:
        samples = audio.samples.astype("float32", copy=False)
        digest = hashlib.sha256(samples.tobytes()).hexdigest()
        return asr_model, f"{digest}@{audio.sample_rate_hz}"

    def get(self, key: tuple[str, str]) -> AudioNotes | None:
        with self._lock:
            notes = self._items.get(key)
            if notes is not None:
                self._items.move_to_end(key)
            return notes

    def put(self, key: tuple[str, str], notes: AudioNotes) -> None:
        with self._lock:
            self._items[key] = notes
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class CascadeEngine:
    """``ChatEngine`` over a Transcriber and a ``LlamaEngine``, both leased per request."""

    def __init__(
        self,
        lease: Lease,
        *,
        name: str,
        asr_model: str,
        llm_model: str,
        memo: AudioMemo | None = None,
        asr_options: TranscribeOptions | None = None,
        max_audio_s: float = 6 * 3600.0,
    ) -> None:
        self.name = name
        self.asr_model = asr_model
        self.llm_model = llm_model
        self.memo = memo if memo is not None else AudioMemo()  # an empty memo is falsy
        # Segment timestamps suffice for [mm:ss] lines; word timestamps cost ASR time.
        self.asr_options = asr_options or TranscribeOptions(word_timestamps=False, beam_size=1)
        self._lease = lease
        self.caps = ChatCaps(audio_per_message=64, max_audio_s=max_audio_s, native_audio=False)

    # --- chat -----------------------------------------------------------------------------------

    def chat(self, request: ChatRequest, cancel: CancelCheck = never_cancelled) -> Iterator[Event]:
        """Transcribe and analyse (eagerly, so bad input fails before the stream), then stream.

        Raises ``PayloadTooLarge`` here when the conversation does not fit the LLM's context.
        """
        audios = [p.audio for m in request.messages for p in m.parts if isinstance(p, AudioPart)]
        notes = [self.notes(audio, cancel) for audio in audios]
        messages = to_llm_messages(request.messages, notes)
        stack = ExitStack()
        try:
            _, llm = stack.enter_context(self._lease(self.llm_model))
            audio_s = sum(a.duration_s for a in audios)
            verbatim = _verbatim_notes(request.messages, notes)
            if verbatim is not None:
                events = self._verbatim(llm, messages, verbatim, audio_s)
            else:
                sampling = Sampling(
                    max_tokens=request.max_tokens, temperature=request.temperature,
                    top_p=request.top_p, stop=request.stop, seed=request.seed,
                )  # fmt: skip
                room = llm.n_ctx - request.max_tokens

                def fits(candidate: list[AudioNotes]) -> bool:
                    return llm.prompt_tokens(to_llm_messages(request.messages, candidate)) <= room

                spent = Usage()
                if not fits(notes):  # longer than the context: answer over part summaries
                    notes, spent = condense(notes, llm, fits, cancel)
                    messages = to_llm_messages(request.messages, notes)
                events = self._answer(llm.chat(messages, sampling, cancel), audio_s, spent)
        except BaseException:
            stack.close()
            raise
        return LeasedEvents(events, stack)

    def _answer(
        self, events: Iterator[Event], audio_s: float, spent: Usage = Usage()
    ) -> Iterator[Event]:
        for event in events:
            if isinstance(event, Usage):  # summaries of long audio count as real work
                event = Usage(event.prompt_tokens + spent.prompt_tokens,
                              event.completion_tokens + spent.completion_tokens, audio_s)  # fmt: skip
            elif isinstance(event, Finished):
                event = replace(event, model=self.name)
            yield event

    def _verbatim(
        self, llm: LlamaEngine, messages: list[dict[str, str]], notes: list[AudioNotes],
        audio_s: float,
    ) -> Iterator[Event]:  # fmt: skip
        """Whisper's text as the answer, one delta per segment, with real token counts."""
        prompt_tokens = llm.prompt_tokens(messages)  # what the LLM would have read
        texts = [n.transcript.text.strip() for n in notes]
        answer = "\n\n".join(t for t in texts if t)
        pieces = [s.text for n in notes for s in n.transcript.segments]
        return _verbatim_events(answer, pieces, prompt_tokens, llm.count_tokens(answer),
                                audio_s, self.name)  # fmt: skip

    def warm(self) -> None:
        """Load the ASR model and the LLM now, and prime the LLM with the system prompt (what
        every first question starts with), so the first request waits for neither."""
        with self._lease(self.asr_model), self._lease(self.llm_model) as (_, llm):
            llm.prime([{"role": "system", "content": SYSTEM_PROMPT}])

    # --- audio notes ----------------------------------------------------------------------------

    def notes(
        self, audio: Audio, cancel: CancelCheck = never_cancelled, asr_model: str | None = None
    ) -> AudioNotes:
        """Transcript and analysis of one audio, from the memo when this audio was seen before."""
        asr_model = asr_model or self.asr_model
        key = self.memo.key(asr_model, audio)
        found = self.memo.get(key)
        if found is not None:
            return found
        transcript = self.transcribe(audio, self.asr_options, cancel, asr_model)
        notes = analyse(audio, transcript)
        self.memo.put(key, notes)
        return notes

    def transcribe(
        self, audio: Audio, opts: TranscribeOptions, cancel: CancelCheck, asr_model: str
    ) -> Transcript:
        with self._lease(asr_model) as (_, asr):
            engine: Transcriber = asr
            segments, info = engine.transcribe(audio, opts, cancel)
            collected = tuple(segments)
        return Transcript(
            text="".join(s.text for s in collected).strip(),
            language="en" if opts.task == "translate" else info.language,
            language_probability=info.language_probability,
            duration_s=info.duration_s,
            segments=collected,
            task=opts.task,
            model=info.model,
        )

    # --- translation ----------------------------------------------------------------------------

    def translate(
        self, audio: Audio, target: str, cancel: CancelCheck = never_cancelled,
        *, asr_model: str | None = None, max_tokens: int = 1024,
    ) -> Transcript:  # fmt: skip
        """The speech translated into ``target`` (a language code) by the LLM, line by line."""
        source = self.notes(audio, cancel, asr_model).transcript
        if not source.segments:
            return replace(source, language=target, task="translate")
        name = language_name(target).title()
        messages = [
            {"role": "system", "content": TRANSLATE_SYSTEM_PROMPT},
            {"role": "user", "content": translation_prompt(source.segments, name)},
        ]
        with self._lease(self.llm_model) as (_, llm):
            events = llm.chat(messages, Sampling(max_tokens=max_tokens), cancel)
            text = "".join(e.text for e in events if isinstance(e, TextDelta)).strip()
        segments = _numbered_segments(text, source)
        return replace(
            source,
            text=" ".join(s.text.strip() for s in segments),
            language=target,
            segments=segments,
            task="translate",
            model=f"{source.model}+{self.llm_model}",
        )

    def close(self) -> None:
        """Nothing of its own to free: the ASR and LLM are the manager's."""


# --- helpers ---------------------------------------------------------------------------------


class LeasedEvents(Iterator[Event]):
    """An event iterator that releases its model leases when done, closed or collected."""

    def __init__(self, events: Iterator[Event], lease: ExitStack) -> None:
        self._events = events
        self._finalizer = weakref.finalize(self, lease.close)

    def __next__(self) -> Event:
        try:
            return next(self._events)
        except BaseException:  # exhausted, cancelled or failed: the models are free again
            self._finalizer()
            raise

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if callable(close):
            close()
        self._finalizer()


def analyse(audio: Audio, transcript: Transcript) -> AudioNotes:
    """Acoustic analysis and per-segment sentiment for one transcribed audio."""
    from ..audio.analyze import analyze, describe
    from ..audio.sentiment import overall, sentiment

    analysis = describe(analyze(audio.samples, audio.sample_rate_hz))
    scores = tuple(sentiment(s.text).compound for s in transcript.segments)
    total = overall([(s.text, s.end_s - s.start_s) for s in transcript.segments])
    # A score says something only when the text leans one way.
    label = total.label if total.label == "neutral" else f"{total.label} ({total.compound:+.2f})"
    return AudioNotes(transcript, analysis, scores, label)


def to_llm_messages(messages: tuple[Message, ...], notes: list[AudioNotes]) -> list[dict[str, str]]:
    """OpenAI-style messages for the LLM: each audio part becomes its rendered notes.

    The caller's system messages are kept after the cascade's own instructions.
    """
    system = [SYSTEM_PROMPT]
    out: list[dict[str, str]] = []
    number = 0
    for message in messages:
        if message.role == "system":
            system.append(message.text)
            continue
        chunks = []
        for part in message.parts:
            if isinstance(part, TextPart):
                chunks.append(part.text)
            else:
                chunks.append(render_audio(number + 1, notes[number]))
                number += 1
        out.append({"role": message.role, "content": "\n\n".join(c for c in chunks if c)})
    return [{"role": "system", "content": "\n\n".join(system)}, *out]


def _verbatim_notes(
    messages: tuple[Message, ...], notes: list[AudioNotes]
) -> list[AudioNotes] | None:
    """The notes to return verbatim when the last user turn only asks for a transcript.

    The audio of that turn, or else the latest audio of the conversation; None when the turn
    asks for something else or there is no audio at all.
    """
    at = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
    if at is None or not notes or not is_transcription_request(messages[at].text):
        return None
    own = sum(isinstance(p, AudioPart) for p in messages[at].parts)
    if own == 0:
        return notes[-1:]
    before = sum(isinstance(p, AudioPart) for m in messages[:at] for p in m.parts)
    return notes[before : before + own]


def _verbatim_events(
    answer: str, pieces: list[str], prompt_tokens: int, completion_tokens: int, audio_s: float,
    model: str,
) -> Iterator[Event]:  # fmt: skip
    """Stream ``answer`` in segment-sized deltas (their concatenation is exactly ``answer``)."""
    sent = 0
    for piece in pieces:
        chunk = piece.strip()
        at = answer.find(chunk, sent) if chunk else -1
        if at >= 0:
            yield TextDelta(answer[sent : at + len(chunk)])
            sent = at + len(chunk)
    if sent < len(answer):
        yield TextDelta(answer[sent:])
    yield Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, audio_s=audio_s)
    yield Finished("stop", model=model)


_NUMBERED = re.compile(r"^\s*(\d+)\s*[.):-]\s*(.*\S)\s*$")


def _numbered_segments(text: str, source: Transcript) -> tuple[Segment, ...]:
    """Translated lines back onto the source segments' timestamps.

    When the LLM did not keep one line per segment, the whole translation becomes one segment
    spanning the speech (the text matters more than its alignment).
    """
    lines = [m for m in (_NUMBERED.match(line) for line in text.splitlines()) if m]
    numbers = [int(m.group(1)) for m in lines]
    if numbers == list(range(1, len(source.segments) + 1)):
        return tuple(
            replace(seg, text=" " + m.group(2), words=(), tokens=())
            for seg, m in zip(source.segments, lines, strict=True)
        )
    plain = " ".join(m.group(2) for m in lines) if lines else " ".join(text.split())
    first, last = source.segments[0], source.segments[-1]
    return (replace(first, end_s=last.end_s, text=" " + plain, words=(), tokens=()),)
