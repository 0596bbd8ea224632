"""The ``openai`` SDK's chat completions with ``input_audio`` parts, against a live harken."""

from __future__ import annotations

import base64
from pathlib import Path

import openai
import pytest

from tests.conftest import LiveServer
from tests.wer import wer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key="unused", timeout=900, max_retries=0)


def _audio(path: Path) -> dict:
    data = base64.b64encode(path.read_bytes()).decode()
    return {"type": "input_audio", "input_audio": {"data": data, "format": path.suffix[1:]}}


def test_transcribe_intent(client: openai.OpenAI, audio_dir: Path, references: dict) -> None:
    done = client.chat.completions.create(model="voxtral-mini-latest", messages=[
        {"role": "user", "content": [_audio(audio_dir / "jfk.wav"),
                                     {"type": "text", "text": "Transcribe this audio."}]}])
    assert wer(references["jfk.wav"]["text"], done.choices[0].message.content) <= 0.10
    assert done.model and done.usage is not None


def test_streaming_question(client: openai.OpenAI, audio_dir: Path) -> None:
    stream = client.chat.completions.create(
        model="Qwen2-Audio-7B-Instruct", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": [_audio(audio_dir / "bcn_weather.mp3"),
                                               {"type": "text", "text": "Which city is mentioned?"}]}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "barcelona" in text.lower()
    assert chunks[-1].usage is not None


def test_follow_up_turn(client: openai.OpenAI, audio_dir: Path) -> None:
    messages = [{"role": "user", "content": [_audio(audio_dir / "winning_call.mp3"),
                                             {"type": "text", "text": "Describe this clip."}]}]
    first = client.chat.completions.create(model="cascade", messages=messages)
    messages += [{"role": "assistant", "content": first.choices[0].message.content},
                 {"role": "user", "content": "What sport is being described?"}]
    second = client.chat.completions.create(model="cascade", messages=messages)
    assert "baseball" in second.choices[0].message.content.lower()


def test_bad_requests(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="cascade", messages=[])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="cascade", messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "@@not-base64@@", "format": "wav"}}]}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model",
                                       messages=[{"role": "user", "content": "hi"}])
