"""The Whisper engine: faster-whisper (CTranslate2) behind the ``Transcriber`` protocol."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    ) -> None:
        from faster_whisper import WhisperModel

        self.name = name
        self.device, self.compute_type = resolve_device(device, compute_type)
        threads = cpu_threads or (os.cpu_count() or 1)
        self.model = WhisperModel(
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

    def _batched(self) -> Any:
        if self._pipeline is None:
            from faster_whisper import BatchedInferencePipeline

            self._pipeline = BatchedInferencePipeline(self.model)
        return self._pipeline

    def close(self) -> None:
        self._pipeline = None
        del self.model


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
