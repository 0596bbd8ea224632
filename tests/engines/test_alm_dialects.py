"""The tiny Voxtral and Qwen2-Audio served natively (``serve_with={}``) through every chat
dialect and the transcription API, driven by the real clients (openai, boto3, requests)
against the app on a loopback port."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harken.api.app import create_app
from tests.conftest import free_port, shared_audio_dir
from tests.engines.alm_fixtures import alm_settings
from tests.engines.tiny_alm import QWEN_ID, VOXTRAL_ID

pytestmark = pytest.mark.slow
JFK = shared_audio_dir() / "jfk.wav"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("transformers")
    pytest.importorskip("mistral_common")
    import uvicorn

    app = create_app(alm_settings(tmp_path_factory.mktemp("alm-home")))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            httpx.get(url + "/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_sambanova_reasoning_streams(base: str) -> None:
    import requests

    body = {"model": "qwen2-audio-7b-instruct", "max_tokens": 6, "stream": True,
            "stream_options": {"include_usage": True}, "messages": [
                {"role": "assistant", "content": "you are a helpful assistant"},
                {"role": "user", "content": [{"type": "audio_content", "audio_content": {
                    "content": "data:audio/wav;base64," + b64(JFK)}}]},
                {"role": "user", "content": "what is the audio about"}]}  # fmt: skip
    with requests.post(base + "/v1/audio/reasoning", json=body, stream=True, timeout=120) as r:
        assert r.status_code == 200, r.text
        lines = [line for line in r.iter_lines() if line.startswith(b"data: ")]
    assert lines[-1] == b"data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["model"] == QWEN_ID for c in chunks)
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] <= 6 and usage["prompt_tokens"] > 25 * 11
    assert sum(bool(c["choices"] and c["choices"][0]["delta"].get("content")) for c in chunks) >= 2


@pytest.mark.parametrize("model", [QWEN_ID, "mistral.voxtral-mini-3b-2507"])
def test_openai_chat_streams_with_audio(base: str, model: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=base + "/v1", api_key="x")
    stream = client.chat.completions.create(model=model, max_tokens=6, stream=True,
        stream_options={"include_usage": True}, messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": b64(JFK), "format": "wav"}},
            {"type": "text", "text": "Summarise."}]}])  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens <= 6
    assert chunks[0].model in (QWEN_ID, "voxtral-mini-3b-2507")


def test_bedrock_invoke_and_stream(base: str) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client("bedrock-runtime", endpoint_url=base, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x",
                          config=Config(retries={"max_attempts": 1}, read_timeout=300))
    body = json.dumps({"max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": b64(JFK), "format": "wav"}},
        {"type": "text", "text": "Transcribe this audio exactly as spoken."}]}]})  # fmt: skip
    mid = "mistral.voxtral-mini-3b-2507"
    result = json.loads(client.invoke_model(modelId=mid, body=body)["body"].read())
    assert result["model"] == VOXTRAL_ID
    assert result["usage"]["prompt_tokens"] > 375  # the audio's 375 tokens included
    assert 1 <= result["usage"]["completion_tokens"] <= 5
    events = list(client.invoke_model_with_response_stream(modelId=mid, body=body)["body"])
    payloads = [json.loads(e["chunk"]["bytes"]) for e in events]
    streamed = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads
                       if p.get("choices"))  # fmt: skip
    assert streamed == result["choices"][0]["message"]["content"]  # greedy: the same answer
    assert "amazon-bedrock-invocationMetrics" in payloads[-1]


@pytest.mark.parametrize("model", [QWEN_ID, "voxtral-mini-3b-2507"])
def test_openai_transcription(base: str, model: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=base + "/v1", api_key="x")
    with JFK.open("rb") as fh:
        result = client.audio.transcriptions.create(model=model, file=fh, language="en",
                                                    response_format="verbose_json")
    assert result.duration == pytest.approx(11.0, abs=0.1)
    assert all(0.0 <= s.start <= s.end <= 11.1 for s in result.segments or [])
