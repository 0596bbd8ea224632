"""Amazon Bedrock runtime: InvokeModel (Voxtral's chat bodies), Converse, their streams, errors.

boto3 pointed at harken with ``endpoint_url=`` must see what Bedrock sends: the error code in
``x-amzn-ErrorType`` with ``{"message"}``, and ``application/vnd.amazon.eventstream`` frames.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

from ...errors import (
    HarkenError,
    InvalidRequest,
    ModelNotFound,
    ModelUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from ...service import ChatResult
from ...types import Event, Finished, TextDelta, TextPart, Usage
from ..eventstream import chunk_event, event, exception_event
from .chat import (
    ChatDraft,
    PendingMessage,
    as_harken_error,
    chunk_body,
    completion_body,
    new_id,
    number,
    openai_options,
    parse_messages,
    stops,
    usage_body,
)

EVENTSTREAM = "application/vnd.amazon.eventstream"
# What Bedrock itself answers for a model id it does not know.
UNKNOWN_MODEL = "The provided model identifier is invalid."


def error_response(exc: HarkenError) -> Response:
    """Bedrock's envelope: the code in ``x-amzn-ErrorType``, the text in ``{"message"}``."""
    status, code = _status_and_code(exc)
    message = UNKNOWN_MODEL + " " + exc.message if isinstance(exc, ModelNotFound) else exc.message
    headers = {"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())}
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _status_and_code(exc: HarkenError) -> tuple[int, str]:
    if isinstance(exc, Unauthorized):
        return 403, "AccessDeniedException"
    if isinstance(exc, ModelNotFound) and exc.code == "not_found":  # no such route
        return 404, "UnknownOperationException"
    if isinstance(exc, (ModelNotFound, InvalidRequest, UnsupportedMediaType)):
        return 400, "ValidationException"  # Bedrock: 400 for an unknown id too
    if exc.status_code in (400, 413, 415, 422):
        return 400, "ValidationException"
    if exc.status_code == 405:
        return 405, "ValidationException"
    if isinstance(exc, ModelUnavailable) or exc.status_code == 503:
        return 503, "ServiceUnavailableException"
    if exc.status_code == 429:
        return 429, "ThrottlingException"
    return 500, "InternalServerException"


def _stream_exception(exc: HarkenError) -> str:
    """The stream member boto3 raises by name (lower camel case, as in the service model)."""
    status, code = _status_and_code(exc)
    if code == "ValidationException":
        return "validationException"
    if code == "ServiceUnavailableException":
        return "serviceUnavailableException"
    return "modelStreamErrorException"


# --- parsing -----------------------------------------------------------------------------------


def parse_invoke(body: Mapping[str, Any], model_id: str) -> ChatDraft:
    """An InvokeModel body for Voxtral: OpenAI-style messages; ``stream`` is the route's call."""
    sampling = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    options = openai_options(sampling)
    return ChatDraft(model_id, parse_messages(body.get("messages")), options)


def parse_converse(body: Mapping[str, Any], model_id: str) -> ChatDraft:
    """A Converse body: ``messages`` of content blocks, ``system`` blocks, ``inferenceConfig``."""
    messages = parse_messages(body.get("messages"))
    system = body.get("system") or []
    if not isinstance(system, list) or not all(
        isinstance(b, dict) and isinstance(b.get("text"), str) for b in system
    ):
        raise InvalidRequest("'system' must be a list of {\"text\": ...} blocks.", param="system")
    if system:
        prompt = PendingMessage("system", tuple(TextPart(b["text"]) for b in system))
        messages = (prompt, *messages)
    config = body.get("inferenceConfig") or {}
    if not isinstance(config, dict):
        raise InvalidRequest("'inferenceConfig' must be an object.", param="inferenceConfig")
    options = {
        "max_tokens": number(config, "maxTokens", int, 1, 1_000_000),
        "temperature": number(config, "temperature", float, 0.0, 1.0),
        "top_p": number(config, "topP", float, 0.0, 1.0) or None,
        "stop": stops(config.get("stopSequences"), "inferenceConfig.stopSequences"),
    }
    return ChatDraft(model_id, messages, {k: v for k, v in options.items() if v is not None})


# --- InvokeModel -------------------------------------------------------------------------------


def _token_headers(result_model: str, usage: Usage, latency_ms: int) -> dict[str, str]:
    return {
        "X-Amzn-Bedrock-Input-Token-Count": str(usage.prompt_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(usage.completion_tokens),
        "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-harken-model": result_model,
    }


def invoke_response(result: ChatResult, started: float) -> Response:
    latency_ms = _ms_since(started)
    return JSONResponse(
        completion_body(result), headers=_token_headers(result.model, result.usage, latency_ms)
    )


def stream_headers(model: str) -> dict[str, str]:
    return {
        "X-Amzn-Bedrock-Content-Type": "application/json",
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-harken-model": model,
    }


async def invoke_stream(
    events: AsyncIterator[Event], *, model: str, started: float
) -> AsyncIterator[bytes]:
    """One ``chunk`` frame per delta; the last chunk adds the invocation metrics."""
    ident, created = new_id(), int(time.time())
    usage, reason, first_ms = Usage(), "stop", None
    try:
        async for ev in events:
            if isinstance(ev, TextDelta) and ev.text:
                first_ms = first_ms if first_ms is not None else _ms_since(started)
                yield chunk_event(chunk_body(ident, created, model, ev.text))
            elif isinstance(ev, Usage):
                usage = ev
            elif isinstance(ev, Finished):
                reason = "length" if ev.reason == "length" else "stop"
    except Exception as exc:  # after the first byte: an exception frame boto3 raises
        err = as_harken_error(exc)
        yield exception_event(_stream_exception(err), err.message)
        return
    last = chunk_body(ident, created, model, None, reason)
    last["usage"] = usage_body(usage)
    latency_ms = _ms_since(started)
    last["amazon-bedrock-invocationMetrics"] = {
        "inputTokenCount": usage.prompt_tokens,
        "outputTokenCount": usage.completion_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": first_ms if first_ms is not None else latency_ms,
    }
    yield chunk_event(last)


# --- Converse ----------------------------------------------------------------------------------


def _stop_reason(reason: str) -> str:
    return "max_tokens" if reason == "length" else "end_turn"


def _converse_usage(usage: Usage) -> dict[str, int]:
    return {
        "inputTokens": usage.prompt_tokens,
        "outputTokens": usage.completion_tokens,
        "totalTokens": usage.total_tokens,
    }


def converse_response(result: ChatResult, started: float) -> Response:
    body = {
        "output": {"message": {"role": "assistant", "content": [{"text": result.text}]}},
        "stopReason": _stop_reason(result.finish_reason),
        "usage": _converse_usage(result.usage),
        "metrics": {"latencyMs": _ms_since(started)},
    }
    return JSONResponse(body, headers={"x-amzn-RequestId": str(uuid.uuid4()),
                                       "x-harken-model": result.model})  # fmt: skip


async def converse_stream(events: AsyncIterator[Event], *, started: float) -> AsyncIterator[bytes]:
    """messageStart, contentBlockDelta..., contentBlockStop, messageStop, metadata."""
    usage, reason = Usage(), "stop"
    yield event("messageStart", {"role": "assistant"})
    try:
        async for ev in events:
            if isinstance(ev, TextDelta) and ev.text:
                delta = {"delta": {"text": ev.text}, "contentBlockIndex": 0}
                yield event("contentBlockDelta", delta)
            elif isinstance(ev, Usage):
                usage = ev
            elif isinstance(ev, Finished):
                reason = ev.reason
    except Exception as exc:
        err = as_harken_error(exc)
        yield exception_event(_stream_exception(err), err.message)
        return
    yield event("contentBlockStop", {"contentBlockIndex": 0})
    yield event("messageStop", {"stopReason": _stop_reason(reason)})
    metrics = {"latencyMs": _ms_since(started)}
    yield event("metadata", {"usage": _converse_usage(usage), "metrics": metrics})


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

