"""The remote engine: any OpenAI-compatible upstream (vLLM first) behind harken's protocols.

Transcription: the service cuts long audio at pauses into chunks within the upstream model's
window (``longform.py`` with ``audio/segment.py``) and hands them over together
(``transcribe_chunks``); they go out concurrently as multipart ``/v1/audio/transcriptions``
requests, so a vLLM cluster batches them, and come back in order for the service to stitch.
Chat: audio goes upstream as OpenAI ``input_audio`` (base64 WAV) and the upstream's
``chat.completion.chunk`` stream comes back as canonical events. ``upstreams.py`` spreads the
requests over several servers and retries on another when one fails.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal

import httpx
import numpy as np

from ..audio.encode import wav_bytes
from ..audio.merge import ChunkResult
from ..audio.segment import Chunk, plan_chunks
from ..audio.vad import Span, speech_probabilities
from ..errors import InvalidRequest
from ..languages import normalize_language
from ..types import (
    Audio,
    AudioPart,
    ChatRequest,
    Event,
    Finished,
    Message,
    Segment,
    TextDelta,
    TranscribeOptions,
    TranscriptInfo,
    Usage,
    Word,
)
from .base import CancelCheck, ChatCaps, TranscriberCaps, never_cancelled
from .upstreams import UpstreamError, UpstreamPool

log = logging.getLogger(__name__)

WAIT_POLL_S = 0.25  # how often a wait for an upstream answer checks for cancellation
TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"
CHAT = "/v1/chat/completions"


def split_audio(audio: Audio, window_s: float) -> list[Chunk]:
    """All of ``audio`` (nothing dropped: the model may be asked about more than speech) in
    chunks within ``window_s``, cut at the quietest points; short audio needs no VAD."""
    if audio.duration_s <= window_s:
        return [Chunk(0.0, audio.duration_s)]
    probs = speech_probabilities(audio.samples, audio.sample_rate_hz)
    return plan_chunks([Span(0.0, audio.duration_s)], probs, audio.duration_s, window_s)


def _slice(audio: Audio, chunk: Chunk) -> np.ndarray:
    rate = audio.sample_rate_hz
    return audio.samples[round(chunk.start_s * rate) : round(chunk.end_s * rate)]


# --- transcription ------------------------------------------------------------------------------


def parse_verbose(body: Any, duration_s: float) -> tuple[list[Segment], str | None]:
    """An OpenAI ``verbose_json`` answer for ``duration_s`` of audio as canonical segments.

    Times stay relative to the audio sent, clamped to it. Words (a top-level list in OpenAI's
    shape) go back into the segment they end in, with the leading space Whisper's words carry.
    """
    if not isinstance(body, dict) or not isinstance(body.get("text", ""), str):
        raise UpstreamError(f"the upstream answered something that is not verbose_json: "
                            f"{str(body)[:200]!r}")  # fmt: skip
    language = _language(body.get("language"))

    def at(value: Any) -> float:
        return min(max(float(value or 0.0), 0.0), duration_s)

    raw_segments = body.get("segments") or []
    if not raw_segments and str(body.get("text", "")).strip():  # a server without segments
        raw_segments = [{"start": 0.0, "end": duration_s, "text": body["text"]}]
    words = [Word(at(w.get("start")), at(w.get("end")), " " + str(w.get("word", "")).strip(),
                  float(w.get("probability", 1.0)))
             for w in body.get("words") or []]  # fmt: skip
    segments: list[Segment] = []
    for n, s in enumerate(raw_segments):
        start_s, end_s = at(s.get("start")), at(s.get("end"))
        take = len(words) if n == len(raw_segments) - 1 else next(
            (i for i, w in enumerate(words) if (w.start_s + w.end_s) / 2 >= end_s), len(words))
        mine, words = tuple(words[:take]), words[take:]
        segments.append(Segment(
            id=n, start_s=start_s, end_s=end_s, text=str(s.get("text", "")), words=mine,
            language=language, seek=int(s.get("seek", 0)), tokens=tuple(s.get("tokens") or ()),
            temperature=float(s.get("temperature") or 0.0),
            avg_logprob=float(s.get("avg_logprob") or 0.0),
            compression_ratio=float(s.get("compression_ratio") or 0.0),
            no_speech_prob=float(s.get("no_speech_prob") or 0.0),
        ))  # fmt: skip
    return segments, language


def _language(value: Any) -> str | None:
    # OpenAI reports a name ("english"), vLLM a code ("en"); harken's engines speak codes.
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_language(value)
    except InvalidRequest:
        return None


class RemoteTranscriber:
    """``Transcriber`` (and longform's ``ChunkTranscriber``) over upstream servers."""

    def __init__(self, pool: UpstreamPool, *, name: str, upstream_model: str,
                 window_s: float = 30.0, max_concurrency: int = 8) -> None:  # fmt: skip
        self.name = name
        self.pool = pool
        self.upstream_model = upstream_model
        # Shared by every request for this model: the bound holds across callers, not per call.
        self._executor = ThreadPoolExecutor(max_concurrency, thread_name_prefix=f"remote-{name}")
        # The window tells the service how long the chunks it cuts for us may be.
        self.caps = TranscriberCaps(languages=None, can_translate=True, word_timestamps=True,
                                    max_window_s=window_s)  # fmt: skip

    def transcribe(
        self, audio: Audio, opts: TranscribeOptions, cancel: CancelCheck = never_cancelled
    ) -> tuple[Iterator[Segment], TranscriptInfo]:
        """Audio within the window: one upstream request."""
        segments, language = _wait(self._executor.submit(self._one, audio, opts), cancel)
        info = self._info(opts.language or language, audio.duration_s, opts)
        return iter(segments), info

    def transcribe_chunks(
        self, audio: Audio, chunks: Sequence[Chunk], opts: TranscribeOptions, cancel: CancelCheck
    ) -> tuple[Iterator[ChunkResult], TranscriptInfo]:
        """Every chunk is sent at once (bounded by ``max_concurrency``); results come back in
        order, times relative to each chunk. The language is the first chunk's (eager)."""
        futures = [
            self._executor.submit(self._one, Audio(_slice(audio, c), audio.sample_rate_hz), opts)
            for c in chunks
        ]
        try:
            language = opts.language
            if language is None and futures:
                language = _wait(futures[0], cancel)[1]
        except BaseException:
            _cancel_all(futures)
            raise
        return self._results(chunks, futures, cancel), self._info(language, audio.duration_s, opts)

    def _results(self, chunks: Sequence[Chunk], futures: list[Future[Any]],
                 cancel: CancelCheck) -> Iterator[ChunkResult]:  # fmt: skip
        try:
            for chunk, future in zip(chunks, futures):
                yield ChunkResult(chunk, tuple(_wait(future, cancel)[0]))
        finally:  # the caller left or a chunk failed: do not send what is still queued
            _cancel_all(futures)

    def _info(
        self, language: str | None, duration_s: float, opts: TranscribeOptions
    ) -> TranscriptInfo:
        return TranscriptInfo(language=language, language_probability=1.0 if language else 0.0,
                              duration_s=duration_s, task=opts.task, model=self.name)  # fmt: skip

    def _one(self, audio: Audio, opts: TranscribeOptions) -> tuple[list[Segment], str | None]:
        fields: dict[str, Any] = {
            "model": self.upstream_model,
            "response_format": "verbose_json",
            # A ladder (temperature 0 in OpenAI's API) lets the upstream fall back on its own.
            "temperature": str(opts.temperature[0] if len(opts.temperature) == 1 else 0.0),
            "timestamp_granularities[]": ["segment", "word"][: 2 if opts.word_timestamps else 1],
        }  # fmt: skip
        if opts.prompt:
            fields["prompt"] = opts.prompt
        if opts.language and opts.task == "transcribe":  # a translation's language is its target
            fields["language"] = opts.language
        files = {"file": ("audio.wav", wav_bytes(audio.samples, audio.sample_rate_hz), "audio/wav")}
        path = TRANSLATIONS if opts.task == "translate" else TRANSCRIPTIONS
        return self.pool.request(path, lambda r: parse_verbose(_json(r), audio.duration_s),
                                 data=fields, files=files)  # fmt: skip

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.pool.close()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise UpstreamError(f"the upstream answered non-JSON: {response.text[:200]!r}") from exc


def _wait(future: Future[Any], cancel: CancelCheck) -> Any:
    while True:
        cancel()
        try:
            return future.result(timeout=WAIT_POLL_S)
        except FutureTimeout:
            continue


def _cancel_all(futures: Sequence[Future[Any]]) -> None:
    for f in futures:
        f.cancel()


# --- chat ---------------------------------------------------------------------------------------


def openai_messages(messages: Sequence[Message], window_s: float) -> list[dict[str, Any]]:
    """Canonical messages as OpenAI chat messages; audio as base64 WAV ``input_audio`` parts.

    Audio longer than the window goes as several consecutive parts cut at pauses (the upstream
    must accept that many, e.g. vLLM's ``--limit-mm-per-prompt``).
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        if not any(isinstance(p, AudioPart) for p in m.parts):
            out.append({"role": m.role, "content": m.text})
            continue
        parts: list[dict[str, Any]] = []
        for p in m.parts:
            if not isinstance(p, AudioPart):
                parts.append({"type": "text", "text": p.text})
                continue
            for chunk in split_audio(p.audio, window_s):
                data = base64.b64encode(wav_bytes(_slice(p.audio, chunk), p.audio.sample_rate_hz))
                payload = {"data": data.decode("ascii"), "format": "wav"}
                parts.append({"type": "input_audio", "input_audio": payload})
        out.append({"role": m.role, "content": parts})
    return out


def parse_chat_stream(chunks: Iterator[bytes]) -> Iterator[TextDelta | Usage | str]:
    """A ``chat.completion.chunk`` SSE stream as text deltas, usage, and the finish reason (str).

    An ``{"error": ...}`` event (how OpenAI-style servers fail after the first byte) raises.
    """
    from ..api.sse import SSEDecoder  # the decoder is plain code, no HTTP objects

    decoder = SSEDecoder()

    def events() -> Iterator[Any]:
        for raw in chunks:
            yield from decoder.feed(raw)
        yield from decoder.flush()

    for event in events():
        if event.data.strip() == "[DONE]":
            return
        try:
            body = json.loads(event.data)
        except ValueError as exc:
            raise UpstreamError(f"the upstream sent a bad event: {event.data[:200]!r}") from exc
        yield from _chunk_events(body)


def _chunk_events(body: Any) -> Iterator[TextDelta | Usage | str]:
    if not isinstance(body, dict):
        return
    if isinstance(body.get("error"), dict):
        raise UpstreamError(f"the upstream failed: {body['error'].get('message', body['error'])}")
    for choice in body.get("choices") or []:
        text = (choice.get("delta") or {}).get("content")
        if text:
            yield TextDelta(text)
        if choice.get("finish_reason"):
            yield str(choice["finish_reason"])
    usage = body.get("usage")
    if isinstance(usage, dict):
        yield Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0))  # fmt: skip


class RemoteChat:
    """``ChatEngine`` over upstream ``/v1/chat/completions`` servers (always streamed)."""

    def __init__(self, pool: UpstreamPool, *, name: str, upstream_model: str,
                 window_s: float = 30.0) -> None:  # fmt: skip
        self.name = name
        self.pool = pool
        self.upstream_model = upstream_model
        self.window_s = window_s
        self.caps = ChatCaps(audio_per_message=64, max_audio_s=float("inf"), native_audio=True)

    def chat(self, request: ChatRequest, cancel: CancelCheck = never_cancelled) -> Iterator[Event]:
        """Encode now (bad input fails before the stream starts), stream lazily."""
        audio_s = sum(p.audio.duration_s for m in request.messages for p in m.parts
                      if isinstance(p, AudioPart))  # fmt: skip
        body: dict[str, Any] = {
            "model": self.upstream_model,
            "messages": openai_messages(request.messages, self.window_s),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            # Streamed upstream whatever the caller asked: streaming is the primitive here too.
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        return self._events(body, audio_s, cancel)

    def _events(self, body: dict[str, Any], audio_s: float, cancel: CancelCheck) -> Iterator[Event]:
        reason: Literal["stop", "length"] = "stop"
        usage = Usage(audio_s=audio_s)
        for item in self.pool.stream(CHAT, body, parse_chat_stream):
            cancel()
            if isinstance(item, TextDelta):
                yield item
            elif isinstance(item, Usage):
                usage = Usage(item.prompt_tokens, item.completion_tokens, audio_s)
            else:
                reason = "length" if item == "length" else "stop"
        yield usage
        yield Finished(reason, model=self.name)

    def close(self) -> None:
        self.pool.close()


def build_remote(
    name: str,
    *,
    kind: Literal["asr", "chat"],
    urls: Sequence[str],
    upstream_model: str,
    api_key: str | None = None,
    window_s: float = 30.0,
    max_concurrency: int = 8,
    timeout_s: float = 300.0,
    cooldown_s: float = 5.0,
) -> RemoteTranscriber | RemoteChat:
    """The engine for one configured remote model (``Settings.remote_models``)."""
    pool = UpstreamPool(urls, api_key=api_key, timeout_s=timeout_s, cooldown_s=cooldown_s,
                        name=name)  # fmt: skip
    if kind == "asr":
        return RemoteTranscriber(pool, name=name, upstream_model=upstream_model,
                                 window_s=window_s, max_concurrency=max_concurrency)  # fmt: skip
    return RemoteChat(pool, name=name, upstream_model=upstream_model, window_s=window_s)
