"""``POST /v1/audio/reasoning`` (SambaNova) through the real dialect code with a fake engine."""

from __future__ import annotations

import json

import requests

from harken.api.sse import SSEDecoder
from tests.api.chat_fakes import FakeChatEngine, b64wav, loopback, make_client


def _sambanova_body(**extra: object) -> dict:
    """The shape of SambaNova's documented example: assistant prompt, audio turn, question."""
    return {
        "model": "Qwen2-Audio-7B-Instruct",
        "messages": [
            {"role": "assistant", "content": "you are a helpful assistant"},
            {"role": "user", "content": [{"type": "audio_content", "audio_content": {
                "content": "data:audio/wav;base64," + b64wav(1)}}]},
            {"role": "user", "content": "what is the audio about"},
        ],
        **extra,
    }


def test_leading_assistant_is_the_system_prompt_and_defaults_apply() -> None:
    engine = FakeChatEngine()
    with make_client(engine) as client:
        r = client.post("/v1/audio/reasoning", json=_sambanova_body())
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == (
        "system:you_are_a_helpful_assistant user:audio(1.0s) user:what_is_the_audio_about")
    assert r.headers["x-harken-model"] == r.json()["model"] == "cascade"
    assert (engine.requests[-1].max_tokens, engine.requests[-1].temperature) == (1000, 0.0)


def test_model_name_is_case_insensitive_and_text_format_is_plain() -> None:
    with make_client(FakeChatEngine()) as client:
        r = client.post("/v1/audio/reasoning",
                        json=_sambanova_body(model="qwen2-audio-7b-instruct",
                                             response_format="text"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("system:you_are")


def test_a_later_assistant_turn_stays_assistant() -> None:
    body = _sambanova_body()
    body["messages"] += [{"role": "assistant", "content": "music"},
                         {"role": "user", "content": "sure?"}]
    with make_client(FakeChatEngine()) as client:
        r = client.post("/v1/audio/reasoning", json=body)
    assert r.json()["choices"][0]["message"]["content"].endswith("assistant:music user:sure?")


def test_stream_parsed_line_by_line_with_usage_on_the_last_chunk() -> None:
    with loopback(FakeChatEngine()) as base:
        response = requests.post(
            base + "/v1/audio/reasoning",
            headers={"Authorization": "Bearer YOUR_API_KEY"},
            json=_sambanova_body(stream=True, stream_options={"include_usage": True}),
            stream=True, timeout=30)
        assert response.status_code == 200
        chunks, done = [], False
        for line in response.iter_lines():
            if not line:
                continue
            data = line.decode().removeprefix("data: ")
            if data == "[DONE]":
                done = True
                break
            chunks.append(json.loads(data))
    assert done
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.startswith("system:you_are_a_helpful_assistant user:audio(1.0s)")
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_no_usage_unless_asked() -> None:
    with make_client(FakeChatEngine()) as client:
        r = client.post("/v1/audio/reasoning", json=_sambanova_body(stream=True))
    decoder = SSEDecoder()
    events = decoder.feed(r.content) + decoder.flush()
    assert events[-1].data == "[DONE]"
    assert all("usage" not in e.json() for e in events[:-1])


def test_bad_requests_use_the_openai_envelope() -> None:
    with make_client(FakeChatEngine()) as client:
        for body, status in (
            ({"model": "Qwen2-Audio-7B-Instruct"}, 400),
            (_sambanova_body(response_format="xml"), 400),
            (_sambanova_body(model="qwen-nope"), 404),
            ({"model": "Qwen2-Audio-7B-Instruct", "messages": [{"role": "user", "content": [
                {"type": "audio_content", "audio_content": {"content": "data:audio/mp3;base64,@@"}}
            ]}]}, 400),
        ):
            r = client.post("/v1/audio/reasoning", json=body)
            assert r.status_code == status, r.text
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
