"""The only orchestrator: audio in, engine work, canonical events out. No HTTP here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any, BinaryIO

from .audio.decode import DecodeLimits, decode_audio, load_audio_input
from .config import Settings
from .engines.base import CancelCheck, Transcriber, never_cancelled
from .engines.cascade import AudioMemo
from .engines.loaders import engine_loaders, remote_entries
from .errors import InvalidRequest
from .intelligence import (
    IntelligenceOptions,
    Prepared,
    check_engine,
    detector_for,
    enrich,
    prepare,
)
from .languages import language_name, normalize_language
from .longform import open_audio, transcribe_long
from .models.catalog import Catalog, ModelEntry, default_catalog
from .models.manager import ModelManager
from .models.store import ModelStore
from .runs import CancelToken, ChatResult, ChatRun, TranscriptionRun
from .types import (
    Audio,
    ChatRequest,
    Event,
    Finished,
    Progress,
    SegmentDone,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
    Usage,
)

AudioInput = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO | Audio
# Re-exported: callers take the run types from the service they started the work with.
__all__ = ["AudioInput", "CancelToken", "ChatResult", "ChatRun", "Service", "TranscriptionRun"]


class Service:
    """Everything harken does, as plain method calls (the server is an adapter around it)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        catalog: Catalog | None = None,
        manager: ModelManager | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.catalog = catalog or default_catalog(extra=remote_entries(self.settings))
        # Transcripts and analyses the cascade made, by audio content: shared by every cascade
        # variant, so switching the LLM per request does not run the ASR again.
        self.audio_memo = AudioMemo(self.settings.llm.memo_capacity)
        if manager is None:
            store = ModelStore.from_settings(self.settings)
            manager = ModelManager(self.catalog, store, engine_loaders(self))
        self.manager = manager
        lim = self.settings.limits
        self.limits = DecodeLimits(
            max_upload_bytes=lim.max_upload_bytes,
            max_duration_s=lim.max_duration_s,
            max_decoded_bytes=lim.max_decoded_bytes,
        )

    # --- audio -------------------------------------------------------------------------------

    def load_audio(self, data: AudioInput, *, filename: str | None = None) -> Audio:
        if isinstance(data, Audio):
            return data
        return decode_audio(data, self.limits, filename=filename)

    def load_inline_audio(
        self,
        value: str | bytes,
        *,
        param: str | None = None,
        format_hint: str | None = None,
    ) -> Audio:
        """Audio from the wire (data URL, base64 or bytes), under the same limits as uploads."""
        return load_audio_input(value, self.limits, param=param, format_hint=format_hint)

    # --- transcription -----------------------------------------------------------------------

    def resolve_asr(self, model: str | None) -> ModelEntry:
        entry = self.catalog.resolve(model or self.settings.default_asr_model)
        if entry.kind == "alm":  # transcribes natively, unless routed (on CPU: the cascade's ASR)
            routed = self.resolve_chat(entry.id)
            entry = routed if routed.kind == "alm" else self.catalog.resolve(
                str(routed.options.get("asr", self.settings.default_asr_model)))  # fmt: skip
        if entry.kind != "asr" and entry.kind != "alm":
            raise InvalidRequest(
                f"model '{entry.id}' is a {entry.kind} model and cannot transcribe; "
                f"use an ASR model such as '{self.settings.default_asr_model}'.",
                param="model",
            )
        return entry

    def transcribe_stream(
        self,
        audio: AudioInput,
        options: TranscribeOptions | None = None,
        *,
        model: str | None = None,
        cancel: CancelCheck = never_cancelled,
        intelligence: IntelligenceOptions | None = None,
    ) -> TranscriptionRun:
        """Start a transcription; the model lease is held until the events are exhausted.

        ``intelligence`` (harken.intelligence) asks for denoising, speakers, languages per
        segment, sentiment, analysis: applied by ``collect()``, not to the streamed text.
        """
        opts = self._with_defaults(options or TranscribeOptions())
        entry = self.resolve_asr(model)
        prepared: Prepared | None = None
        if intelligence is not None and intelligence.active:  # needs the whole audio at once
            prepared = prepare(self.load_audio(audio), intelligence)
            audio, opts = prepared.audio, intelligence.transcribe_options(opts)
        reader = open_audio(audio, self.limits)  # decodes as it is read (longform.py)
        stack = ExitStack()
        try:
            _, engine = stack.enter_context(self.manager.lease(entry.id))
            _check_options(entry, engine, opts)
            if intelligence is not None:
                check_engine(intelligence, engine, entry.id)
            if reader.longer_than(_whole_limit_s(engine, opts)):
                info, events = transcribe_long(engine, reader, opts, cancel, stack)
            else:
                segments, info = engine.transcribe(reader.read_all(), opts, cancel)
                events = _events(segments, info, stack)
        except BaseException:
            stack.close()
            raise
        if opts.task == "translate":
            info = replace(info, language="en")
        run = TranscriptionRun(info, events, stack)
        if prepared is not None and intelligence is not None:
            run.finish = lambda t: self._enrich(t, prepared, intelligence, entry.id, opts, cancel)
        return run

    def _enrich(
        self,
        t: Transcript,
        prepared: Prepared,
        intelligence: IntelligenceOptions,
        model_id: str,
        opts: TranscribeOptions,
        cancel: CancelCheck,
    ) -> Transcript:
        if not intelligence.segment_languages:
            return enrich(t, prepared, intelligence)
        with self.manager.lease(model_id) as (_, engine):  # language ID runs on the ASR model

            def redecode(clip: Audio, language: str) -> list[Any]:
                return list(engine.transcribe(clip, replace(opts, language=language), cancel)[0])

            # A language the caller named is kept; otherwise parts in another are decoded again.
            again = redecode if opts.language is None and opts.task == "transcribe" else None
            return enrich(t, prepared, intelligence, detector_for(engine), again)

    def _with_defaults(self, opts: TranscribeOptions) -> TranscribeOptions:
        """Fill what the caller left to the server's settings."""
        w = self.settings.whisper
        return replace(
            opts,
            beam_size=opts.beam_size or w.beam_size,
            batch_size=w.batch_size if opts.batch_size is None else opts.batch_size,
        )

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions | None = None,
        *,
        model: str | None = None,
        cancel: CancelCheck = never_cancelled,
        intelligence: IntelligenceOptions | None = None,
    ) -> Transcript:
        return self.transcribe_stream(
            audio, options, model=model, cancel=cancel, intelligence=intelligence
        ).collect()

    # --- chat ---------------------------------------------------------------------------------

    def chat_stream(
        self, request: ChatRequest, *, cancel: CancelCheck = never_cancelled
    ) -> ChatRun:
        """Route the requested model (e.g. Qwen2-Audio -> cascade on CPU) and start the chat."""
        entry = self.resolve_chat(request.model)
        stack = ExitStack()
        try:
            _, engine = stack.enter_context(self.manager.lease(entry.id))
            events = engine.chat(request, cancel)
        except BaseException:
            stack.close()
            raise
        return ChatRun(entry.id, events, stack)

    def chat(self, request: ChatRequest, *, cancel: CancelCheck = never_cancelled) -> ChatResult:
        return self.chat_stream(request, cancel=cancel).collect()

    def warm_chat(self, model: str | None = None) -> ModelEntry:
        """Load the engine that answers ``model`` (the default chat model when None) and the
        models it reads with, primed for the first question (``CascadeEngine.warm``)."""
        entry = self.resolve_chat(model)
        with self.manager.lease(entry.id) as (_, engine):
            warm = getattr(engine, "warm", None)
            if callable(warm):
                warm()
        return entry

    def resolve_chat(self, model: str | None) -> ModelEntry:
        """The entry that will answer: the named one, or what configuration routes it to."""
        entry = self.catalog.resolve(model or self.settings.default_chat_model)
        routes = {k.lower(): v for k, v in self.settings.serve_with.items()}
        # A route may name the model by id or by the alias the caller used.
        target = routes.get(entry.id.lower()) or routes.get((model or "").strip().lower())
        if target:
            entry = self.catalog.resolve(target)
        if entry.kind not in ("chat", "alm"):
            raise InvalidRequest(
                f"model '{entry.id}' is a {entry.kind} model and cannot answer questions about "
                f"audio; use e.g. '{self.settings.default_chat_model}'.",
                param="model",
            )
        return entry

    # --- translation -----------------------------------------------------------------------

    def translate(
        self,
        audio: AudioInput,
        target_language: str,
        *,
        model: str | None = None,
        options: TranscribeOptions | None = None,
        cancel: CancelCheck = never_cancelled,
    ) -> Transcript:
        """Speech translated into ``target_language`` (a code or name), with timestamps.

        English is Whisper's own translate task. Any other language is the transcript
        translated by the cascade's text LLM, line by line so segments keep their times.
        ``model`` names the ASR model (e.g. "whisper-1") or a cascade (e.g. "cascade-fast").
        """
        target = normalize_language(target_language)
        named = self.catalog.resolve(model) if model else None
        if target == "en" and (named is None or named.kind == "asr"):
            opts = replace(options or TranscribeOptions(), task="translate")
            return self.transcribe(audio, opts, model=model, cancel=cancel)
        asr_id = named.id if named and named.kind == "asr" else None
        cascade = named if named and named.engine == "cascade" else self.resolve_chat(None)
        if cascade.engine != "cascade":  # e.g. a GPU deployment routing chat to an ALM
            cascade = self.catalog.resolve("cascade")
        clip = self.load_audio(audio)
        with self.manager.lease(cascade.id) as (_, engine):
            cascade_engine: Any = engine  # a CascadeEngine: the only engine that translates so
            return cascade_engine.translate(clip, target, cancel, asr_model=asr_id)

    def close(self) -> None:
        self.manager.close()


def _whole_limit_s(engine: Transcriber, opts: TranscribeOptions) -> float:
    """How long audio may be for the engine to take it whole; longer goes through chunking."""
    caps = engine.caps
    if (opts.batch_size or 0) > 1:  # batches are made of the service's chunks
        return caps.max_window_s
    return max(caps.max_window_s, caps.long_form_s)


def _check_options(entry: ModelEntry, engine: Transcriber, opts: TranscribeOptions) -> None:
    caps = engine.caps
    if opts.task == "translate" and not caps.can_translate:
        raise InvalidRequest(
            f"model '{entry.id}' is English-only and cannot translate; use 'whisper-base'.",
            param="model",
        )
    if opts.language and caps.languages is not None and opts.language not in caps.languages:
        raise InvalidRequest(
            f"model '{entry.id}' does not support language '{language_name(opts.language)}' "
            f"(supported: {', '.join(sorted(caps.languages))}).",
            param="language",
        )


def _events(segments: Iterator[Any], info: TranscriptInfo, lease: ExitStack) -> Iterator[Event]:
    with lease:  # released as soon as the last segment is out
        for segment in segments:
            yield SegmentDone(segment)
            yield Progress(done_s=min(segment.end_s, info.duration_s), total_s=info.duration_s)
        yield Usage(audio_s=info.duration_s)
        yield Finished("stop", model=info.model)


