"""OpenAI (and SambaNova, which shares it) audio dialect: multipart parsing, encoders, errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...audio.diarize import SpeakerCount
from ...errors import HarkenError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from ...intelligence import IntelligenceOptions
from ...languages import normalize_language
from ...types import Event, SegmentDone, TranscribeOptions, Transcript, Usage
from ..formats import FORMATS, encode_transcript
from ..sse import SSE_DONE, sse_event

TEMPERATURE_LADDER = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
GRANULARITIES = ("word", "segment")
MAX_FIELD_BYTES = 1024 * 1024  # non-file form fields (a prompt is at most a few KB)


def error_response(exc: HarkenError) -> JSONResponse:
    """OpenAI's envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {
        "error": {
            "message": exc.message,
            "type": exc.type,
            "param": exc.param,
            "code": exc.code,
        }
    }
    return JSONResponse(body, status_code=exc.status_code)


@dataclass(frozen=True)
class TranscriptionRequest:
    data: bytes
    filename: str | None
    model: str | None
    options: TranscribeOptions
    response_format: str
    words: bool
    segments: bool
    stream: bool
    include_usage: bool
    intelligence: IntelligenceOptions = IntelligenceOptions()


async def read_form(request: Request, max_upload_bytes: int) -> FormData:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            f"expected a multipart/form-data body with a 'file' field, got '{ctype or 'none'}'."
        )
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_upload_bytes + MAX_FIELD_BYTES:
        raise PayloadTooLarge(_too_large(int(length), max_upload_bytes), param="file")
    try:
        return await request.form(max_files=1, max_fields=64, max_part_size=MAX_FIELD_BYTES)
    except HarkenError:
        raise
    except Exception as exc:  # starlette's MultiPartException and malformed bodies
        raise InvalidRequest(f"could not parse the multipart body: {exc}") from exc


def _too_large(size: int, limit: int) -> str:
    return (
        f"the upload is {size / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB limit "
        "(HARKEN_LIMITS__MAX_UPLOAD_BYTES)."
    )


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return value.strip() or None


def _bool(form: FormData, name: str) -> bool:
    value = (_field(form, name) or "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"'{name}' must be true or false, got '{value}'.", param=name)
    return value in ("true", "1")


def _temperature(form: FormData) -> tuple[float, ...]:
    raw = _field(form, "temperature")
    if raw is None:
        return TEMPERATURE_LADDER
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(
            f"'temperature' must be a number, got '{raw}'.", param="temperature"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise InvalidRequest(
            f"'temperature' must be between 0 and 1, got {value}.", param="temperature"
        )
    # OpenAI: 0 lets the model raise the temperature when decoding fails its guards.
    return TEMPERATURE_LADDER if value == 0.0 else (value,)


def _include_usage(form: FormData) -> bool:
    raw = _field(form, "stream_options")
    if raw is None:
        flag = _field(form, "stream_options[include_usage]")
        return (flag or "").lower() == "true"
    try:
        opts = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidRequest(
            "'stream_options' must be a JSON object such as {\"include_usage\": true}.",
            param="stream_options",
        ) from None
    return bool(isinstance(opts, dict) and opts.get("include_usage"))


def _granularities(form: FormData) -> set[str]:
    values = form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")
    found = {str(v).strip() for v in values if str(v).strip()}
    bad = found - set(GRANULARITIES)
    if bad:
        raise InvalidRequest(
            f"timestamp_granularities must be 'word' or 'segment', got {sorted(bad)}.",
            param="timestamp_granularities[]",
        )
    return found or {"segment"}


async def parse_transcription(
    form: FormData, *, task: str, max_upload_bytes: int
) -> TranscriptionRequest:
    """Form fields to a canonical request. For translations ``language`` is the target."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidRequest("the 'file' field is required and must be a file.", param="file")
    if upload.size is not None and upload.size > max_upload_bytes:
        raise PayloadTooLarge(_too_large(upload.size, max_upload_bytes), param="file")
    data = await upload.read()
    fmt = _field(form, "response_format") or "json"
    if fmt not in FORMATS:
        raise InvalidRequest(
            f"response_format must be one of {', '.join(FORMATS)}; got '{fmt}'.",
            param="response_format",
        )
    language = _field(form, "language")
    code = normalize_language(language) if language else None
    if task == "translate":
        if code not in (None, "en"):
            raise InvalidRequest(
                f"translation into '{language}' is not available on this server: Whisper "
                "translates into English only.",
                param="language",
            )
        code = None  # the target is English; the source language is detected
    grains = _granularities(form)
    words = "word" in grains
    options = TranscribeOptions(
        task=task,  # type: ignore[arg-type]
        language=code,
        prompt=_field(form, "prompt"),
        temperature=_temperature(form),
        word_timestamps=words,
    )
    return TranscriptionRequest(
        data=data,
        filename=upload.filename,
        model=_field(form, "model"),
        options=options,
        response_format=fmt,
        words=words,
        segments="segment" in grains,
        stream=_bool(form, "stream"),
        include_usage=_include_usage(form),
        intelligence=_intelligence(form, fmt),
    )


# ``include[]`` values: OpenAI's own ``logprobs`` (accepted; Whisper's are not sent) and the
# audio-intelligence extras, each also a boolean field of its own name (``analysis=true``).
INCLUDES = ("logprobs", "analysis", "sentiment", "segment_languages", "speakers")
FLAGS = ("analysis", "denoise", "diarize", "sentiment", "segment_languages")


def _intelligence(form: FormData, fmt: str) -> IntelligenceOptions:
    """``include[]``, the boolean fields and the speaker counts, checked here."""
    values = form.getlist("include[]") + form.getlist("include")
    included = {str(v).strip() for v in values if str(v).strip()}
    if bad := included - set(INCLUDES):
        raise InvalidRequest(
            f"include[] takes {', '.join(INCLUDES)}; got {sorted(bad)}.", param="include[]"
        )
    on = {name for name in FLAGS if _bool(form, name) or name in included}
    counts = {name: _count(form, name) for name in ("num_speakers", "min_speakers", "max_speakers")}
    try:
        speakers = SpeakerCount(
            num=counts["num_speakers"],
            min=counts["min_speakers"] or 1,
            max=counts["max_speakers"] or max(8, counts["min_speakers"] or 1),
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="num_speakers") from None
    diarize = (
        "diarize" in on or "speakers" in included or fmt == "diarized_json"
        or any(v is not None for v in counts.values())
    )  # fmt: skip
    return IntelligenceOptions(
        analysis="analysis" in on,
        denoise="denoise" in on,
        diarize=diarize,
        speakers=speakers,
        segment_languages="segment_languages" in on,
        sentiment="sentiment" in on,
    )


def _count(form: FormData, name: str) -> int | None:
    raw = _field(form, name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest(f"'{name}' must be a whole number, got '{raw}'.", param=name)
    return int(raw)


def transcript_response(t: Transcript, req: TranscriptionRequest) -> Response:
    body, media_type = encode_transcript(
        t, req.response_format, words=req.words, segments=req.segments
    )
    headers = {"x-harken-model": t.model}
    if isinstance(body, dict):
        return JSONResponse(body, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _usage_body(audio_s: float) -> dict[str, Any]:
    return {"type": "duration", "seconds": int(-(-round(audio_s, 6) // 1))}


async def transcription_sse(
    events: AsyncIterator[Event], *, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """OpenAI ``transcript.text.*`` events; each also carries SambaNova's chunk ``choices``.

    The openai SDK reads ``type``/``delta``; SambaNova clients read ``choices[0].delta``. Both
    ignore the other's fields, so one stream serves both dialects.
    """
    ident = f"trsc-{uuid.uuid4().hex}"
    created = int(time.time())
    parts: list[str] = []
    usage: dict[str, Any] | None = None
    try:
        async for event in events:
            if isinstance(event, SegmentDone) and event.segment.text:
                text = event.segment.text if parts else event.segment.text.lstrip()
                parts.append(text)
                yield sse_event(_chunk(ident, created, model, text, None))
            elif isinstance(event, Usage):
                usage = _usage_body(event.audio_s)
    except HarkenError as exc:
        yield sse_event({"type": "error", "error": {"message": exc.message, "code": exc.code}})
        return
    done: dict[str, Any] = _chunk(ident, created, model, None, "stop")
    done.update(type="transcript.text.done", text="".join(parts).strip())
    if usage is not None and include_usage:
        done["usage"] = usage
    yield sse_event(done)
    yield SSE_DONE


def _chunk(ident: str, created: int, model: str, text: str | None, finish: str | None) -> dict:
    delta = {"content": text, "role": "assistant"} if text is not None else {}
    body: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    if text is not None:
        body.update(type="transcript.text.delta", delta=text)
    return body

