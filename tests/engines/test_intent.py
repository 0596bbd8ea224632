"""Transcription intent: exact on the phrases Voxtral users send, off for real questions."""

from __future__ import annotations

import pytest

from harken.engines.intent import is_transcription_request

TRANSCRIBE = [
    "Transcribe this audio",
    "Transcribe the audio exactly as spoken.",
    "Transcribe",
    "transcribe this audio, please",
    "Please transcribe the recording verbatim.",
    "Give me a transcript of this audio.",
    "Transcribir este audio",
    "Transcribe este audio exactamente como se dice.",
    "Transcris cet audio",
    "Transcris l'audio mot pour mot.",
    "Transcreva este áudio",
    "Transkribiere dieses Audio",
    "Transcribeer deze audio",
    "Trascrivi questo audio",
    "इस ऑडियो को ट्रांसक्राइब करें",
    # The Voxtral Bedrock notebook's own prompt for chunked long audio.
    "Transcribe this audio exactly. Do not add any commentary.",
    "Transcribe the audio, no commentary, nothing else.",
]

NOT_TRANSCRIBE = [
    "What is this audio about?",
    "What sport is being described?",
    "Transcribe this audio and summarise it.",
    "Transcribe the audio into French.",
    "Who is speaking and what do they want?",
    "Summarize the transcript.",
    "Transcribe and add commentary.",
    "Transcribe it with explanations of each sentence.",
    "",
]


@pytest.mark.parametrize("text", TRANSCRIBE)
def test_transcription_requests_are_recognised(text: str) -> None:
    assert is_transcription_request(text)


@pytest.mark.parametrize("text", NOT_TRANSCRIBE)
def test_other_requests_are_not(text: str) -> None:
    assert not is_transcription_request(text)
