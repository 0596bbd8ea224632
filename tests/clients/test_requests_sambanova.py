"""``requests`` calls written exactly as SambaNova's docs show them, and curl from the README."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import LiveServer
from tests.wer import normalize, wer

pytestmark = pytest.mark.slow


def test_sambanova_transcription_json(server: LiveServer, audio_dir: Path, references: dict) -> None:
    url = f"{server.v1}/audio/transcriptions"
    headers = {"Authorization": "Bearer YOUR_API_KEY"}
    files = {"file": open(audio_dir / "bcn_weather.mp3", "rb")}
    data = {"model": "whisper-1", "language": "english", "response_format": "json",
            "temperature": "0.01"}
    response = requests.post(url, headers=headers, files=files, data=data, timeout=300)
    assert response.status_code == 200, response.text
    assert wer(references["bcn_weather.mp3"]["text"], response.json()["text"]) <= 0.05


def test_sambanova_spanish_by_name_as_text(server: LiveServer, audio_dir: Path,
                                            references: dict) -> None:
    name = "asterisk_es_conf-onlyperson.wav"
    response = requests.post(
        f"{server.v1}/audio/transcriptions",
        files={"file": open(audio_dir / name, "rb")},
        data={"model": "whisper-1", "language": "spanish", "response_format": "text"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert wer(references[name]["text"], response.text) <= 0.25


def test_sambanova_streaming_parsed_line_by_line(server: LiveServer, audio_dir: Path) -> None:
    response = requests.post(
        f"{server.v1}/audio/transcriptions",
        files={"file": open(audio_dir / "asterisk_en_demo-congrats.wav", "rb")},
        data={"model": "whisper-1", "language": "english", "response_format": "json",
              "stream": "true", "stream_options": json.dumps({"include_usage": True})},
        stream=True,
        timeout=300,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    content, last, done = [], None, False
    for line in response.iter_lines(decode_unicode=True):
        if not line:
            continue
        assert line.startswith("data: ")
        payload = line[len("data: "):]
        if payload == "[DONE]":
            done = True
            break
        chunk = json.loads(payload)
        assert chunk["object"] == "chat.completion.chunk"
        content.append(chunk["choices"][0]["delta"].get("content") or "")
        last = chunk
    assert done and last is not None
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"]["seconds"] == 31
    assert "asterisk open source" in normalize("".join(content))


def test_sambanova_translation_target_english(server: LiveServer, audio_dir: Path) -> None:
    response = requests.post(
        f"{server.v1}/audio/translations",
        files={"file": open(audio_dir / "asterisk_es_vm-intro.wav", "rb")},
        data={"model": "whisper-1", "language": "english", "response_format": "json"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    text = normalize(response.json()["text"])
    assert "message" in text and "tone" in text, text


def test_translation_to_an_unknown_language(server: LiveServer, audio_dir: Path) -> None:
    # Non-English targets are translated by the cascade now (test_sambanova_reasoning.py);
    # a language nobody knows is still a 400 naming the field.
    response = requests.post(
        f"{server.v1}/audio/translations",
        files={"file": open(audio_dir / "jfk.wav", "rb")},
        data={"model": "whisper-1", "language": "klingon"},
        timeout=60,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "language" and "klingon" in error["message"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_as_in_the_readme(server: LiveServer, audio_dir: Path, references: dict) -> None:
    out = subprocess.run(
        ["curl", "-sS", f"{server.v1}/audio/transcriptions",
         "-F", f"file=@{audio_dir / 'jfk.wav'}", "-F", "model=whisper-1",
         "-F", "response_format=json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert wer(references["jfk.wav"]["text"], json.loads(out.stdout)["text"]) <= 0.05
