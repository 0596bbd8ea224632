"""The audio-language model engine on tiny random Voxtral and Qwen2-Audio checkpoints: real
transformers loading, processors, chat templates and generation (the answers are noise; the
plumbing, token counts, streaming, cancellation and long-audio handling are what is checked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from harken.engines import alm
from harken.engines.alm_stream import Decoder
from harken.errors import Cancelled
from harken.service import Service
from harken.types import (Audio, AudioPart, ChatRequest, Finished, Message, TextDelta, TextPart,
                          TranscribeOptions, Usage)  # fmt: skip
from tests.engines.alm_fixtures import alm_service, load_clip  # noqa: F401
from tests.engines.tiny_alm import QWEN_ID, VOXTRAL_ID

pytestmark = pytest.mark.slow
RATE = 16_000


@pytest.fixture(scope="module")
def jfk() -> Audio:
    return load_clip("jfk.wav")


@pytest.fixture(scope="module")
def two_minutes(jfk: Audio) -> Audio:
    """Speech with 1 s pauses, exactly 120 s long."""
    gap = np.zeros(RATE, np.float32)
    pieces = np.concatenate([np.concatenate([jfk.samples, gap])] * 12)[: 120 * RATE]
    return Audio(pieces.astype(np.float32), RATE)


def engine(service: Service, model: str) -> alm.ALMEngine:
    with service.manager.lease(model) as (_, instance):
        return instance  # type: ignore[return-value]  # stays loaded for the module


class AudioSpy:
    """Wraps a processor and records the seconds of audio each call hands to the model."""

    def __init__(self, processor: Any) -> None:
        self._processor = processor
        self.fed_s: list[float] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._processor, name)
        if name in ("apply_transcription_request",):
            def spy(*args: Any, audio: Any = (), **kw: Any) -> Any:
                self.fed_s.extend(len(a) / RATE for a in audio)
                return value(*args, audio=audio, **kw)
            return spy
        return value

    def __call__(self, *args: Any, audio: Any = None, **kw: Any) -> Any:
        self.fed_s.extend(len(a) / RATE for a in audio or ())
        return self._processor(*args, audio=audio, **kw)


@pytest.fixture
def spy(alm_service: Service) -> Iterator[AudioSpy]:
    qwen = engine(alm_service, QWEN_ID)
    original = qwen.processor
    qwen.processor = AudioSpy(original)
    yield qwen.processor  # type: ignore[misc]
    qwen.processor = original


def conversation(jfk: Audio, max_tokens: int = 12, **kw: Any) -> ChatRequest:
    """System prompt, two audios in one turn, an answer, a follow-up (SambaNova's split turns)."""
    short = Audio(jfk.samples[: 4 * RATE], RATE)
    return ChatRequest(model="", max_tokens=max_tokens, messages=(
        Message("system", (TextPart("Answer briefly."),)),
        Message("user", (AudioPart(jfk), AudioPart(short), TextPart("Compare the two audios."))),
        Message("assistant", (TextPart("They are the same speech."),)),
        Message("user", (TextPart("Who speaks?"),)),
    ), **kw)  # fmt: skip


@pytest.mark.parametrize("model,per_s", [(QWEN_ID, 25.0), (VOXTRAL_ID, 12.5)])
def test_chat_streams_with_real_usage(alm_service: Service, jfk: Audio, model: str,
                                      per_s: float) -> None:  # fmt: skip
    events = list(alm_service.chat_stream(
        ChatRequest(**{**conversation(jfk).__dict__, "model": model})).iter_events())  # fmt: skip
    deltas = [e for e in events if isinstance(e, TextDelta)]
    usage = next(e for e in events if isinstance(e, Usage))
    assert len(deltas) >= 2  # token by token, not one block
    assert 1 <= usage.completion_tokens <= 12
    # Every audio token is counted: Qwen2-Audio 25 a second; Voxtral 12.5, each audio padded
    # to a 30 s multiple (375 tokens).
    audio_tokens = 375 * 2 if model == VOXTRAL_ID else int(per_s * (11 + 4))
    assert audio_tokens < usage.prompt_tokens < audio_tokens + 200
    assert usage.audio_s == pytest.approx(15.0, abs=0.1)
    assert events[-1] == Finished("length" if usage.completion_tokens == 12 else "stop", model=model)


@pytest.mark.parametrize("model", [QWEN_ID, VOXTRAL_ID])
def test_greedy_answer_equals_model_generate(alm_service: Service, jfk: Audio, model: str) -> None:
    """harken's tokens at temperature 0 are exactly those of ``model.generate`` (greedy)."""
    e = engine(alm_service, model)
    request = ChatRequest(model=model, max_tokens=16, messages=(
        Message("user", (AudioPart(jfk), TextPart("What is said?"))),))  # fmt: skip
    result = alm_service.chat(request)
    if model == QWEN_ID:
        conv = [{"role": "user", "content": [{"type": "audio", "audio_url": "a"},
                                             {"type": "text", "text": "What is said?"}]}]
        text = e.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
        inputs = e.processor(text=text, audio=[jfk.samples], sampling_rate=RATE, return_tensors="pt")
    else:
        from harken.engines.alm_prompts import wav_base64

        inputs = e.processor.apply_chat_template([{"role": "user", "content": [
            {"type": "audio", "base64": wav_base64(jfk)}, {"type": "text", "text": "What is said?"}]}])
    out = e.model.generate(**inputs, max_new_tokens=16, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert result.text == e.processor.tokenizer.decode(new, skip_special_tokens=True)
    assert result.usage.prompt_tokens == inputs["input_ids"].shape[1]


def test_cancel_stops_between_tokens(alm_service: Service, jfk: Audio) -> None:
    checks = 0

    def cancel() -> None:
        nonlocal checks
        checks += 1
        if checks > 3:
            raise Cancelled("the client left")

    request = ChatRequest(model=QWEN_ID, max_tokens=200, messages=(
        Message("user", (AudioPart(jfk), TextPart("Describe it."))),))  # fmt: skip
    deltas = 0
    with pytest.raises(Cancelled):
        for event in alm_service.chat_stream(request, cancel=cancel).iter_events():
            deltas += isinstance(event, TextDelta)
    assert deltas <= 3
    assert alm_service.manager.lease_count(QWEN_ID) == 0
    assert not engine(alm_service, QWEN_ID)._lock.locked()  # the generation thread is done


def test_split_audio_covers_every_sample(two_minutes: Audio) -> None:
    parts = alm.split_audio(two_minutes, 30.0)
    assert len(parts) >= 4
    assert sum(len(p.samples) for _, p in parts) == len(two_minutes.samples)
    assert all(p.duration_s <= 30.0 for _, p in parts)
    starts = [s for s, _ in parts]
    assert starts[0] == 0.0 and starts == sorted(starts)


def test_two_minute_question_hears_every_part(alm_service: Service, two_minutes: Audio,
                                              spy: AudioSpy, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:  # fmt: skip
    monkeypatch.setattr(alm, "PART_SUMMARY_TOKENS", 4)
    request = ChatRequest(model=QWEN_ID, max_tokens=4, messages=(
        Message("user", (AudioPart(two_minutes), TextPart("What is this about?"))),))  # fmt: skip
    result = alm_service.chat(request)
    assert len(spy.fed_s) >= 4 and all(s <= 30.0 for s in spy.fed_s)
    assert sum(spy.fed_s) == pytest.approx(120.0, abs=1e-6)
    # The summaries' prompts (audio tokens included) count too.
    assert result.usage.prompt_tokens > 25 * 120
    assert result.usage.audio_s == pytest.approx(120.0)


def test_two_minute_transcript_is_stitched(alm_service: Service, two_minutes: Audio,
                                           spy: AudioSpy, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:  # fmt: skip
    monkeypatch.setattr(alm, "TRANSCRIPT_TOKENS_PER_S", 0.1)
    monkeypatch.setattr(alm, "TRANSCRIPT_MIN_TOKENS", 3)
    e = engine(alm_service, QWEN_ID)
    segments, info = e.transcribe(two_minutes, TranscribeOptions(language="en"))
    segments = list(segments)
    assert info.duration_s == pytest.approx(120.0) and info.model == QWEN_ID
    assert sum(spy.fed_s) == pytest.approx(120.0, abs=1e-6) and len(spy.fed_s) >= 4
    assert [s.start_s for s in segments] == sorted(s.start_s for s in segments)
    assert segments[-1].end_s == pytest.approx(120.0)  # times offset onto the whole audio


def test_voxtral_transcribes_in_its_transcription_mode(alm_service: Service, jfk: Audio,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alm, "TRANSCRIPT_TOKENS_PER_S", 1.0)
    e = engine(alm_service, VOXTRAL_ID)
    original = e.processor
    e.processor = recorder = AudioSpy(original)
    try:
        transcript = alm_service.transcribe(jfk, TranscribeOptions(language="en"), model=VOXTRAL_ID)
    finally:
        e.processor = original
    assert recorder.fed_s == [pytest.approx(11.0)]  # through apply_transcription_request
    assert transcript.model == VOXTRAL_ID and transcript.duration_s == pytest.approx(11.0)
    assert len(transcript.segments) <= 1


def test_decoder_holds_back_stop_strings_and_broken_utf8() -> None:
    class Chars:  # one token per character; 0 decodes to a lone UTF-8 lead byte
        def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
            return "".join("\ufffd" if i == 0 else chr(i) for i in ids)

    decoder = Decoder(Chars(), ["END"])
    ids: list[int] = []
    out = []
    for ch in "ab" + "\0" + "cEN" + "Dzz":
        ids.append(ord(ch) if ch != "\0" else 0)
        piece, stopped = decoder.feed(ids)
        out.append(piece)
        if stopped:
            break
    assert "".join(out) == "ab\ufffdc" and decoder.stopped
