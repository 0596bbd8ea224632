"""Bedrock runtime routes, driven by boto3 itself against a loopback server with a fake engine.

boto3 parses what we send exactly as it parses Bedrock: errors by ``x-amzn-ErrorType``, streams
as event-stream frames. So these tests pin the wire format, not just our reading of it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from harken.api.eventstream import EventStreamDecoder
from tests.api.chat_fakes import FakeChatEngine, b64wav, loopback, make_client, wav

MINI = "mistral.voxtral-mini-3b-2507"


def _client(base: str) -> object:
    return boto3.client("bedrock-runtime", endpoint_url=base, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def engine() -> FakeChatEngine:
    return FakeChatEngine()


@pytest.fixture(scope="module")
def bedrock(engine: FakeChatEngine) -> Iterator[object]:
    with loopback(engine) as base:
        yield _client(base)


def _voxtral_body(*texts: str, audio_s: float = 1.0, **extra: object) -> str:
    content = [{"type": "input_audio", "input_audio": {"data": b64wav(audio_s), "format": "wav"}}]
    content += [{"type": "text", "text": t} for t in texts]
    return json.dumps({"messages": [{"role": "user", "content": content}], **extra})


def test_invoke_model(bedrock: object, engine: FakeChatEngine) -> None:
    response = bedrock.invoke_model(modelId=MINI, body=_voxtral_body("Transcribe", max_tokens=500,
                                                                     temperature=0.7),
                                    contentType="application/json")
    result = json.loads(response["body"].read())
    assert result["choices"][0]["message"]["content"] == "user:audio(1.0s) user:Transcribe"
    assert result["model"] == "cascade"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "7"
    assert headers["x-amzn-bedrock-output-token-count"] == "2"
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0
    assert (engine.requests[-1].max_tokens, engine.requests[-1].temperature) == (500, 0.7)


def test_invoke_with_response_stream(bedrock: object) -> None:
    response = bedrock.invoke_model_with_response_stream(
        modelId=MINI, body=_voxtral_body("Transcribe", stream=True),
        contentType="application/json")
    assert response["contentType"] == "application/json"
    chunks = [json.loads(e["chunk"]["bytes"].decode()) for e in response["body"]]
    text = "".join(c["choices"][0]["delta"].get("content", "") or "" for c in chunks)
    assert text == "user:audio(1.0s) user:Transcribe"
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == 7 and metrics["outputTokenCount"] == 2
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] >= 0


def test_url_encoded_model_arn(bedrock: object) -> None:
    # botocore percent-encodes ':' and '/' of an ARN in the path; a bare alias id works too.
    response = bedrock.invoke_model(modelId="voxtral-mini-latest", body=json.dumps(
        {"messages": [{"role": "user", "content": "hi"}]}))
    assert json.loads(response["body"].read())["choices"][0]["message"]["content"] == "user:hi"


def test_converse_and_converse_stream(bedrock: object) -> None:
    messages = [{"role": "user", "content": [
        {"audio": {"format": "wav", "source": {"bytes": wav(2)}}}, {"text": "what"}]}]
    system = [{"text": "be brief"}]
    config = {"maxTokens": 64, "temperature": 0.2}
    done = bedrock.converse(modelId=MINI, messages=messages, system=system, inferenceConfig=config)
    assert done["output"]["message"]["content"][0]["text"] == (
        "system:be_brief user:audio(2.0s) user:what")
    assert done["stopReason"] == "end_turn"
    assert done["usage"] == {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}
    stream = bedrock.converse_stream(modelId=MINI, messages=messages, system=system)
    events = list(stream["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop",
                                                         "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events
                   if "contentBlockDelta" in e)
    assert text == "system:be_brief user:audio(2.0s) user:what"
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 10


@pytest.mark.parametrize(
    ("model", "body", "code"),
    [
        (MINI, json.dumps({"max_tokens": 5}), "ValidationException"),
        (MINI, "{not json", "ValidationException"),
        (MINI, json.dumps({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}}]}]}),
         "ValidationException"),
        (MINI, json.dumps({"messages": [{"role": "user", "content": [{"type": "audio_url",
            "audio_url": {"url": "data:text/plain;base64,aGVsbG8="}}]}]}), "ValidationException"),
        (MINI, json.dumps({"messages": [{"role": "user", "content": 3}]}), "ValidationException"),
        ("mistral.nope-1b", json.dumps({"messages": [{"role": "user", "content": "x"}]}),
         "ValidationException"),
    ],
)
def test_errors_are_client_errors_with_bedrock_codes(bedrock: object, model: str, body: str,
                                                     code: str) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.invoke_model(modelId=model, body=body)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        bedrock.invoke_model_with_response_stream(modelId=model, body=body)
    assert info.value.response["Error"]["Code"] == code


def test_unknown_model_says_what_bedrock_says(bedrock: object) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.converse(modelId="nope", messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "model identifier is invalid" in info.value.response["Error"]["Message"]


def test_error_after_first_byte_is_an_exception_frame() -> None:
    with loopback(FakeChatEngine(fail_after=1)) as base:
        client = _client(base)
        body = json.dumps({"messages": [{"role": "system", "content": "s"},
                                        {"role": "user", "content": "u"}]})
        response = client.invoke_model_with_response_stream(modelId=MINI, body=body)
        with pytest.raises(EventStreamError) as info:
            list(response["body"])
        assert "broke" in str(info.value)
        stream = client.converse_stream(modelId=MINI, messages=[
            {"role": "user", "content": [{"text": "a"}, {"text": "b"}]}])
        with pytest.raises(EventStreamError):
            list(stream["stream"])


def test_bearer_key_passes_and_sigv4_alone_does_not() -> None:
    with loopback(FakeChatEngine(), api_keys=["secret"]) as base:
        body = json.dumps({"messages": [{"role": "user", "content": "x"}]})
        with pytest.raises(ClientError) as info:
            _client(base).invoke_model(modelId=MINI, body=body)
        assert info.value.response["Error"]["Code"] == "AccessDeniedException"
        # botocore sends AWS_BEARER_TOKEN_BEDROCK as "Authorization: Bearer" over HTTPS only
        # (it refuses plain HTTP), so over loopback the header is put on the request by hand.
        client = _client(base)

        def bearer(request: object, **_: object) -> None:
            request.headers["Authorization"] = "Bearer secret"  # type: ignore[attr-defined]

        client.meta.events.register("before-send.bedrock-runtime.*", bearer)
        response = client.invoke_model(modelId=MINI, body=body)
        assert json.loads(response["body"].read())["choices"][0]["message"]["content"] == "user:x"


def test_stream_frames_are_well_formed() -> None:
    """The raw bytes, read with our own decoder: headers Bedrock's clients rely on."""
    with make_client(FakeChatEngine()) as client:
        r = client.post(f"/model/{MINI}/invoke-with-response-stream",
                        content=_voxtral_body("hi"))
    assert r.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert r.headers["x-amzn-bedrock-content-type"] == "application/json"
    decoder = EventStreamDecoder()
    frames = decoder.feed(r.content) + decoder.flush()
    assert {f.headers[":event-type"] for f in frames} == {"chunk"}
    payload = json.loads(frames[0].payload)
    assert json.loads(base64.b64decode(payload["bytes"]))["object"] == "chat.completion.chunk"


def test_unknown_bedrock_route_uses_the_bedrock_envelope() -> None:
    with make_client(FakeChatEngine()) as client:
        r = client.post(f"/model/{MINI}/nothing", content=b"{}")
    assert r.status_code == 404 and "x-amzn-errortype" in r.headers
    assert set(r.json()) == {"message"}
