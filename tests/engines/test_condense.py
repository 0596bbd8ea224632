"""A recording longer than the LLM's context is answered over part summaries, not refused."""

from __future__ import annotations


import pytest

from harken.config import Settings
from harken.engines.condense import condense
from harken.service import Service
from harken.types import Audio, AudioPart, ChatRequest, Message, TextPart
from tests.conftest import harken_home, shared_audio_dir

pytestmark = pytest.mark.slow

N_CTX = 1024  # small on purpose: 150 s of news is about 500 transcript tokens plus analysis


@pytest.fixture(scope="module")
def small_context() -> Service:
    service = Service(Settings(home=harken_home(), llm={"n_ctx": N_CTX}))
    yield service
    service.close()


@pytest.fixture(scope="module")
def news(small_context: Service) -> Audio:
    voa = small_context.load_audio(shared_audio_dir() / "VOA_News_Headlines_(May_5,_2009).ogg")
    return Audio(voa.samples[: 150 * voa.sample_rate_hz], voa.sample_rate_hz)


def test_long_recording_answered_over_summaries(small_context: Service, news: Audio) -> None:
    request = ChatRequest(
        model="cascade-fast",
        messages=(Message("user", (AudioPart(news), TextPart("What is this broadcast about?"))),),
        max_tokens=48,
    )
    result = small_context.chat(request)
    assert result.text.strip()
    # The summaries were read too: more prompt tokens in all than one context holds.
    assert result.usage.prompt_tokens > N_CTX
    assert result.usage.audio_s == pytest.approx(150.0, abs=0.1)


def test_condense_keeps_timestamps_and_fits(small_context: Service, news: Audio) -> None:
    from harken.engines.cascade import to_llm_messages

    engine_notes = small_context.audio_memo
    with small_context.manager.lease("cascade-fast") as (_, cascade):
        notes = [cascade.notes(news)]
        question = (Message("user", (AudioPart(news), TextPart("Summarise."))),)
        with small_context.manager.lease(cascade.llm_model) as (_, llm):
            room = llm.n_ctx - 48
            assert llm.prompt_tokens(to_llm_messages(question, notes)) > room

            def fits(candidate: list) -> bool:
                return llm.prompt_tokens(to_llm_messages(question, candidate)) <= room

            condensed, spent = condense(notes, llm, fits, lambda: None)
    assert fits(condensed) and spent.prompt_tokens > 0
    segments = condensed[0].transcript.segments
    assert len(segments) >= 2 and all(s.text.startswith("(summary of [") for s in segments)
    assert segments[0].start_s < 5 and segments[-1].end_s > 140
    assert len(engine_notes) >= 1  # the transcript stayed cached for follow-ups
