"""faster-whisper's ``WhisperModel`` with two fixes: the first window is encoded once, not twice,
and a silent window's repetition loop is not sampled over and over.

With no language given, ``WhisperModel.transcribe`` runs the encoder on the first window to
detect the language, then again on the same window to decode it: for a clip under 30 s that
is half the encoder work (about 0.6 s of 1.7 s for jfk.wav with whisper-base on 2 cores).
``generate_segments`` already takes an ``encoder_output`` for its first window; this subclass
hands it the one the language detection made, from the same input, so the transcript is the
one stock faster-whisper gives.

A window the model itself calls silence (no-speech probability over the threshold) whose greedy
text is a repetition loop, typically the previous window's last sentence copied from the prompt
into a second or so of trailing audio, is excused from the temperature fallback by
faster-whisper (as by openai-whisper) only when its log probability is low too. A copied loop
scores high, so the window is decoded at every temperature (10 to 15 s for the 1.3 s tail of
asterisk_en_demo-congrats.wav on 2 cores), and now and then a sampled copy of the sentence is
accepted into the transcript. Here such a window is treated as the silence it is.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import numpy as np
from faster_whisper import WhisperModel


class HarkenWhisperModel(WhisperModel):  # type: ignore[misc]
    """A ``WhisperModel`` whose language detection lends its encoder output to the decoding,
    and which skips silent windows whose greedy text loops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per thread: transcriptions on other threads detect and decode their own audio.
        self._local = threading.local()

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        # Detection and the creation of the segment generator both happen in this call; only
        # they take part (BatchedInferencePipeline's own detection, say, does not).
        local = self._local
        local.active, local.first = True, None
        try:
            return super().transcribe(*args, **kwargs)
        finally:
            local.active, local.first = False, None

    def detect_language(
        self, audio: np.ndarray | None = None, features: np.ndarray | None = None, **kwargs: Any
    ) -> Any:
        local = self._local
        if not getattr(local, "active", False) or features is None:
            return super().detect_language(audio=audio, features=features, **kwargs)
        if 1 < features.shape[-1] <= self.feature_extractor.nb_max_frames:
            # Decoding leaves out the last frame of a clip shorter than a window: so does the
            # detection here, so that the first window's encoder input is the very same.
            features = features[..., :-1]
        captured: list[Any] = []
        local.captured = captured  # ``encode`` keeps the first window's output here
        try:
            result = super().detect_language(audio=audio, features=features, **kwargs)
        finally:
            local.captured = None
        local.first = (features, captured[0]) if captured else None
        return result

    def encode(self, features: np.ndarray) -> Any:
        output = super().encode(features)
        captured = getattr(self._local, "captured", None)
        if captured is not None and not captured:
            captured.append(output)  # the first window's; later detection windows are not kept
        return output

    def generate_segments(
        self,
        features: np.ndarray,
        tokenizer: Any,
        options: Any,
        log_progress: Any,
        encoder_output: Any = None,
    ) -> Any:
        first = getattr(self._local, "first", None)
        self._local.first = None
        if (
            encoder_output is None
            and first is not None
            and _same_start(first[0], features)
            and _starts_at_zero(options.clip_timestamps)
        ):
            encoder_output = first[1]
        return super().generate_segments(features, tokenizer, options, log_progress, encoder_output)


    def generate_with_fallback(
        self, encoder_output: Any, prompt: list[int], tokenizer: Any, options: Any
    ) -> Any:
        temperatures = list(options.temperatures)
        no_speech, max_ratio = options.no_speech_threshold, options.compression_ratio_threshold
        if len(temperatures) < 2 or no_speech is None or max_ratio is None:
            return super().generate_with_fallback(encoder_output, prompt, tokenizer, options)
        greedy_options = replace(options, temperatures=temperatures[:1])
        greedy = super().generate_with_fallback(encoder_output, prompt, tokenizer, greedy_options)
        result, avg_logprob, temperature, ratio = greedy
        silent = result.no_speech_prob > no_speech
        if silent and ratio > max_ratio:
            # A log probability of -inf makes ``generate_segments`` skip the window as silence.
            return result, float("-inf"), temperature, ratio
        min_logprob = options.log_prob_threshold
        low = min_logprob is not None and avg_logprob < min_logprob
        if ratio <= max_ratio and (not low or silent):
            return greedy  # faster-whisper's ladder would have stopped here too
        # The rest as faster-whisper does it: the whole ladder (the greedy pass again, only
        # for windows that fail it), and the best attempt when every one fails.
        return super().generate_with_fallback(encoder_output, prompt, tokenizer, options)


def _same_start(detected: np.ndarray, features: np.ndarray) -> bool:
    """Whether language detection read ``features`` from its first frame."""
    return bool(
        detected.shape[:-1] == features.shape[:-1]
        and detected.__array_interface__["data"][0] == features.__array_interface__["data"][0]
        and detected.strides == features.strides
    )


def _starts_at_zero(clip_timestamps: str | list[Any]) -> bool:
    """Whether decoding starts at the top of the audio (faster-whisper's default "0")."""
    if isinstance(clip_timestamps, str):
        first = clip_timestamps.split(",")[0].strip()
        return float(first or 0) == 0.0
    return not clip_timestamps or float(_start_of(clip_timestamps[0])) == 0.0


def _start_of(clip: Any) -> float:
    return float(clip["start"] if isinstance(clip, dict) else clip)
