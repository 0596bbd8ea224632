"""AWS ``application/vnd.amazon.eventstream`` framing, as Bedrock's streaming responses use it.

A frame: total length and headers length (uint32 BE), CRC32 of those 8 bytes, the headers,
the payload, and a CRC32 of everything before it. boto3 parses these with botocore's
``EventStreamBuffer``; the decoder here exists for our own tests and tools.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PRELUDE_BYTES = 12  # total length, headers length, prelude CRC: 3 x uint32
_CRC_BYTES = 4
_STRING_TYPE = 7  # header value type "string": uint16 length + UTF-8 bytes
# botocore refuses larger frames; refusing them here too keeps a bug from reaching clients.
_MAX_HEADERS_BYTES = 128 * 1024
_MAX_PAYLOAD_BYTES = 24 * 1024 * 1024


class EventStreamError(ValueError):
    """Bytes that are not a valid event-stream frame (bad CRC, length or header)."""


def _crc32(data: bytes, crc: int = 0) -> int:
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        name_bytes, value_bytes = name.encode("utf-8"), value.encode("utf-8")
        if not 0 < len(name_bytes) <= 255:
            raise ValueError(f"Event-stream header names take 1 to 255 bytes: {name!r}.")
        if len(value_bytes) > 0xFFFF:
            raise ValueError(f"Event-stream header {name!r} is longer than 65535 bytes.")
        out += struct.pack(">B", len(name_bytes)) + name_bytes
        out += struct.pack(">BH", _STRING_TYPE, len(value_bytes)) + value_bytes
    return bytes(out)


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One frame with string-valued ``headers`` and raw ``payload`` bytes."""
    header_bytes = _encode_headers(headers)
    if len(header_bytes) > _MAX_HEADERS_BYTES:
        raise ValueError(f"Event-stream headers take {len(header_bytes)} bytes; 131072 at most.")
    if len(payload) > _MAX_PAYLOAD_BYTES:
        raise ValueError(f"Event-stream payload takes {len(payload)} bytes; 25165824 at most.")
    total = _PRELUDE_BYTES + len(header_bytes) + len(payload) + _CRC_BYTES
    lengths = struct.pack(">II", total, len(header_bytes))
    prelude = lengths + struct.pack(">I", _crc32(lengths))
    body = prelude + header_bytes + payload
    return body + struct.pack(">I", _crc32(body))


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chunk_event(payload_json: Mapping[str, Any]) -> bytes:
    """An ``InvokeModelWithResponseStream`` chunk: the JSON, base64'd into ``{"bytes": ...}``.

    Bedrock wraps each model chunk this way; boto3 hands the caller the decoded bytes as
    ``event["chunk"]["bytes"]``.
    """
    wrapped = {"bytes": base64.b64encode(_json_bytes(payload_json)).decode("ascii")}
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, _json_bytes(wrapped))


def exception_event(exception_type: str, message: str) -> bytes:
    """An error after the stream started, e.g. ``modelStreamErrorException``.

    The type must be a member of the operation's stream shape for boto3 to raise it by name.
    """
    headers = {
        ":message-type": "exception",
        ":exception-type": exception_type,
        ":content-type": "application/json",
    }
    return encode_message(headers, _json_bytes({"message": message}))


def event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """A plain-JSON event, as Converse streams send them (``messageStart``, ``metadata``, ...)."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, _json_bytes(payload))


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    headers: dict[str, str]
    payload: bytes


class EventStreamDecoder:
    """Incremental frame parser: ``feed()`` bytes cut anywhere, ``flush()`` at the end.

    Reads string headers only, the one type harken writes; others raise ``EventStreamError``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Frame]:
        """Take the next bytes; return the frames they completed."""
        self._buffer += chunk
        messages = []
        while (message := self._next()) is not None:
            messages.append(message)
        return messages

    def flush(self) -> list[Frame]:
        """End of stream: leftover bytes are a truncated frame, which is an error."""
        if self._buffer:
            size = len(self._buffer)
            self._buffer.clear()
            raise EventStreamError(f"The stream ended inside a frame ({size} bytes left over).")
        return []

    def _next(self) -> Frame | None:
        if len(self._buffer) < _PRELUDE_BYTES:
            return None
        total, headers_len, prelude_crc = struct.unpack_from(">III", self._buffer)
        # Check the prelude before trusting its lengths, so garbage fails now instead of
        # waiting forever for a frame length it made up.
        if _crc32(bytes(self._buffer[:8])) != prelude_crc:
            raise EventStreamError("Prelude CRC mismatch.")
        payload_len = total - _PRELUDE_BYTES - headers_len - _CRC_BYTES
        if headers_len > _MAX_HEADERS_BYTES or not 0 <= payload_len <= _MAX_PAYLOAD_BYTES:
            raise EventStreamError(f"Bad frame lengths: total {total}, headers {headers_len}.")
        if len(self._buffer) < total:
            return None
        frame = bytes(self._buffer[:total])
        del self._buffer[:total]
        (message_crc,) = struct.unpack_from(">I", frame, total - _CRC_BYTES)
        if _crc32(frame[: total - _CRC_BYTES]) != message_crc:
            raise EventStreamError("Message CRC mismatch.")
        headers_end = _PRELUDE_BYTES + headers_len
        headers = _decode_headers(frame[_PRELUDE_BYTES:headers_end])
        return Frame(headers=headers, payload=frame[headers_end : total - _CRC_BYTES])


def _decode_headers(data: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    pos = 0
    try:
        while pos < len(data):
            name_len = data[pos]
            name = data[pos + 1 : pos + 1 + name_len].decode("utf-8")
            pos += 1 + name_len
            value_type, value_len = struct.unpack_from(">BH", data, pos)
            if value_type != _STRING_TYPE:
                raise EventStreamError(f"Header {name!r} has type {value_type}, not string.")
            pos += 3
            if pos + value_len > len(data):
                raise EventStreamError(f"Header {name!r} runs past the headers section.")
            headers[name] = data[pos : pos + value_len].decode("utf-8")
            pos += value_len
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"Malformed headers: {exc}.") from exc
    return headers
