"""Chat messages on the wire, shared by every dialect: content parts in, chat.completion out.

Parsing happens in two steps so that nothing slow runs on the event loop and an unknown model
fails before any audio is decoded: ``parse_messages`` checks the structure and leaves audio as
``PendingAudio`` (still base64 text); ``ChatDraft.build(load)`` decodes it, in a worker thread.
Every audio shape the dialects use is accepted everywhere: a client mixing them loses nothing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from ...errors import HarkenError, InvalidRequest, PayloadTooLarge
from ...service import ChatResult
from ...types import (
    Audio,
    AudioPart,
    ChatRequest,
    Event,
    Finished,
    Message,
    TextDelta,
    TextPart,
    Usage,
)
from ..sse import SSE_DONE, sse_event

# Loads one inline audio value: (value, param, format hint) -> Audio. The server passes
# ``Service.load_inline_audio`` (never opens paths); the library may also accept paths.
AudioLoader = Callable[[Any, str, "str | None"], Audio]
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
# Base64 inflates by 4/3; JSON framing and text parts need a little more on top.
JSON_OVERHEAD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class PendingAudio:
    """Audio as it arrived (base64, data URL, bytes or a library path), not decoded yet."""

    value: Any
    param: str
    format_hint: str | None = None


@dataclass(frozen=True)
class PendingMessage:
    role: str
    parts: tuple[TextPart | PendingAudio, ...]


@dataclass(frozen=True)
class ChatDraft:
    """A checked chat request whose audio is not decoded yet."""

    model: str
    messages: tuple[PendingMessage, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    response_format: str = "json"  # SambaNova's "text" answers with the bare text

    def build(self, load: AudioLoader) -> ChatRequest:
        """Decode the audio (slow: call from a worker thread) and make the canonical request."""
        messages = []
        for m in self.messages:
            parts = tuple(
                AudioPart(load(p.value, p.param, p.format_hint))
                if isinstance(p, PendingAudio)
                else p
                for p in m.parts
            )
            messages.append(Message(m.role, parts))  # type: ignore[arg-type]
        try:
            return ChatRequest(model=self.model, messages=tuple(messages), **self.options)
        except ValueError as exc:  # ChatRequest's own checks, in plain sentences
            raise InvalidRequest(str(exc)) from None


# --- reading -----------------------------------------------------------------------------------


async def read_json(request: Request, max_upload_bytes: int) -> bytes:
    """The raw body, refused early when larger than the upload limit allows (as base64 JSON)."""
    limit = max_upload_bytes * 4 // 3 + JSON_OVERHEAD_BYTES
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(_too_large(int(length), limit))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(_too_large(len(body), limit))
    return bytes(body)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body is {size / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB limit for "
        "inline audio (HARKEN_LIMITS__MAX_UPLOAD_BYTES, plus base64 overhead)."
    )


def load_body(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object body, or fail with a 400 that says why."""
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object with 'messages'.")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object.")
    return body


# --- options -----------------------------------------------------------------------------------


def number(body: Mapping[str, Any], name: str, kind: type, lo: float, hi: float) -> Any:
    """``body[name]`` as ``kind`` within [lo, hi], or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"'{name}' must be a number, got {json.dumps(value)}.", param=name)
    if kind is int and value != int(value):
        raise InvalidRequest(f"'{name}' must be an integer, got {value}.", param=name)
    if not lo <= value <= hi:
        raise InvalidRequest(f"'{name}' must be between {lo} and {hi}, got {value}.", param=name)
    return kind(value)


def flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(
            f"'{name}' must be true or false, got {json.dumps(value)}.", param=name
        )
    return value


def stops(value: Any, param: str = "stop") -> tuple[str, ...]:
    """``stop`` as OpenAI takes it: a string or a list of up to 4 strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return tuple(value)
    raise InvalidRequest(f"'{param}' must be a string or a list of up to 4 strings.", param=param)


def model_name(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("'model' must be a string.", param="model")
    return (model or "").strip()


def openai_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling and streaming options shared by OpenAI and SambaNova bodies."""
    max_tokens = number(body, "max_completion_tokens", int, 1, 1_000_000)
    max_tokens = number(body, "max_tokens", int, 1, 1_000_000) or max_tokens
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise InvalidRequest(
            "'stream_options' must be an object such as {\"include_usage\": true}.",
            param="stream_options",
        )
    opts = {
        "max_tokens": max_tokens,
        "temperature": number(body, "temperature", float, 0.0, 2.0),
        "top_p": number(body, "top_p", float, 0.0, 1.0),
        "seed": number(body, "seed", int, -(2**63), 2**63 - 1),
        "stop": stops(body.get("stop")),
        "stream": flag(body, "stream"),
        "include_usage": flag(stream_options, "include_usage"),
    }
    if opts["top_p"] == 0.0:
        opts["top_p"] = None  # OpenAI allows 0; it means "greedy", which temperature 0 already is
    return {k: v for k, v in opts.items() if v is not None}


def parse_chat_completions(body: Mapping[str, Any]) -> ChatDraft:
    """``POST /v1/chat/completions`` (OpenAI, vLLM and Mistral content parts)."""
    return ChatDraft(model_name(body), parse_messages(body.get("messages")), openai_options(body))


# --- messages ----------------------------------------------------------------------------------


def parse_messages(
    raw: Any, *, leading_assistant_is_system: bool = False, param: str = "messages"
) -> tuple[PendingMessage, ...]:
    """Messages of any dialect: roles, string or part-list content, audio in user turns."""
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest(f"'{param}' must be a non-empty list of messages.", param=param)
    messages: list[PendingMessage] = []
    seen_user = False
    for i, item in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(
                f"{where} must be an object with 'role' and 'content'.", param=where
            )
        role = ROLES.get(str(item.get("role", "")).lower())
        if role is None:
            raise InvalidRequest(
                f"{where}.role must be one of system, user, assistant; got "
                f"{json.dumps(item.get('role'))}.", param=f"{where}.role",
            )  # fmt: skip
        # SambaNova documents its "Assistant Prompt": instructions in an assistant turn
        # that comes before the user speaks.
        if role == "assistant" and leading_assistant_is_system and not seen_user:
            role = "system"
        seen_user |= role == "user"
        parts = parse_content(item.get("content"), f"{where}.content")
        if role != "user" and any(isinstance(p, PendingAudio) for p in parts):
            raise InvalidRequest(f"{where}: audio is accepted in user messages only.", param=where)
        messages.append(PendingMessage(role, parts))
    if not seen_user:
        raise InvalidRequest(f"'{param}' must contain at least one user message.", param=param)
    return tuple(messages)


def parse_content(content: Any, where: str) -> tuple[TextPart | PendingAudio, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(content),)
    if not isinstance(content, list):
        raise InvalidRequest(f"{where} must be a string or a list of content parts.", param=where)
    return tuple(parse_part(p, f"{where}[{j}]") for j, p in enumerate(content))


def parse_part(part: Any, where: str) -> TextPart | PendingAudio:
    """One content part in any of the shapes the dialects use (see DIALECTS.md)."""
    if not isinstance(part, dict):
        raise InvalidRequest(f"{where} must be an object.", param=where)
    kind = part.get("type")
    if kind is None:  # Bedrock Converse blocks are keyed by kind instead of typed
        kind = "text" if "text" in part else "audio" if "audio" in part else None
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"{where}.text must be a string.", param=f"{where}.text")
        return TextPart(text)
    if kind == "input_audio":  # OpenAI/Bedrock: {data, format}; Mistral: a bare string
        audio = part.get("input_audio")
        if isinstance(audio, str):
            return PendingAudio(audio, f"{where}.input_audio")
        if isinstance(audio, dict):
            fmt = _format(audio.get("format"), f"{where}.input_audio.format")
            return PendingAudio(_payload(audio.get("data"), f"{where}.input_audio.data"),
                                f"{where}.input_audio.data", fmt)  # fmt: skip
        raise InvalidRequest(f"{where}.input_audio must be an object with 'data' and 'format'.",
                             param=f"{where}.input_audio")  # fmt: skip
    if kind == "audio_url":  # vLLM
        url = part.get("audio_url")
        url = url.get("url") if isinstance(url, dict) else url
        return PendingAudio(_payload(url, f"{where}.audio_url.url"), f"{where}.audio_url.url")
    if kind == "audio_content":  # SambaNova
        inner = part.get("audio_content")
        value = inner.get("content") if isinstance(inner, dict) else inner
        return PendingAudio(
            _payload(value, f"{where}.audio_content.content"), f"{where}.audio_content.content"
        )
    if kind == "audio":  # Bedrock Converse
        block = part.get("audio")
        source = block.get("source") if isinstance(block, dict) else None
        if not isinstance(source, dict):
            raise InvalidRequest(f"{where}.audio must have a 'source' with 'bytes'.",
                                 param=f"{where}.audio")  # fmt: skip
        fmt = _format(block.get("format"), f"{where}.audio.format")  # type: ignore[union-attr]
        return PendingAudio(_payload(source.get("bytes"), f"{where}.audio.source.bytes"),
                            f"{where}.audio.source.bytes", fmt)  # fmt: skip
    raise InvalidRequest(
        f"{where}.type {json.dumps(kind)} is not supported; use text, input_audio, audio_url "
        "or audio_content.", param=f"{where}.type",
    )  # fmt: skip


def _payload(value: Any, where: str) -> Any:
    # A PathLike or Audio only reaches here from the library (JSON cannot carry one), whose
    # loader opens it; the server's loader never treats a string as a path.
    if isinstance(value, (os.PathLike, Audio)) or (isinstance(value, (str, bytes)) and value):
        return value
    raise InvalidRequest(f"{where} must be base64 audio or a data: URL.", param=where)


def _format(value: Any, where: str) -> str | None:
    if value is None or (isinstance(value, str) and value.isalnum()):
        return value.lower() if value else None
    raise InvalidRequest(f"{where} must be an audio format name such as 'wav'.", param=where)


# --- encoding ----------------------------------------------------------------------------------


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion_body(result: ChatResult, ident: str | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object, as OpenAI, SambaNova and Bedrock's Voxtral return it."""
    return {
        "id": ident or new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": result.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_body(result.usage),
    }


def chunk_body(
    ident: str, created: int, model: str, text: str | None, finish: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; SambaNova names the role in every delta, so we do too."""
    delta = {"role": "assistant", "content": text} if text is not None else {}
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "harken",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def as_harken_error(exc: BaseException) -> HarkenError:
    """A mid-stream failure as a ``HarkenError`` (an unexpected one is an internal error)."""
    if isinstance(exc, HarkenError):
        return exc
    return HarkenError(f"internal error: {type(exc).__name__}: {exc}")


def error_body(exc: HarkenError) -> dict[str, Any]:
    return {"error": {"message": exc.message, "type": exc.type, "param": exc.param,
                      "code": exc.code}}  # fmt: skip


async def completion_sse(
    events: AsyncIterator[Event], *, model: str, include_usage: bool, usage_in_final: bool
) -> AsyncIterator[bytes]:
    """``chat.completion.chunk`` SSE ending ``data: [DONE]``.

    ``usage_in_final``: SambaNova puts usage on the chunk that carries ``finish_reason``;
    OpenAI sends a separate last chunk with empty ``choices``. An error after the first byte
    becomes a final ``{"error": ...}`` event (the openai SDK raises it as ``APIError``).
    """
    ident, created = new_id(), int(time.time())
    usage, reason = Usage(), "stop"
    yield sse_event(chunk_body(ident, created, model, ""))
    try:
        async for event in events:
            if isinstance(event, TextDelta) and event.text:
                yield sse_event(chunk_body(ident, created, model, event.text))
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finished):
                reason = "length" if event.reason == "length" else "stop"
    except Exception as exc:  # after the first byte the status line is gone: say it in-band
        yield sse_event(error_body(as_harken_error(exc)))
        return
    final = chunk_body(ident, created, model, None, reason)
    if include_usage and usage_in_final:
        final["usage"] = usage_body(usage)
    yield sse_event(final)
    if include_usage and not usage_in_final:
        last = chunk_body(ident, created, model, None)
        last.update(choices=[], usage=usage_body(usage))
        yield sse_event(last)
    yield SSE_DONE
