"""The only orchestrator: audio in, engine work, canonical events out. No HTTP here."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from .audio.decode import DecodeLimits, decode_audio, load_audio_input
from .config import Settings
from .engines.base import CancelCheck, Transcriber, never_cancelled
from .engines.cascade import AudioMemo
from .errors import Cancelled, InvalidRequest
from .languages import language_name, normalize_language
from .intelligence import (
    IntelligenceOptions,
    Prepared,
    check_engine,
    detector_for,
    enrich,
    prepare,
)
from .longform import open_audio, transcribe_long
from .models.catalog import Catalog, ModelEntry, default_catalog, remote_entry
from .models.manager import ModelManager
from .models.store import ModelStore
from .types import (
    Audio,
    ChatRequest,
    Event,
    Finished,
    Progress,
    SegmentDone,
    TextDelta,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
    Usage,
)

AudioInput = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO | Audio


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


def _load_llm(settings: Settings) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .engines.llm import LlamaEngine

        ggufs = [f.name for f in entry.files if f.name.endswith(".gguf")]
        model_path = path / ggufs[0] if ggufs else next(iter(sorted(path.glob("*.gguf"))), None)
        if model_path is None:
            raise InvalidRequest(f"model '{entry.id}' has no .gguf file in {path}")
        chat_format = entry.options.get("chat_format")
        return LlamaEngine(
            model_path,
            name=entry.id,
            n_ctx=int(str(entry.options.get("n_ctx", settings.llm.n_ctx))),
            n_threads=settings.llm.n_threads or None,
            chat_format=str(chat_format) if chat_format else None,
        )

    return load


def _load_cascade(service: Service) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .engines.cascade import CascadeEngine

        settings = service.settings
        return CascadeEngine(
            # Late-bound: the manager is built with this loader, so it does not exist yet here.
            lambda name: service.manager.lease(name),
            name=entry.id,
            asr_model=str(entry.options.get("asr", settings.default_asr_model)),
            llm_model=str(entry.options.get("llm", "qwen2.5-coder-1.5b-instruct")),
            memo=service.audio_memo,
            asr_options=TranscribeOptions(
                word_timestamps=False, beam_size=settings.whisper.beam_size
            ),
            max_audio_s=settings.limits.max_duration_s,
        )

    return load


def _load_alm(entry: ModelEntry, path: Path) -> Any:
    from .engines.alm import load_alm  # torch and transformers only when an ALM is used

    return load_alm(entry, path)


def _load_whisper(settings: Settings) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .engines.whisper import WhisperEngine

        w = settings.whisper
        return WhisperEngine(
            path,
            name=entry.id,
            languages=entry.languages,
            device=w.device,
            compute_type=w.compute_type,
            cpu_threads=w.cpu_threads,
            num_workers=max(1, settings.workers),
        )

    return load


def _remote_entries(settings: Settings) -> list[ModelEntry]:
    return [remote_entry(name, cfg.kind, cfg.upstream_model, cfg.description)
            for name, cfg in settings.remote_models.items()]  # fmt: skip


def _load_remote(settings: Settings) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .engines.remote import build_remote

        cfg = settings.remote_models[entry.id]
        return build_remote(entry.id, **cfg.model_dump(exclude={"description"}))

    return load


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
        self.catalog = catalog or default_catalog(extra=_remote_entries(self.settings))
        # Transcripts and analyses the cascade made, by audio content: shared by every cascade
        # variant, so switching the LLM per request does not run the ASR again.
        self.audio_memo = AudioMemo(self.settings.llm.memo_capacity)
        if manager is None:
            store = ModelStore.from_settings(self.settings)
            loaders = {
                "whisper": _load_whisper(self.settings),
                "llm": _load_llm(self.settings),
                "cascade": _load_cascade(self),
                "remote": _load_remote(self.settings),
                "alm": _load_alm,
            }
            manager = ModelManager(self.catalog, store, loaders)
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
            if reader.longer_than(engine.caps.max_window_s):
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


# --- chat ----------------------------------------------------------------------------------------


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
