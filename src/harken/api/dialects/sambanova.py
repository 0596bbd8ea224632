"""SambaNova Cloud's ``POST /v1/audio/reasoning``: OpenAI chat bodies with SambaNova's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from ...errors import InvalidRequest
from ...service import ChatResult
from .chat import ChatDraft, completion_body, model_name, openai_options, parse_messages

# SambaNova's documented defaults (the canonical request's happen to match; stated here so a
# change there cannot silently change this dialect).
DEFAULT_MAX_TOKENS = 1000
DEFAULT_TEMPERATURE = 0.0
RESPONSE_FORMATS = ("json", "text")


def parse_reasoning(body: Mapping[str, Any]) -> ChatDraft:
    """The draft request, carrying the response format ("json" or "text")."""
    fmt = body.get("response_format") or "json"
    if isinstance(fmt, dict):  # an OpenAI-style {"type": "text"} is accepted too
        fmt = fmt.get("type") or "json"
    if fmt not in RESPONSE_FORMATS:
        raise InvalidRequest(
            f"response_format must be 'json' or 'text', got {fmt!r}.", param="response_format"
        )
    options = {"max_tokens": DEFAULT_MAX_TOKENS, "temperature": DEFAULT_TEMPERATURE}
    options.update(openai_options(body))
    messages = parse_messages(body.get("messages"), leading_assistant_is_system=True)
    return ChatDraft(model_name(body), messages, options, response_format=fmt)


def reasoning_response(result: ChatResult, fmt: str) -> Response:
    """A ``chat.completion`` object, or with ``response_format=text`` the bare answer."""
    headers = {"x-harken-model": result.model}
    if fmt == "text":
        return PlainTextResponse(result.text, headers=headers)
    return JSONResponse(completion_body(result), headers=headers)
