"""``POST /v1/chat/completions`` through the real dialect code with a fake engine."""

from __future__ import annotations

import base64

import openai
import pytest

from harken.api.sse import SSEDecoder
from tests.api.chat_fakes import FakeChatEngine, b64wav, loopback, make_client, wav


# The fake answers one word per part: two parts make an answer that can break after one word.
TWO_WORDS = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


def _audio_message(*parts: dict) -> list[dict]:
    return [{"role": "user", "content": list(parts)}]


def _events(content: bytes) -> list:
    decoder = SSEDecoder()
    return decoder.feed(content) + decoder.flush()


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": b64wav(1), "format": "wav"}},  # OpenAI
        {"type": "input_audio", "input_audio": b64wav(1)},  # Mistral
        {"type": "audio_url", "audio_url": {"url": "data:audio/wav;base64," + b64wav(1)}},  # vLLM
        {"type": "audio_content",
         "audio_content": {"content": "data:audio/wav;base64," + b64wav(1)}},  # SambaNova
    ],
    ids=["openai", "mistral", "vllm", "sambanova"],
)
def test_every_audio_shape_reaches_the_engine(part: dict) -> None:
    engine = FakeChatEngine()
    with make_client(engine) as client:
        r = client.post("/v1/chat/completions", json={
            "model": "voxtral-mini-latest",
            "messages": _audio_message(part, {"type": "text", "text": "what is it"})})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant",
                                             "content": "user:audio(1.0s) user:what_is_it"}
    assert body["model"] == r.headers["x-harken-model"] == "cascade"
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def test_options_multi_audio_and_history() -> None:
    engine = FakeChatEngine()
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": b64wav(1), "format": "wav"}},
            {"type": "input_audio", "input_audio": {"data": b64wav(2), "format": "wav"}},
            {"type": "text", "text": "compare"}]},
        {"role": "assistant", "content": "they differ"},
        {"role": "user", "content": "how?"},
    ]
    with make_client(engine) as client:
        r = client.post("/v1/chat/completions", json={
            "model": "cascade", "messages": messages, "max_tokens": 42, "temperature": 0.5,
            "top_p": 0.9, "stop": "END", "seed": 3})
    assert r.status_code == 200, r.text
    req = engine.requests[-1]
    assert (req.max_tokens, req.temperature, req.top_p, req.stop, req.seed) == (
        42, 0.5, 0.9, ("END",), 3)
    assert r.json()["choices"][0]["message"]["content"] == (
        "system:be_brief user:audio(1.0s) user:audio(2.0s) user:compare "
        "assistant:they_differ user:how?")


def test_stream_with_usage_chunk() -> None:
    with make_client(FakeChatEngine()) as client:
        r = client.post("/v1/chat/completions", json={
            "model": "cascade", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "a b c"}]})
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-harken-model"] == "cascade"
    events = _events(r.content)
    assert events[-1].data == "[DONE]"
    chunks = [e.json() for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "user:a_b_c"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 8


def test_error_after_first_byte_is_an_error_event() -> None:
    with make_client(FakeChatEngine(fail_after=1)) as client:
        r = client.post("/v1/chat/completions", json={
            "model": "cascade", "stream": True, "messages": TWO_WORDS})
    assert r.status_code == 200
    last = _events(r.content)[-1].json()
    assert last["error"]["code"] == "model_unavailable" and "broke" in last["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "cascade"}, 400, "messages"),
        ({"model": "cascade", "messages": []}, 400, "messages"),
        ({"model": "cascade", "messages": "hi"}, 400, "messages"),
        ({"model": "cascade", "messages": [{"role": "robot", "content": "x"}]}, 400,
         "messages[0].role"),
        ({"model": "cascade", "messages": [{"role": "user", "content": 5}]}, 400,
         "messages[0].content"),
        ({"model": "cascade", "messages": _audio_message(
            {"type": "input_audio", "input_audio": {"data": "not base64!!", "format": "wav"}})},
         400, "messages[0].content[0].input_audio.data"),
        ({"model": "cascade", "messages": _audio_message(
            {"type": "audio_url", "audio_url": {"url": "data:image/png;base64,iVBORw0KGgo="}})},
         415, "messages[0].content[0].audio_url.url"),
        ({"model": "cascade", "messages": _audio_message({"type": "image_url"})}, 400,
         "messages[0].content[0].type"),
        ({"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, None),
        ({"model": "cascade", "temperature": "hot",
          "messages": [{"role": "user", "content": "x"}]}, 400, "temperature"),
        ({"model": "cascade", "stream": "yes",
          "messages": [{"role": "user", "content": "x"}]}, 400, "stream"),
    ],
)
def test_bad_requests_use_the_openai_envelope(body: dict, status: int, param: str | None) -> None:
    with make_client(FakeChatEngine()) as client:
        r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param


def test_not_json_and_not_audio() -> None:
    with make_client(FakeChatEngine()) as client:
        r = client.post("/v1/chat/completions", content=b"{not json",
                        headers={"content-type": "application/json"})
        assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
        text = base64.b64encode(b"hello, this is not audio\n" * 40).decode()
        r = client.post("/v1/chat/completions", json={"messages": _audio_message(
            {"type": "input_audio", "input_audio": {"data": text, "format": "wav"}})})
        assert 400 <= r.status_code < 500 and "error" in r.json()


def test_inline_audio_over_the_upload_limit_is_413() -> None:
    with make_client(FakeChatEngine(), limits={"max_upload_bytes": 10_000}) as client:
        r = client.post("/v1/chat/completions", json={"messages": _audio_message(
            {"type": "input_audio", "input_audio": {"data": b64wav(30), "format": "wav"}})})
    assert r.status_code == 413, r.text


def test_api_keys_apply_to_chat() -> None:
    with make_client(FakeChatEngine(), api_keys=["k"]) as client:
        body = {"messages": [{"role": "user", "content": "x"}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 401
        ok = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"})
        assert ok.status_code == 200


def test_openai_sdk_against_loopback() -> None:
    with loopback(FakeChatEngine()) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="x")
        audio = base64.b64encode(wav(1)).decode()
        messages = [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
            {"type": "text", "text": "hi"}]}]
        done = client.chat.completions.create(model="voxtral-mini-3b-2507", messages=messages)
        assert done.choices[0].message.content == "user:audio(1.0s) user:hi"
        assert done.model == "cascade"
        stream = client.chat.completions.create(model="cascade", messages=messages, stream=True,
                                                stream_options={"include_usage": True})
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
            "user:audio(1.0s) user:hi")
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="cascade", messages=[])


def test_openai_sdk_raises_on_a_mid_stream_error() -> None:
    with loopback(FakeChatEngine(fail_after=1)) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="x")
        stream = client.chat.completions.create(
            model="cascade", messages=TWO_WORDS, stream=True)
        with pytest.raises(openai.APIError):
            list(stream)
