"""Audio intelligence over HTTP against a live server: the openai SDK and requests, real audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openai
import pytest
import requests

from harken.audio.decode import decode_audio
from tests.audio.test_enhance import with_white_noise
from tests.audiofiles import encode
from tests.conftest import LiveServer
from tests.conversation import conversation, join, labelled_fraction, trimmed
from tests.wer import wer

pytestmark = pytest.mark.slow
RATE_HZ = 16_000


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=900)


def wav(samples: np.ndarray) -> bytes:
    return encode(samples[None, :], RATE_HZ, "wav", "pcm_s16le", "mono")


def post(server: LiveServer, audio: bytes, **fields: object) -> requests.Response:
    return requests.post(
        server.v1 + "/audio/transcriptions",
        files={"file": ("clip.wav", audio, "audio/wav")},
        data={"model": "whisper-1", **fields},
        timeout=900,
    )


def test_monkeys_analysis_in_verbose_json(client: openai.OpenAI, audio_dir: Path) -> None:
    with (audio_dir / "asterisk_monkeys.wav").open("rb") as f:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", include=["analysis"]  # type: ignore[list-item]
        )
    assert result.text == ""
    analysis = result.model_extra["analysis"]  # type: ignore[index]
    assert analysis["speech_ratio"] < 0.2
    heard = [s for s in analysis["sounds"] if s["kind"] != "silence"]
    assert heard and all(s["description"] for s in heard)
    assert sum(s["end"] - s["start"] for s in heard) > 0.5 * analysis["duration"]
    assert "other sounds: " in analysis["description"]
    for key in ("speech_spans", "silence_spans", "loudness_dbfs", "noise_floor_dbfs", "snr_db"):
        assert key in analysis


def test_diarized_json_names_who_speaks_when(
    client: openai.OpenAI, server: LiveServer, audio_dir: Path
) -> None:
    audio, truth = conversation(audio_dir)
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=("conversation.wav", wav(audio)),
        response_format="diarized_json",  # type: ignore[arg-type]
        extra_body={"max_speakers": "4"},
    )
    segments = result.segments  # type: ignore[union-attr]
    assert {s.speaker for s in segments} == {"A", "B", "C"}
    score = labelled_fraction(truth, [(s.start, s.end, s.speaker) for s in segments])
    print(f"diarized_json over HTTP: {score:.1%} of speech time labelled right")
    assert score >= 0.85
    # Words and segments in verbose_json carry the speakers too, with an exact count.
    body = post(
        server, wav(audio), response_format="verbose_json", num_speakers="3",
        **{"timestamp_granularities[]": "word"},
    ).json()  # fmt: skip
    assert {w["speaker"] for w in body["words"]} == {"A", "B", "C"}
    assert [s["speaker"] for s in body["speakers"]] == ["A", "B", "C"]


def test_denoise_reports_snr_and_keeps_words(
    server: LiveServer, audio_dir: Path, references: dict
) -> None:
    noisy = with_white_noise(decode_audio(audio_dir / "jfk.wav").samples, 5.0)
    response = post(server, wav(noisy), response_format="verbose_json", denoise="true",
                    analysis="true", sentiment="true")  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    report = body["analysis"]["denoise"]
    assert report["method"] == "rnnoise"
    assert report["snr_after_db"] - report["snr_before_db"] >= 6.0, report
    assert wer(references["jfk.wav"]["text"], body["text"]) <= 0.05, body["text"]
    # The analysis is of the audio as uploaded: still noisy.
    assert body["analysis"]["snr_db"] < 10
    assert body["sentiment"]["label"] in ("positive", "neutral", "negative")
    assert all("sentiment" in s for s in body["segments"])


def test_segment_languages_over_http(server: LiveServer, audio_dir: Path) -> None:
    parts = [(c, trimmed(audio_dir / f"asterisk_{c}_agent-alreadyon.wav")) for c in ("en", "es", "fr")]
    audio, truth = join(parts, (1.0,))
    body = post(server, wav(audio), response_format="verbose_json",
                **{"include[]": "segment_languages"}).json()  # fmt: skip
    names = {"en": "english", "es": "spanish", "fr": "french"}
    assert body["segments"]
    for s in body["segments"]:
        middle = (s["start"] + s["end"]) / 2
        expected = next(p.label for p in truth if p.start_s - 0.5 <= middle <= p.end_s + 0.5)
        assert s["language"] == names[expected], s
        assert s["language_probabilities"][0]["language"] == expected
        assert len(s["language_probabilities"]) == 5
    top = [p["language"] for p in body["language_probabilities"][:3]]
    assert sorted(top) == ["en", "es", "fr"]


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"include[]": "everything"}, "include[]"),
        ({"num_speakers": "two"}, "num_speakers"),
        ({"min_speakers": "3", "max_speakers": "2"}, "num_speakers"),
        ({"num_speakers": "0"}, "num_speakers"),
        ({"denoise": "maybe"}, "denoise"),
    ],
)
def test_bad_options_are_400s(server: LiveServer, audio_dir: Path, fields: dict, param: str) -> None:
    response = post(server, (audio_dir / "librispeech_1.wav").read_bytes(), **fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_english_only_model_refuses_segment_languages(server: LiveServer, audio_dir: Path) -> None:
    response = post(server, (audio_dir / "librispeech_1.wav").read_bytes(),
                    model="whisper-tiny.en", segment_languages="true")  # fmt: skip
    assert response.status_code == 400, response.text
    assert "languages" in json.dumps(response.json())
