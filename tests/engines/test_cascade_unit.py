"""The cascade's pure parts: the memo, how audio is rendered and numbered, catalog routing."""

from __future__ import annotations

import numpy as np
import pytest

from harken.config import Settings
from harken.engines.cascade import AudioMemo, _numbered_segments, _verbatim_notes, to_llm_messages
from harken.engines.prompts import SYSTEM_PROMPT, AudioNotes, render_audio, timestamp
from harken.service import Service
from harken.types import Audio, AudioPart, Message, Segment, TextPart, Transcript


def notes(text: str, language: str = "en") -> AudioNotes:
    seg = Segment(id=0, start_s=65.0, end_s=70.0, text=" " + text)
    transcript = Transcript(text, language, 0.9, 71.0, (seg,))
    return AudioNotes(transcript, "speech 5.0 s (7%) in 1 stretch; loudness -20 dBFS", (0.7,), "positive (+0.70)")


def audio(value: float = 0.1) -> Audio:
    return Audio(np.full(1600, value, dtype=np.float32))


def test_timestamps() -> None:
    assert timestamp(0.0) == "[00:00]"
    assert timestamp(65.9) == "[01:05]"
    assert timestamp(3725.0) == "[1:02:05]"


def test_render_audio_is_compact_and_labelled() -> None:
    text = render_audio(2, notes("What a great day."))
    assert text.splitlines()[0] == "[Audio 2: 71.0 s, English]"
    assert "[01:05] What a great day. (sentiment positive +0.70)" in text
    assert "Analysis: speech 5.0 s (7%) in 1 stretch; loudness -20 dBFS" in text
    assert text.splitlines()[-1] == "Text sentiment: positive (+0.70)"


def test_audio_numbered_in_order_across_the_conversation() -> None:
    messages = (
        Message("system", (TextPart("Be brief."),)),
        Message("user", (AudioPart(audio()), TextPart("First?"))),
        Message("assistant", (TextPart("Yes."),)),
        Message("user", (TextPart("And this?"), AudioPart(audio(0.2)))),
    )
    out = to_llm_messages(messages, [notes("one"), notes("two")])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"] == SYSTEM_PROMPT + "\n\nBe brief."
    assert out[1]["content"].startswith("[Audio 1: ") and "one" in out[1]["content"]
    assert out[3]["content"].startswith("And this?\n\n[Audio 2: ")
    # "Transcribe" in the last turn picks that turn's audio; a text-only turn the latest one.
    transcribe = (*messages[:3], Message("user", (AudioPart(audio(0.2)), TextPart("Transcribe"))))
    assert _verbatim_notes(transcribe, [notes("one"), notes("two")]) == [notes("two")]
    follow = (*messages[:2], Message("user", (TextPart("Transcribe it."),)))
    assert _verbatim_notes(follow, [notes("one")]) == [notes("one")]
    assert _verbatim_notes(messages, [notes("one"), notes("two")]) is None


def test_memo_is_a_bounded_lru_keyed_by_content() -> None:
    memo = AudioMemo(capacity=2)
    a, b, c = (memo.key("whisper-base", audio(v)) for v in (0.1, 0.2, 0.3))
    assert memo.key("whisper-base", audio(0.1)) == a  # same samples, new object: same key
    assert memo.key("whisper-tiny.en", audio(0.1)) != a
    memo.put(a, notes("a"))
    memo.put(b, notes("b"))
    assert memo.get(a) is not None  # a is now the most recent
    memo.put(c, notes("c"))
    assert memo.get(b) is None and memo.get(a) is not None and len(memo) == 2
    with pytest.raises(ValueError):
        AudioMemo(0)


def test_numbered_translation_lines_keep_timestamps() -> None:
    segs = (Segment(0, 0.0, 2.0, " Hello."), Segment(1, 2.0, 5.0, " Goodbye."))
    source = Transcript("Hello. Goodbye.", "en", 1.0, 5.0, segs)
    out = _numbered_segments("1. Hola.\n2. Adiós.", source)
    spans = [(s.start_s, s.end_s, s.text) for s in out]
    assert spans == [(0.0, 2.0, " Hola."), (2.0, 5.0, " Adiós.")]
    merged = _numbered_segments("Hola. Adiós.", source)
    assert [(s.start_s, s.end_s, s.text) for s in merged] == [(0.0, 5.0, " Hola. Adiós.")]


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        (None, "cascade"),
        ("cascade-fast", "cascade-fast"),
        ("Qwen2-Audio-7B-Instruct", "cascade"),
        ("mistral.voxtral-mini-3b-2507", "cascade"),
        ("voxtral-mini-latest", "cascade"),
        ("mistral.voxtral-small-24b-2507", "cascade"),
    ],
)
def test_audio_language_models_are_served_by_the_cascade_on_cpu(
    requested: str | None, served: str
) -> None:
    svc = Service(Settings())
    assert svc.resolve_chat(requested).id == served
    native = Service(Settings(serve_with={}))
    if requested and requested != "cascade-fast":
        assert native.resolve_chat(requested).kind == "alm"
