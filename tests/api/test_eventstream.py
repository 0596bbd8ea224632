"""AWS event-stream frames: exact bytes, botocore's own parser, and boto3 end to end."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.eventstream
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EventStreamError as BotoEventStreamError

from harken.api.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    Frame,
    chunk_event,
    encode_message,
    event,
    exception_event,
)

CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "choices": [{"index": 0, "delta": {"content": "Héllo 🎉"}, "finish_reason": None}],
}


def _botocore_parse(data: bytes) -> list[botocore.eventstream.EventStreamMessage]:
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


# --- exact bytes -------------------------------------------------------------------------------


def test_encode_message_exact_bytes() -> None:
    frame = encode_message({"a": "bc"}, b"{}")
    headers = b"\x01a\x07\x00\x02bc"  # name length, name, type 7, uint16 length, value
    total = 12 + len(headers) + 2 + 4
    lengths = struct.pack(">II", total, len(headers))
    prelude = lengths + struct.pack(">I", zlib.crc32(lengths))
    body = prelude + headers + b"{}"
    assert frame == body + struct.pack(">I", zlib.crc32(body))
    assert len(frame) == total == 25


def test_empty_frame_matches_the_aws_reference_vector() -> None:
    # The "empty message" vector from the AWS event-stream test suite (aws-c-event-stream).
    assert encode_message({}, b"") == bytes.fromhex("000000100000000005c248eb7d98c8ff")


def test_header_limits() -> None:
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        encode_message({"": "x"}, b"")
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        encode_message({"n" * 256: "x"}, b"")
    with pytest.raises(ValueError, match="65535"):
        encode_message({"n": "x" * 65536}, b"")
    encode_message({"n" * 255: "x" * 65535}, b"")  # the limits themselves are fine


# --- botocore's parser reads our frames --------------------------------------------------------


def test_chunk_event_parsed_by_botocore() -> None:
    (message,) = _botocore_parse(chunk_event(CHUNK))
    assert message.headers == {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    payload = json.loads(message.payload)
    assert list(payload) == ["bytes"]
    assert json.loads(base64.b64decode(payload["bytes"])) == CHUNK


def test_exception_event_parsed_by_botocore() -> None:
    (message,) = _botocore_parse(exception_event("modelStreamErrorException", "boom"))
    assert message.headers == {
        ":message-type": "exception",
        ":exception-type": "modelStreamErrorException",
        ":content-type": "application/json",
    }
    assert json.loads(message.payload) == {"message": "boom"}
    assert message.to_response_dict()["status_code"] == 400


def test_generic_event_parsed_by_botocore() -> None:
    payload = {"contentBlockIndex": 0, "delta": {"text": "日本"}}
    (message,) = _botocore_parse(event("contentBlockDelta", payload))
    assert message.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(message.payload) == payload


def test_many_frames_fed_byte_by_byte_to_botocore() -> None:
    stream = chunk_event(CHUNK) + event("messageStop", {"stopReason": "end_turn"})
    buffer = botocore.eventstream.EventStreamBuffer()
    messages = []
    for i in range(len(stream)):
        buffer.add_data(stream[i : i + 1])
        messages.extend(buffer)
    assert [m.headers[":event-type"] for m in messages] == ["chunk", "messageStop"]


def test_corrupted_frame_fails_botocore_crc() -> None:
    frame = bytearray(chunk_event(CHUNK))
    frame[20] ^= 0xFF
    with pytest.raises(botocore.eventstream.ChecksumMismatch):
        _botocore_parse(bytes(frame))


# --- our decoder -------------------------------------------------------------------------------

STREAM = (
    chunk_event(CHUNK)
    + event("metadata", {"usage": {"inputTokens": 1}})
    + exception_event("throttlingException", "slow down")
)
EXPECTED = [
    Frame(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
        _botocore_parse(chunk_event(CHUNK))[0].payload,
    ),
    Frame(
        {":event-type": "metadata", ":content-type": "application/json", ":message-type": "event"},
        b'{"usage":{"inputTokens":1}}',
    ),
    Frame(
        {
            ":message-type": "exception",
            ":exception-type": "throttlingException",
            ":content-type": "application/json",
        },
        b'{"message":"slow down"}',
    ),
]


def test_decoder_whole_stream() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(STREAM) == EXPECTED
    assert decoder.flush() == []


def test_decoder_byte_by_byte() -> None:
    decoder = EventStreamDecoder()
    frames = []
    for i in range(len(STREAM)):
        frames.extend(decoder.feed(STREAM[i : i + 1]))
    assert frames == EXPECTED
    assert decoder.flush() == []


def test_decoder_at_every_single_cut() -> None:
    for i in range(len(STREAM) + 1):
        decoder = EventStreamDecoder()
        assert decoder.feed(STREAM[:i]) + decoder.feed(STREAM[i:]) == EXPECTED, i


def test_decoder_rejects_truncated_stream_on_flush() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(STREAM[:-1]) == EXPECTED[:2]
    with pytest.raises(EventStreamError, match="ended inside a frame"):
        decoder.flush()


@pytest.mark.parametrize(("offset", "match"), [(2, "Prelude CRC"), (20, "Message CRC")])
def test_decoder_rejects_bad_crc(offset: int, match: str) -> None:
    frame = bytearray(chunk_event(CHUNK))
    frame[offset] ^= 0x01
    with pytest.raises(EventStreamError, match=match):
        EventStreamDecoder().feed(bytes(frame))


def test_decoder_rejects_non_string_header() -> None:
    headers = b"\x01a\x04\x00\x00\x00\x01"  # an int32 header, which we never write
    lengths = struct.pack(">II", 12 + len(headers) + 4, len(headers))
    body = lengths + struct.pack(">I", zlib.crc32(lengths)) + headers
    frame = body + struct.pack(">I", zlib.crc32(body))
    with pytest.raises(EventStreamError, match="type 4"):
        EventStreamDecoder().feed(frame)


# --- boto3 end to end --------------------------------------------------------------------------


class _RawStream:
    """What botocore reads an event-stream body from: ``stream()`` chunks, then ``close()``."""

    def __init__(self, data: bytes, chunk_size: int = 7) -> None:
        self._data, self._chunk_size = data, chunk_size

    def stream(self) -> Iterator[bytes]:
        for i in range(0, len(self._data), self._chunk_size):
            yield self._data[i : i + self._chunk_size]

    def close(self) -> None:
        pass


def _bedrock_client(body: bytes) -> Any:
    """A real bedrock-runtime client whose HTTP send is replaced by ``body`` as the answer."""
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url="http://harken.invalid",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        headers = {"content-type": "application/vnd.amazon.eventstream"}
        return AWSResponse(request.url, 200, headers, _RawStream(body))

    client.meta.events.register("before-send.bedrock-runtime", send)
    return client


def test_boto3_invoke_model_with_response_stream() -> None:
    last = {**CHUNK, "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3}}
    client = _bedrock_client(chunk_event(CHUNK) + chunk_event(last))
    response = client.invoke_model_with_response_stream(
        modelId="mistral.voxtral-mini-3b-2507", body=b"{}"
    )
    events = list(response["body"])
    assert [list(e) for e in events] == [["chunk"], ["chunk"]]
    assert isinstance(events[0]["chunk"]["bytes"], bytes)
    assert json.loads(events[0]["chunk"]["bytes"]) == CHUNK
    assert json.loads(events[1]["chunk"]["bytes"]) == last


def test_boto3_raises_the_stream_exception_by_name() -> None:
    client = _bedrock_client(
        chunk_event(CHUNK) + exception_event("modelStreamErrorException", "engine crashed")
    )
    response = client.invoke_model_with_response_stream(
        modelId="mistral.voxtral-mini-3b-2507", body=b"{}"
    )
    stream = iter(response["body"])
    assert json.loads(next(stream)["chunk"]["bytes"]) == CHUNK
    with pytest.raises(BotoEventStreamError) as info:
        next(stream)
    assert info.value.response["Error"] == {
        "Code": "modelStreamErrorException",
        "Message": "engine crashed",
    }


def test_boto3_converse_stream() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé"}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "end_turn"}),
        event(
            "metadata",
            {
                "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7},
                "metrics": {"latencyMs": 12},
            },
        ),
    ]
    client = _bedrock_client(b"".join(frames))
    response = client.converse_stream(
        modelId="mistral.voxtral-mini-3b-2507",
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
    )
    assert list(response["stream"]) == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hé"}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {
            "metadata": {
                "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7},
                "metrics": {"latencyMs": 12},
            }
        },
    ]


def test_boto3_converse_stream_exception() -> None:
    client = _bedrock_client(exception_event("validationException", "bad audio"))
    response = client.converse_stream(
        modelId="mistral.voxtral-mini-3b-2507",
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
    )
    with pytest.raises(BotoEventStreamError) as info:
        list(response["stream"])
    assert info.value.response["Error"]["Code"] == "validationException"
    assert info.value.response["Error"]["Message"] == "bad audio"
