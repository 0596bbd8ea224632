"""The Whisper engine: faster-whisper (CTranslate2) behind the ``Transcriber`` protocol."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..audio.merge import ChunkResult
from ..audio.segment import Chunk
from ..types import Audio, Segment, TranscribeOptions, TranscriptInfo, Word
from .base import CancelCheck, TranscriberCaps, never_cancelled

log = logging.getLogger(__name__)

WINDOW_S = 30.0  # Whisper decodes 30-second windows
# faster-whisper's guards against invented text, kept at OpenAI Whisper's defaults: a window
# whose output repeats itself (gzip ratio) or that the model itself finds unlikely is retried at
# the next temperature, and one that is probably silence is dropped.
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
# With word timestamps on, skip silent stretches longer than this that would otherwise be
# filled with hallucinated words (openai/whisper's ``hallucination_silence_threshold``).
HALLUCINATION_SILENCE_S = 2.0
TOP_LANGUAGES = 5


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # pragma: no cover - depends on the machine
        return False


def resolve_device(device: str, compute_type: str) -> tuple[str, str]:
    """``auto`` picks CUDA with float16 when present, else CPU with int8."""
    if device == "auto":
        device = "cuda" if _cuda_available() else "cpu"
    if compute_type == "default":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


class WhisperEngine:
    """One loaded Whisper model. Thread-safe: CTranslate2 serialises work on its own."""

    def __init__(
        self,
        model_dir: Path,
        *,
        name: str = "whisper",
        languages: tuple[str, ...] | None = None,
        device: str = "auto",
        compute_type: str = "default",
        cpu_threads: int = 0,
        num_workers: int = 1,
        long_form_s: float = 600.0,
    ) -> None:
        from .whisper_model import HarkenWhisperModel

        self.name = name
        self.device, self.compute_type = resolve_device(device, compute_type)
        threads = cpu_threads or (os.cpu_count() or 1)
        self.model = HarkenWhisperModel(
            str(model_dir),
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=threads,
            num_workers=num_workers,
            local_files_only=True,
        )
        self._pipeline: Any = None
        multilingual = self.model.model.is_multilingual
        self.caps = TranscriberCaps(
            languages=frozenset(languages) if languages else None,
            can_translate=multilingual,
            word_timestamps=True,
            max_window_s=WINDOW_S,
            long_form_s=long_form_s,
        )
        log.info("loaded %s on %s (%s)", name, self.device, self.compute_type)

    def transcribe(
        self, audio: Audio, opts: TranscribeOptions, cancel: CancelCheck = never_cancelled
    ) -> tuple[Iterator[Segment], TranscriptInfo]:
        """Transcribe or translate; segments are decoded lazily, one window at a time."""
        common: dict[str, Any] = dict(
            language=opts.language,
            task=opts.task,
            beam_size=opts.beam_size or 1,
            temperature=list(opts.temperature),
            initial_prompt=opts.prompt or None,
            word_timestamps=opts.word_timestamps,
            vad_filter=opts.vad_filter,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            log_prob_threshold=LOG_PROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
        )
        if (opts.batch_size or 0) > 1 and audio.duration_s > WINDOW_S:
            # Speech chunks cut by Silero VAD at pauses, decoded side by side; chunks do not
            # overlap, so no word is decoded twice at a seam.
            segments, info = self._batched().transcribe(
                audio.samples, batch_size=opts.batch_size, **common
            )
        else:
            segments, info = self.model.transcribe(
                audio.samples,
                hallucination_silence_threshold=(
                    HALLUCINATION_SILENCE_S if opts.word_timestamps else None
                ),
                **common,
            )
        probs = tuple(
            (code, float(p)) for code, p in (info.all_language_probs or [])[:TOP_LANGUAGES]
        )
        meta = TranscriptInfo(
            language=info.language,
            language_probability=float(info.language_probability),
            duration_s=float(info.duration),
            task=opts.task,
            model=self.name,
            language_probs=probs,
        )
        return _convert(segments, info.language, cancel), meta

    def transcribe_chunks(
        self,
        audio: Audio,
        chunks: Sequence[Chunk],
        opts: TranscribeOptions,
        cancel: CancelCheck = never_cancelled,
    ) -> tuple[Iterator[ChunkResult], TranscriptInfo]:
        """Decode planned chunks of ``audio`` (each at most one window, times in ``audio``'s
        timeline), one result per chunk in order, with times relative to the chunk's start.

        ``opts.batch_size`` > 1 decodes that many chunks at once (faster-whisper's batched
        pipeline, our chunks as its ``clip_timestamps``); else chunk after chunk. The language is detected once, on the first chunk.
        """
        language, probability, probs = self._language(audio, chunks, opts)
        fixed = replace(opts, language=language)
        if (opts.batch_size or 0) > 1:
            results = self._batched_chunks(audio, chunks, fixed, cancel)
        else:
            results = self._sequential_chunks(audio, chunks, fixed, cancel)
        meta = TranscriptInfo(
            language=language,
            language_probability=probability,
            duration_s=audio.duration_s,
            task=opts.task,
            model=self.name,
            language_probs=probs,
        )
        return results, meta

    def _language(
        self, audio: Audio, chunks: Sequence[Chunk], opts: TranscribeOptions
    ) -> tuple[str, float, tuple[tuple[str, float], ...]]:
        if opts.language:
            return opts.language, 1.0, ()
        if not self.model.model.is_multilingual or not chunks:
            return "en", 1.0, ()
        rate = audio.sample_rate_hz
        first = chunks[0]
        clip = audio.samples[int(first.start_s * rate) : int(first.end_s * rate)]
        language, probability, all_probs = self.model.detect_language(audio=clip)
        top = tuple((code, float(p)) for code, p in (all_probs or [])[:TOP_LANGUAGES])
        return language, float(probability), top

    def _sequential_chunks(
        self, audio: Audio, chunks: Sequence[Chunk], opts: TranscribeOptions, cancel: CancelCheck
    ) -> Iterator[ChunkResult]:
        rate = audio.sample_rate_hz
        for chunk in chunks:
            cancel()
            clip = audio.samples[int(chunk.start_s * rate) : int(chunk.end_s * rate)]
            segments, _ = self.model.transcribe(
                clip,
                hallucination_silence_threshold=(
                    HALLUCINATION_SILENCE_S if opts.word_timestamps else None
                ),
                vad_filter=False,  # the chunk plan already holds only speech
                **self._common(opts),
            )
            # Each chunk gets only the caller's prompt, as in the batched path: prompting with
            # the previous chunk's text made whisper-base repeat it into short chunks.
            yield ChunkResult(chunk, tuple(_convert(segments, opts.language or "en", cancel)))

    def _batched_chunks(
        self, audio: Audio, chunks: Sequence[Chunk], opts: TranscribeOptions, cancel: CancelCheck
    ) -> Iterator[ChunkResult]:
        from faster_whisper import BatchedInferencePipeline

        if not chunks:
            return
        # One pipeline per call: it keeps per-run state (the last word timestamp) on itself.
        segments, _ = BatchedInferencePipeline(self.model).transcribe(
            audio.samples,
            clip_timestamps=[{"start": c.start_s, "end": c.end_s} for c in chunks],
            batch_size=opts.batch_size,
            # Timestamp tokens: natural segments (subtitles) rather than one per chunk.
            without_timestamps=False,
            **self._common(opts),
        )
        # Each segment's ``seek`` is its chunk's offset in frames (100 a second).
        starts_cs = [int(c.start_s * 100) for c in chunks]
        done: list[Segment] = []
        index = 0
        for segment in _convert(segments, opts.language or "en", cancel):
            k = _chunk_index(starts_cs, segment.seek)
            while index < k:  # chunks with nothing in them are done too
                yield ChunkResult(chunks[index], _relative(done, chunks[index]))
                done, index = [], index + 1
            done.append(segment)
        for chunk in chunks[index:]:
            yield ChunkResult(chunk, _relative(done, chunk))
            done = []

    def _common(self, opts: TranscribeOptions) -> dict[str, Any]:
        return dict(
            language=opts.language,
            task=opts.task,
            beam_size=opts.beam_size or 1,
            temperature=list(opts.temperature),
            word_timestamps=opts.word_timestamps,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            log_prob_threshold=LOG_PROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            initial_prompt=opts.prompt or None,
        )

    def _batched(self) -> Any:
        if self._pipeline is None:
            from faster_whisper import BatchedInferencePipeline

            self._pipeline = BatchedInferencePipeline(self.model)
        return self._pipeline

    def close(self) -> None:
        self._pipeline = None
        del self.model


def _chunk_index(starts_cs: list[int], seek: int) -> int:
    """The chunk a batched segment came from, by its ``seek`` (its chunk's offset, 1/100 s)."""
    import bisect

    return max(0, bisect.bisect_right(starts_cs, seek + 1) - 1)


def _relative(segments: list[Segment], chunk: Chunk) -> tuple[Segment, ...]:
    """Batched segments carry the block's timeline; a chunk result is relative to its chunk."""
    off = chunk.start_s
    return tuple(
        replace(
            s,
            start_s=s.start_s - off,
            end_s=s.end_s - off,
            words=tuple(replace(w, start_s=w.start_s - off, end_s=w.end_s - off) for w in s.words),
        )
        for s in segments
    )


def _convert(segments: Any, language: str, cancel: CancelCheck) -> Iterator[Segment]:
    """faster-whisper segments to canonical ones; checks for cancellation between windows."""
    for n, s in enumerate(segments):
        cancel()
        words = tuple(
            Word(start_s=w.start, end_s=w.end, text=w.word, probability=w.probability)
            for w in (s.words or ())
        )
        yield Segment(
            id=n,
            start_s=float(s.start),
            end_s=float(s.end),
            text=s.text,
            words=words,
            language=language,
            seek=int(s.seek),
            tokens=tuple(s.tokens),
            temperature=float(s.temperature or 0.0),
            avg_logprob=float(s.avg_logprob),
            compression_ratio=float(s.compression_ratio),
            no_speech_prob=float(s.no_speech_prob),
        )
