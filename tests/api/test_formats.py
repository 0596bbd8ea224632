"""Exact outputs of the transcription response encoders, and the language table behind them."""

from __future__ import annotations

import json

import pytest
from openai.types.audio import TranscriptionDiarized, TranscriptionVerbose

from harken.api.formats import (
    encode_transcript,
    to_diarized_json,
    to_json,
    to_srt,
    to_text,
    to_verbose_json,
    to_vtt,
)
from harken.errors import InvalidRequest
from harken.languages import LANGUAGES, language_name, normalize_language
from harken.types import Segment, Transcript, Word


def _transcript(**overrides: object) -> Transcript:
    segments = (
        Segment(
            id=0,
            start_s=0.0,
            end_s=2.5,
            text=" Hello there.",
            words=(Word(0.0, 0.9, " Hello", 0.98), Word(1.0, 2.5, " there.", 0.91)),
            tokens=(50364, 2425, 456, 13),
            avg_logprob=-0.25,
            compression_ratio=0.8,
            no_speech_prob=0.01,
        ),
        Segment(
            id=1,
            start_s=2.5,
            end_s=3661.0006,
            text=" General Kenobi!",
            words=(Word(2.5, 3.0, " General"), Word(3.0, 3661.0006, " Kenobi!")),
            seek=3000,
            temperature=0.2,
        ),
    )
    fields: dict[str, object] = {
        "text": " Hello there. General Kenobi!",
        "language": "en",
        "language_probability": 0.99,
        "duration_s": 3661.2,
        "segments": segments,
    }
    fields.update(overrides)
    return Transcript(**fields)  # type: ignore[arg-type]


T = _transcript()


def test_to_json() -> None:
    assert to_json(T) == {
        "text": "Hello there. General Kenobi!",
        "usage": {"type": "duration", "seconds": 3662},
    }


@pytest.mark.parametrize(
    ("duration_s", "seconds"), [(0.0, 0), (0.001, 1), (2.0, 2), (2.0000000001, 2), (2.5, 3)]
)
def test_usage_seconds_round_up(duration_s: float, seconds: int) -> None:
    assert to_json(_transcript(duration_s=duration_s))["usage"]["seconds"] == seconds


def test_to_text() -> None:
    assert to_text(T) == "Hello there. General Kenobi!\n"
    assert to_text(_transcript(text="", segments=())) == "\n"


def test_to_srt() -> None:
    assert to_srt(T) == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n00:00:02,500 --> 01:01:01,001\nGeneral Kenobi!\n\n"
    )


def test_to_vtt() -> None:
    assert to_vtt(T) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.500\nHello there.\n\n"
        "00:00:02.500 --> 01:01:01.001\nGeneral Kenobi!\n\n"
    )


def test_subtitles_of_empty_transcript() -> None:
    empty = _transcript(text="", segments=())
    assert to_srt(empty) == ""
    assert to_vtt(empty) == "WEBVTT\n\n"


def test_subtitles_skip_empty_cues_and_renumber() -> None:
    t = _transcript(
        segments=(
            Segment(0, 0.0, 1.0, " "),
            Segment(1, 1.0, 2.0, " one\n\n two "),
            Segment(2, 2.0, 3.0, "three"),
        )
    )
    assert to_srt(t) == (
        "1\n00:00:01,000 --> 00:00:02,000\none\ntwo\n\n2\n00:00:02,000 --> 00:00:03,000\nthree\n\n"
    )


def test_timestamps_round_to_ms_clamp_negative_and_pass_99_hours() -> None:
    t = _transcript(segments=(Segment(0, -0.2, 0.0004999, "a"), Segment(1, 0.0015, 360000.0, "b")))
    assert to_srt(t) == (
        "1\n00:00:00,000 --> 00:00:00,000\na\n\n2\n00:00:00,002 --> 100:00:00,000\nb\n\n"
    )


def test_vtt_escapes_markup() -> None:
    t = _transcript(segments=(Segment(0, 0.0, 1.0, "a <b> & c --> d"),))
    assert to_vtt(t) == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\na &lt;b&gt; &amp; c --&gt; d\n\n"


def test_to_verbose_json() -> None:
    assert to_verbose_json(T, words=True) == {
        "task": "transcribe",
        "language": "english",
        "duration": 3661.2,
        "text": "Hello there. General Kenobi!",
        "segments": [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": 2.5,
                "text": " Hello there.",
                "tokens": [50364, 2425, 456, 13],
                "temperature": 0.0,
                "avg_logprob": -0.25,
                "compression_ratio": 0.8,
                "no_speech_prob": 0.01,
            },
            {
                "id": 1,
                "seek": 3000,
                "start": 2.5,
                "end": 3661.001,
                "text": " General Kenobi!",
                "tokens": [],
                "temperature": 0.2,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.0,
            },
        ],
        "words": [
            {"word": "Hello", "start": 0.0, "end": 0.9},
            {"word": "there.", "start": 1.0, "end": 2.5},
            {"word": "General", "start": 2.5, "end": 3.0},
            {"word": "Kenobi!", "start": 3.0, "end": 3661.001},
        ],
        "usage": {"type": "duration", "seconds": 3662},
    }


def test_verbose_json_granularities_leave_keys_out() -> None:
    only_segments = to_verbose_json(T, words=False)
    assert "words" not in only_segments and len(only_segments["segments"]) == 2
    only_words = to_verbose_json(T, words=True, segments=False)
    assert "segments" not in only_words and len(only_words["words"]) == 4
    assert list(only_words) == ["task", "language", "duration", "text", "words", "usage"]


def test_verbose_json_speaker_translate_and_unknown_language() -> None:
    t = _transcript(
        task="translate",
        language=None,
        segments=(
            Segment(0, 0.0, 1.0, " Hi", words=(Word(0, 1, " Hi", speaker="A"),), speaker="A"),
        ),
    )
    out = to_verbose_json(t, words=True)
    assert (out["task"], out["language"]) == ("translate", "")
    assert out["segments"][0]["speaker"] == "A"
    assert out["words"] == [{"word": "Hi", "start": 0, "end": 1, "speaker": "A"}]
    assert "speaker" not in to_verbose_json(T, words=True)["segments"][0]


def test_verbose_json_parses_with_openai_sdk_model() -> None:
    parsed = TranscriptionVerbose.model_validate(to_verbose_json(T, words=True))
    assert parsed.language == "english"
    assert parsed.segments is not None and parsed.segments[1].seek == 3000
    assert parsed.words is not None and parsed.words[3].word == "Kenobi!"
    assert parsed.usage is not None and parsed.usage.seconds == 3662


def test_to_diarized_json() -> None:
    t = _transcript(
        segments=(Segment(0, 0.0, 2.5, " Hello there.", speaker="A"), Segment(1, 2.5, 4.0, " Hi."))
    )
    assert to_diarized_json(t) == {
        "task": "transcribe",
        "duration": 3661.2,
        "text": "Hello there. General Kenobi!",
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": "seg_0",
                "start": 0.0,
                "end": 2.5,
                "text": "Hello there.",
                "speaker": "A",
            },
            {
                "type": "transcript.text.segment",
                "id": "seg_1",
                "start": 2.5,
                "end": 4.0,
                "text": "Hi.",
                "speaker": "A",
            },
        ],
        "usage": {"type": "duration", "seconds": 3662},
    }
    parsed = TranscriptionDiarized.model_validate(to_diarized_json(t))
    assert parsed.segments[0].speaker == "A"


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("json", "application/json"),
        ("text", "text/plain; charset=utf-8"),
        ("srt", "text/plain; charset=utf-8"),
        ("vtt", "text/vtt; charset=utf-8"),
        ("verbose_json", "application/json"),
        ("diarized_json", "application/json"),
    ],
)
def test_encode_transcript_dispatches(fmt: str, media_type: str) -> None:
    body, got_type = encode_transcript(T, fmt, words=True, segments=True)
    assert got_type == media_type
    expected = {
        "json": to_json(T),
        "text": to_text(T),
        "srt": to_srt(T),
        "vtt": to_vtt(T),
        "verbose_json": to_verbose_json(T, words=True),
        "diarized_json": to_diarized_json(T),
    }[fmt]
    assert body == expected
    if isinstance(body, dict):
        json.dumps(body)  # serialisable as-is


def test_encode_transcript_passes_granularities() -> None:
    body, _ = encode_transcript(T, "verbose_json", words=False, segments=True)
    assert isinstance(body, dict) and "words" not in body


@pytest.mark.parametrize("fmt", ["xml", "JSON", ""])
def test_encode_transcript_rejects_unknown_format(fmt: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        encode_transcript(T, fmt, words=False, segments=True)
    assert info.value.param == "response_format"
    assert repr(fmt) in info.value.message
    assert info.value.status_code == 400


# --- languages ---------------------------------------------------------------------------------


def test_language_table_matches_faster_whisper() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert len(LANGUAGES) == 100
    assert set(LANGUAGES) == set(_LANGUAGE_CODES)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("es", "es"),
        ("ES", "es"),
        ("spanish", "es"),
        ("Spanish", "es"),
        (" castilian ", "es"),
        ("es-MX", "es"),
        ("pt_BR", "pt"),
        ("Haitian  Creole", "ht"),
        ("haw", "haw"),
        ("yue", "yue"),
        ("cantonese", "yue"),
        ("mandarin", "zh"),
        ("zh-Hant-TW", "zh"),
        ("jv", "jw"),
        ("iw", "he"),
    ],
)
def test_normalize_language(value: str, code: str) -> None:
    assert normalize_language(value) == code


@pytest.mark.parametrize("value", ["", "xx", "klingon", "english-ish", "e", "en--", "xx-US"])
def test_normalize_language_rejects(value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_language(value)
    assert info.value.param == "language"
    assert repr(value) in info.value.message


def test_every_code_and_name_round_trips() -> None:
    for code, name in LANGUAGES.items():
        assert normalize_language(code) == code
        assert normalize_language(name) == code
        assert normalize_language(name.upper()) == code
        assert language_name(code) == name


@pytest.mark.parametrize(
    ("value", "name"), [("es", "spanish"), ("Castilian", "spanish"), ("en-GB", "english")]
)
def test_language_name(value: str, name: str) -> None:
    assert language_name(value) == name


def test_language_name_passes_unknown_through() -> None:
    assert language_name("Klingon") == "klingon"
