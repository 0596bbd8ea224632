"""Audio-language models through transformers (Voxtral, Qwen2-Audio): ``ChatEngine`` and
``Transcriber`` in one, streaming token by token.

The model hears the audio itself. Audio longer than the model's window (Qwen2-Audio: 30 s per
audio; Voxtral: about 30 minutes) is never truncated: it is cut at quiet points; a transcript is
stitched from the parts with their times, and a question is answered over per-part summaries.
Needs the ``alm`` extra (``pip install torch==2.13.0`` first, then ``harken[alm]``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidRequest, ModelUnavailable, PayloadTooLarge, require
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
    TranscriptInfo,
    Usage,
)
from .alm_prompts import (
    FAMILIES,
    LONG_AUDIO_INTRO,
    PART_SUMMARY_PROMPT,
    Family,
    clock,
    translate_prompt,
)
from .alm_stream import Decoder, Generation
from .base import CancelCheck, never_cancelled

log = logging.getLogger(__name__)

# Transcript length allowed per second of audio: fast speech is about 4 tokens a second.
TRANSCRIPT_TOKENS_PER_S = 8.0
TRANSCRIPT_MIN_TOKENS = 32
PART_SUMMARY_TOKENS = 160  # what one part of a long audio is summarised in


@dataclass(frozen=True)
class ALMCaps:
    """``ChatCaps`` and ``TranscriberCaps`` in one: the engine is both protocols at once."""

    audio_per_message: int
    max_audio_s: float
    native_audio: bool
    languages: frozenset[str] | None
    can_translate: bool
    word_timestamps: bool
    max_window_s: float
    long_form_s: float = 0.0  # long audio goes through the service's chunking


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Generated:
    """The end of one generation: its real token counts and why it stopped."""

    prompt_tokens: int
    completion_tokens: int
    reason: str  # "stop" | "length"


def load_alm(entry: Any, path: Path, hub_timeout_s: float = 5.0) -> ALMEngine:
    """The manager's loader: the catalog folder when it holds a checkpoint, else the hub id.

    An unreachable hub is found within ``hub_timeout_s``; the checkpoint is then looked for in
    the local Hugging Face cache only, instead of huggingface_hub retrying for half a minute.
    """
    source: str | Path | None = path if (path / "config.json").is_file() else entry.hf_repo
    if source is None:
        raise ModelUnavailable(f"model '{entry.id}' has no checkpoint in {path} and no hub repo.")
    offline = False
    if isinstance(source, str):
        from ..models.sources import hub_endpoint, unreachable

        offline = unreachable(hub_endpoint(), hub_timeout_s) is not None
    return ALMEngine(source, name=entry.id, languages=entry.languages, local_files_only=offline)


def resolve_device() -> tuple[str, Any]:
    """CUDA with bfloat16 when present, else CPU with float32 (bf16 matmuls are slow on CPU)."""
    torch: Any = require("torch", "alm")
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


class ALMEngine:
    """One loaded audio-language model. Generation is serialised: one request at a time."""

    def __init__(
        self,
        source: str | Path,
        *,
        name: str,
        languages: Sequence[str] | None = None,
        device: str | None = None,
        local_files_only: bool = False,
    ) -> None:
        transformers: Any = require("transformers", "alm")
        require("torch", "alm")
        self.name = name
        self.device, self.dtype = resolve_device()
        if device is not None:
            self.device = device
        try:
            local = {"local_files_only": local_files_only}
            config = transformers.AutoConfig.from_pretrained(str(source), **local)
            self.family: Family = FAMILIES[config.model_type]
            model_class = {
                "voxtral": transformers.VoxtralForConditionalGeneration,
                "qwen2_audio": transformers.Qwen2AudioForConditionalGeneration,
            }[config.model_type]
            self.processor = transformers.AutoProcessor.from_pretrained(str(source), **local)
            self.model = model_class.from_pretrained(str(source), dtype=self.dtype, **local)
        except KeyError as exc:
            raise ModelUnavailable(f"model '{name}' is not Voxtral or Qwen2-Audio ({exc}).") from exc
        except OSError as exc:  # no such folder, or the hub is unreachable
            where = f"{source} (hub unreachable: local cache only)" if local_files_only else source
            raise ModelUnavailable(f"model '{name}' could not be loaded from {where}: {exc}") from exc
        self.model.to(self.device).eval()
        self.source = str(source)
        text_config = self.model.config.get_text_config()
        self.context_tokens = int(text_config.max_position_embeddings)
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = frozenset(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self._lock = threading.Lock()
        # No audio is too long: past the window it is heard in parts.
        self.caps = ALMCaps(
            audio_per_message=64, max_audio_s=float("inf"), native_audio=True,
            languages=frozenset(languages) if languages else None, can_translate=True,
            word_timestamps=False, max_window_s=self.family.window_s,
        )  # fmt: skip
        log.info("loaded %s (%s) on %s", name, self.family.name, self.device)

    # --- chat ----------------------------------------------------------------------------------

    def chat(self, request: ChatRequest, cancel: CancelCheck = never_cancelled) -> Iterator[Event]:
        """Stream the answer. With every audio within the model's limits the inputs are built
        here, eagerly, so bad input fails before the stream starts."""
        sampling = Sampling(request.max_tokens, request.temperature, request.top_p,
                            request.stop, request.seed)  # fmt: skip
        audio_s = sum(p.audio.duration_s for m in request.messages for p in m.parts
                      if isinstance(p, AudioPart))  # fmt: skip
        long_audio = self._too_long(request.messages)
        if not long_audio:
            inputs = self._inputs(lambda: self.family.chat_inputs(self.processor, request.messages))
            return self._answer(self._stream(inputs, sampling, cancel), audio_s)
        return self._answer_long(request.messages, long_audio, sampling, cancel, audio_s)

    def _too_long(self, messages: Sequence[Message]) -> set[int]:
        """Indexes (in conversation order) of the audios to hear in parts: longer than the
        window, or past the prompt's total audio budget."""
        out: set[int] = set()
        heard_s = 0.0
        audios = [p.audio for m in messages for p in m.parts if isinstance(p, AudioPart)]
        for n, audio in enumerate(audios):
            if audio.duration_s > self.family.window_s or heard_s + audio.duration_s > self.family.budget_s:
                out.add(n)
            else:
                heard_s += audio.duration_s
        return out

    def _answer(self, events: Iterator[str | Generated], audio_s: float) -> Iterator[Event]:
        done: Generated | None = None
        for item in events:
            if isinstance(item, Generated):
                done = item
            elif item:
                yield TextDelta(item)
        assert done is not None  # _stream always ends with its counts
        yield Usage(done.prompt_tokens, done.completion_tokens, audio_s)
        yield Finished(done.reason, model=self.name)  # type: ignore[arg-type]

    def _answer_long(
        self, messages: Sequence[Message], long_audio: set[int], sampling: Sampling,
        cancel: CancelCheck, audio_s: float,
    ) -> Iterator[Event]:  # fmt: skip
        """Each long audio summarised part by part, then the answer over those summaries."""
        prompt_tokens = completion_tokens = 0
        rewritten: list[Message] = []
        number = 0
        for message in messages:
            parts: list[TextPart | AudioPart] = []
            for part in message.parts:
                if isinstance(part, AudioPart):
                    number += 1
                    if number - 1 in long_audio:
                        text, used = self._summarise(part.audio, number, cancel)
                        prompt_tokens += used.prompt_tokens
                        completion_tokens += used.completion_tokens
                        part = TextPart(text)  # type: ignore[assignment]
                parts.append(part)
            rewritten.append(Message(message.role, tuple(parts)))
        inputs = self._inputs(lambda: self.family.chat_inputs(self.processor, rewritten))
        for event in self._answer(self._stream(inputs, sampling, cancel), audio_s):
            if isinstance(event, Usage):
                event = replace(event, prompt_tokens=event.prompt_tokens + prompt_tokens,
                                completion_tokens=event.completion_tokens + completion_tokens)  # fmt: skip
            yield event

    def _summarise(self, audio: Audio, number: int, cancel: CancelCheck) -> tuple[str, Generated]:
        pieces = split_audio(audio, self.family.window_s)
        lines = [LONG_AUDIO_INTRO.format(number=number, duration=clock(audio.duration_s))]
        prompt_tokens = completion_tokens = 0
        for index, (start_s, piece) in enumerate(pieces, 1):
            ask = PART_SUMMARY_PROMPT.format(index=index, count=len(pieces), start=clock(start_s),
                                             end=clock(start_s + piece.duration_s))  # fmt: skip
            msg = Message("user", (AudioPart(piece), TextPart(ask)))
            inputs = self._inputs(lambda m=msg: self.family.chat_inputs(self.processor, [m]))
            text, done = self._complete(inputs, Sampling(PART_SUMMARY_TOKENS), cancel)
            prompt_tokens += done.prompt_tokens
            completion_tokens += done.completion_tokens
            end = clock(start_s + piece.duration_s)
            lines.append(f"[{clock(start_s)}-{end}] {text.strip()}")
        return "\n".join(lines), Generated(prompt_tokens, completion_tokens, "stop")

    # --- transcription -------------------------------------------------------------------------

    def transcribe(
        self, audio: Audio, opts: TranscribeOptions, cancel: CancelCheck = never_cancelled
    ) -> tuple[Iterator[Segment], TranscriptInfo]:
        """One segment per part (parts cut at quiet points, at most one window each); a
        translation is asked for by instruction (Voxtral and Qwen2-Audio have no translate
        token)."""
        pieces = split_audio(audio, self.family.window_s)
        info = TranscriptInfo(
            language=opts.language,
            language_probability=1.0 if opts.language else 0.0,
            duration_s=audio.duration_s,
            task=opts.task,
            model=self.name,
        )
        return self._segments(pieces, opts, cancel), info

    def _segments(
        self, pieces: list[tuple[float, Audio]], opts: TranscribeOptions, cancel: CancelCheck
    ) -> Iterator[Segment]:
        n = 0
        for start_s, piece in pieces:
            cancel()
            if opts.task == "translate":
                msg = Message("user", (AudioPart(piece), TextPart(translate_prompt("en"))))
                build = lambda m=msg: self.family.chat_inputs(self.processor, [m])  # noqa: E731
            else:
                build = lambda p=piece: self.family.transcription_inputs(  # noqa: E731
                    self.processor, p, opts.language, self.source
                )
            budget = max(TRANSCRIPT_MIN_TOKENS, int(piece.duration_s * TRANSCRIPT_TOKENS_PER_S))
            sampling = Sampling(budget, temperature=opts.temperature[0])
            text, done = self._complete(self._inputs(build), sampling, cancel)
            if not text.strip():
                continue
            yield Segment(id=n, start_s=start_s, end_s=start_s + piece.duration_s,
                          text=" " + text.strip(), language=opts.language,
                          temperature=opts.temperature[0])  # fmt: skip
            n += 1

    def translate(self, audio: Audio, target: str, cancel: CancelCheck = never_cancelled) -> str:
        """The speech translated into ``target`` (a language code), part by part."""
        texts = []
        for _, piece in split_audio(audio, self.family.window_s):
            msg = Message("user", (AudioPart(piece), TextPart(translate_prompt(target))))
            inputs = self._inputs(lambda m=msg: self.family.chat_inputs(self.processor, [m]))
            text, _ = self._complete(inputs, Sampling(1024), cancel)
            texts.append(text.strip())
        return " ".join(t for t in texts if t)

    # --- generation ----------------------------------------------------------------------------

    def _inputs(self, build: Any) -> Any:
        """Processor output moved to the model's device; processor complaints become 400s."""
        try:
            inputs = build()
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidRequest(f"model '{self.name}' cannot take this conversation: {exc}") from exc
        inputs = inputs.to(self.device)
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self.dtype)
        return inputs

    def _complete(self, inputs: Any, sampling: Sampling, cancel: CancelCheck) -> tuple[str, Generated]:
        parts: list[str] = []
        done = Generated(0, 0, "stop")
        for item in self._stream(inputs, sampling, cancel):
            if isinstance(item, Generated):
                done = item
            else:
                parts.append(item)
        return "".join(parts), done

    def _stream(self, inputs: Any, sampling: Sampling, cancel: CancelCheck) -> Iterator[str | Generated]:
        """Text pieces as tokens come, then a ``Generated``; ``cancel`` is consulted between
        tokens, and a caller that stops iterating stops the generation too."""
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self.context_tokens - prompt_tokens
        if room < 1:
            raise PayloadTooLarge(
                f"the conversation takes {prompt_tokens} tokens (audio included); model "
                f"'{self.name}' holds {self.context_tokens}.", param="messages")  # fmt: skip
        max_new = min(sampling.max_tokens, room)
        with self._lock:
            worker = Generation(self.model, inputs, self._generate_kwargs(sampling, max_new))
            decoder = Decoder(self.processor.tokenizer, sampling.stop)
            ids: list[int] = []
            try:
                for new in worker.tokens(cancel):
                    ids.extend(new)
                    piece, stopped = decoder.feed(ids)
                    if piece:
                        yield piece
                    if stopped:
                        worker.stop.set()
                        break
                else:
                    if tail := decoder.flush(ids):
                        yield tail
            finally:
                worker.finish()
        length = len(ids) >= max_new and not (ids and ids[-1] in self.eos_ids)
        completion = len([i for i in ids if i not in self.eos_ids])
        yield Generated(prompt_tokens, completion, "length" if length and not decoder.stopped else "stop")

    def _generate_kwargs(self, sampling: Sampling, max_new: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": max_new}
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                          top_k=0)  # fmt: skip
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.seed is not None:
            import torch

            torch.manual_seed(sampling.seed)  # under the engine lock: no other generation runs
        return kwargs

    def close(self) -> None:
        del self.model
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()


def split_audio(audio: Audio, max_s: float) -> list[tuple[float, Audio]]:
    """``audio`` as consecutive parts of at most ``max_s`` (start time, part), covering every
    sample; cuts fall at the quietest point (Silero speech probability) in the last half of
    each window."""
    if audio.duration_s <= max_s:
        return [(0.0, audio)]
    from ..audio.segment import plan_chunks
    from ..audio.vad import Span, speech_probabilities

    rate = audio.sample_rate_hz
    levels = speech_probabilities(audio.samples, rate)
    whole = [Span(0.0, audio.duration_s)]  # all of it: the model hears music and noises too
    chunks = plan_chunks(whole, levels, audio.duration_s, max_s, max_gap_s=float("inf"))
    bounds = [0] + [round(c.end_s * rate) for c in chunks[:-1]] + [len(audio.samples)]
    return [(a / rate, Audio(np.ascontiguousarray(audio.samples[a:b]), rate))
            for a, b in zip(bounds, bounds[1:]) if b > a]  # fmt: skip


__all__ = ["ALMCaps", "ALMEngine", "load_alm", "split_audio"]
