"""``requests`` calls shaped as SambaNova's audio-reasoning docs show them, on a live harken.

The request body follows the documented curl example (assistant prompt, an ``audio_content``
data URL, the question as a separate user turn). Runs the real chat engine.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests

from tests.conftest import LiveServer
from tests.wer import wer

pytestmark = pytest.mark.slow


def analyze_audio(url: str, audio_file_path: Path, question: str, **extra: object) -> requests.Response:
    with open(audio_file_path, "rb") as audio_file:
        audio_base64 = base64.b64encode(audio_file.read()).decode("utf-8")
    mime = "audio/mp3" if audio_file_path.suffix == ".mp3" else "audio/wav"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer YOUR_API_KEY"}
    data = {
        "messages": [
            {"role": "assistant", "content": "you are a helpful assistant"},
            {"role": "user", "content": [{"type": "audio_content", "audio_content": {
                "content": f"data:{mime};base64,{audio_base64}"}}]},
            {"role": "user", "content": question},
        ],
        "max_tokens": 1024,
        "model": "Qwen2-Audio-7B-Instruct",
        "temperature": 0.01,
        **extra,
    }
    return requests.post(url, headers=headers, json=data, stream=bool(extra.get("stream")),
                         timeout=900)


def test_city_question_json(server: LiveServer, audio_dir: Path) -> None:
    response = analyze_audio(f"{server.v1}/audio/reasoning", audio_dir / "bcn_weather.mp3",
                             "Which city is mentioned?")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert "barcelona" in body["choices"][0]["message"]["content"].lower()
    assert body["model"] == response.headers["x-harken-model"]


def test_transcription_intent_text_format(server: LiveServer, audio_dir: Path,
                                          references: dict) -> None:
    response = analyze_audio(f"{server.v1}/audio/reasoning", audio_dir / "jfk.wav",
                             "Transcribe the audio exactly.", response_format="text")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert wer(references["jfk.wav"]["text"], response.text) <= 0.10


def test_streaming_parsed_line_by_line(server: LiveServer, audio_dir: Path) -> None:
    response = analyze_audio(f"{server.v1}/audio/reasoning", audio_dir / "winning_call.mp3",
                             "What sport is being described?", stream=True,
                             stream_options={"include_usage": True})
    assert response.status_code == 200, response.text
    text, usage = "", None
    for line in response.iter_lines():
        if line:
            line = line.decode("utf-8")
            if line.startswith("data: "):
                data = line[6:]
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                usage = chunk.get("usage") or usage
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    text += chunk["choices"][0]["delta"]["content"]
    assert "baseball" in text.lower()
    assert usage is not None and usage["completion_tokens"] > 0


def test_translation_to_spanish(server: LiveServer, audio_dir: Path) -> None:
    response = requests.post(
        f"{server.v1}/audio/translations",
        headers={"Authorization": "Bearer YOUR_API_KEY"},
        files={"file": open(audio_dir / "bcn_weather.mp3", "rb")},
        data={"model": "Qwen2-Audio-7B-Instruct", "language": "spanish",
              "response_format": "json", "temperature": "0.01"},
        timeout=900,
    )
    assert response.status_code == 200, response.text
    text = response.json()["text"].lower()
    assert "barcelona" in text and any(w in text for w in ("grados", "temperatura", "ayer", "hoy"))


def test_bad_requests(server: LiveServer) -> None:
    url = f"{server.v1}/audio/reasoning"
    for body, status in (
        ({"model": "Qwen2-Audio-7B-Instruct"}, 400),
        ({"model": "Qwen2-Audio-7B-Instruct", "messages": [{"role": "user", "content": [
            {"type": "audio_content", "audio_content": {"content": "data:audio/mp3;base64,###"}}]}]},
         400),
        ({"model": "Qwen2-Audio-7B-Instruct", "messages": [{"role": "user", "content": [
            {"type": "audio_content", "audio_content": {"content": "data:image/png;base64,aGk="}}]}]},
         415),
        ({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}, 404),
        ({"model": "Qwen2-Audio-7B-Instruct", "messages": [{"role": "user", "content": 5}]}, 400),
    ):
        response = requests.post(url, json=body, timeout=60)
        assert response.status_code == status, response.text
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
