"""The cascade on real audio with the real models: answers, verbatim transcripts, the memo,
streaming, usage, translation and cancellation. Assertions are tolerant of model wording."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harken.engines.whisper import WhisperEngine
from harken.errors import Cancelled
from harken.service import ChatResult, Service
from harken.types import Audio, AudioPart, ChatRequest, Event, Message, TextDelta, TextPart, Usage
from tests.wer import wer

pytestmark = pytest.mark.slow


def ask(
    service: Service,
    parts: tuple[Audio | str, ...],
    *,
    model: str = "cascade",
    max_tokens: int = 48,
) -> ChatRequest:
    converted = tuple(TextPart(p) if isinstance(p, str) else AudioPart(p) for p in parts)
    return ChatRequest(model=model, messages=(Message("user", converted),), max_tokens=max_tokens)


def events(service: Service, request: ChatRequest, **kw: object) -> list[Event]:
    return list(service.chat_stream(request, **kw).iter_events())  # type: ignore[arg-type]


@pytest.fixture
def asr_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Counts Whisper runs (durations of the audio each one was given)."""
    calls: list[float] = []
    original = WhisperEngine.transcribe

    def spy(self: WhisperEngine, audio: Audio, *args: object, **kw: object) -> object:
        calls.append(audio.duration_s)
        return original(self, audio, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(WhisperEngine, "transcribe", spy)
    yield calls


def test_transcription_request_returns_whisper_verbatim(
    service: Service, clips: dict[str, Audio], references: dict[str, dict]
) -> None:
    result = service.chat(ask(service, (clips["jfk"], "Transcribe the audio exactly as spoken.")))
    assert wer(references["jfk.wav"]["text"], result.text) <= 0.10
    assert result.usage.completion_tokens > 10 and result.usage.prompt_tokens > 50
    assert result.usage.audio_s == pytest.approx(11.0, abs=0.1)


def test_question_streams_with_real_usage(service: Service, clips: dict[str, Audio]) -> None:
    request = ask(service, (clips["jfk"], "Who is the speaker addressing?"), max_tokens=24)
    got = events(service, request)
    deltas = [e for e in got if isinstance(e, TextDelta)]
    usage = next(e for e in got if isinstance(e, Usage))
    assert len(deltas) >= 3
    assert "american" in "".join(d.text for d in deltas).lower()
    notes = service.audio_memo.get(service.audio_memo.key("whisper-base", clips["jfk"]))
    assert notes is not None
    with service.manager.lease("qwen2.5-coder-1.5b-instruct") as (_, llm):
        transcript_tokens = llm.count_tokens(notes.transcript.text)  # type: ignore[attr-defined]
    assert usage.prompt_tokens > transcript_tokens + 100  # + system prompt and analysis
    assert 1 <= usage.completion_tokens <= 24


def test_sport_is_baseball(service: Service, clips: dict[str, Audio]) -> None:
    q = "What sport is being described? Answer in one word."
    assert "baseball" in service.chat(ask(service, (clips["baseball"], q))).text.lower()


def test_city_is_barcelona(service: Service, clips: dict[str, Audio]) -> None:
    q = "Which city is mentioned? Answer in one word."
    assert "barcelona" in service.chat(ask(service, (clips["bcn"], q))).text.lower()


def test_two_audios_are_compared(service: Service, clips: dict[str, Audio]) -> None:
    q = "In one short sentence each: what is Audio 1 about, and what is Audio 2 about?"
    text = service.chat(ask(service, (clips["jfk"], clips["bcn"], q), max_tokens=64)).text
    lowered = text.lower()
    assert any(w in lowered for w in ("weather", "temperature", "barcelona")), text
    assert any(w in lowered for w in ("country", "america", "speech", "kennedy")), text


def test_follow_up_answers_from_earlier_audio_without_asr(
    service: Service, clips: dict[str, Audio], asr_calls: list[float]
) -> None:
    service.chat(ask(service, (clips["bcn"], "Transcribe")))  # cached from here on
    asr_calls.clear()
    request = ChatRequest(
        model="cascade-fast",
        messages=(
            Message("user", (AudioPart(clips["bcn"]), TextPart("Transcribe this audio"))),
            Message("assistant", (TextPart("Yesterday it was 35 degrees in Barcelona..."),)),
            Message("user", (TextPart("What temperature is expected today?"),)),
        ),
        max_tokens=32,
    )
    result: ChatResult = service.chat(request)
    assert asr_calls == []  # the transcript came from the memo
    assert "20" in result.text, result.text


def test_translation_into_spanish(service: Service, audio_dir: object) -> None:
    transcript = service.translate(clips_path(audio_dir, "jfk.wav"), "Spanish")
    text = transcript.text.lower()
    assert transcript.language == "es" and transcript.task == "translate"
    assert any(w in text for w in ("país", "americanos", "pregunt")), text
    assert transcript.segments and transcript.segments[0].start_s == 0.0


def test_cancel_stops_generation(service: Service, clips: dict[str, Audio]) -> None:
    checks = 0

    def cancel() -> None:
        nonlocal checks
        checks += 1
        if checks > 3:
            raise Cancelled("the client left")

    request = ask(service, (clips["jfk"], "Describe the speech in detail."), max_tokens=64)
    deltas = 0
    with pytest.raises(Cancelled):
        for event in service.chat_stream(request, cancel=cancel).iter_events():
            deltas += isinstance(event, TextDelta)
    assert deltas <= 3
    assert service.manager.lease_count("cascade") == 0


def clips_path(audio_dir: object, name: str) -> str:
    return str(audio_dir) + "/" + name  # type: ignore[operator]
