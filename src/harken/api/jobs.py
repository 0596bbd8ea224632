"""``/v1/audio/jobs``: submit long audio, poll its status, fetch the result in any format.

The router owns the job store and the worker pool and runs them in its lifespan, so
``create_app`` only includes it. Errors use OpenAI's envelope, as every ``/v1`` path does.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..config import Settings
from ..errors import InvalidRequest
from ..jobs.files import resolve_file_url, save_upload
from ..jobs.models import (
    Job,
    JobConflict,
    job_object,
    new_job_id,
    options_to_dict,
    to_jsonable,
    transcript_from_dict,
)
from ..jobs.runner import JobRunner
from ..jobs.store import JobStore
from ..jobs.webhook import check_webhook_url
from ..languages import normalize_language
from ..service import ChatResult, Service
from ..types import ChatRequest, Message, TextPart, Usage
from .dialects import chat as chatwire
from .dialects import openai as oai
from .formats import FORMATS, encode_transcript

TASKS = ("transcribe", "translate", "reasoning")
REASONING_FORMATS = ("json", "text")


def jobs_router(service: Service, settings: Settings) -> APIRouter:
    store = JobStore(settings.home / "jobs.sqlite3")
    jobs_dir = settings.home / "jobs"
    runner = JobRunner(service, store, settings.jobs, jobs_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.start()
        yield
        await asyncio.to_thread(runner.stop)
        store.close()

    router = APIRouter(lifespan=lifespan)

    @router.post("/v1/audio/jobs")
    async def submit(request: Request) -> Response:
        form = await _read_form(request, settings.limits.max_upload_bytes)
        job, data = await _parse_job(form, service, settings, new_job_id())
        if data is not None:
            path = await asyncio.to_thread(save_upload, jobs_dir, job.id, data, job.filename)
            job = replace(job, audio_path=str(path))
        store.create(job)
        runner.wake()
        return JSONResponse(job_object(job), status_code=201)

    @router.get("/v1/audio/jobs")
    async def list_jobs(
        limit: int = Query(20, ge=1, le=100), after: str | None = None
    ) -> dict[str, Any]:
        jobs, has_more = store.list(limit=limit, after=after)
        return {
            "object": "list",
            "data": [job_object(j, with_result=False) for j in jobs],
            "has_more": has_more,
            "first_id": jobs[0].id if jobs else None,
            "last_id": jobs[-1].id if jobs else None,
        }

    @router.get("/v1/audio/jobs/{job_id}")
    async def get_job(job_id: str) -> dict[str, Any]:
        return job_object(store.get(job_id))

    @router.delete("/v1/audio/jobs/{job_id}")
    async def cancel_job(job_id: str) -> dict[str, Any]:
        job, was_running = store.cancel(job_id)
        if was_running:
            runner.cancel(job_id)  # its worker stops at the next segment and tidies up
        else:
            runner.ended(job)
        return job_object(job)

    @router.get("/v1/audio/jobs/{job_id}/result")
    async def job_result(job_id: str, response_format: str | None = None) -> Response:
        return _result_response(store.get(job_id), response_format)

    return router


# --- submission ----------------------------------------------------------------------------------


async def _read_form(request: Request, max_upload_bytes: int) -> FormData:
    """Multipart (an upload or a url), or a urlencoded form for a ``url`` job without a file."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        if len(await request.body()) > oai.MAX_FIELD_BYTES:
            raise InvalidRequest("the form is too large; upload audio as multipart 'file'.")
        return await request.form(max_fields=64)
    return await oai.read_form(request, max_upload_bytes)


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return value.strip() or None


def _audio_form(form: FormData, settings: Settings) -> tuple[FormData, str | None]:
    """The form with its audio as a ``file`` field (empty for a ``url``), and the url's path."""
    url = _field(form, "url")
    has_file = isinstance(form.get("file"), UploadFile)
    if url and has_file:
        raise InvalidRequest("send the audio as 'file' or as 'url', not both.", param="url")
    if not url:
        if not has_file:
            raise InvalidRequest(
                "a job needs audio: a 'file' upload or a 'url' (file:///path on the server).",
                param="file",
            )
        return form, None
    path = resolve_file_url(url, settings.jobs.allowed_dirs)
    # parse_transcription wants a file; an empty one stands in, so its option parsing is reused.
    items = [(k, v) for k, v in form.multi_items() if k != "file"]
    items.append(("file", UploadFile(io.BytesIO(b""), filename=path.name, size=0)))
    return FormData(items), str(path)


async def _parse_job(
    form: FormData, service: Service, settings: Settings, job_id: str
) -> tuple[Job, bytes | None]:
    """The job to store, and the uploaded bytes to save (None when it reads a server file)."""
    task = _field(form, "task") or "transcribe"
    if task not in TASKS:
        raise InvalidRequest(f"task must be one of {', '.join(TASKS)}; got '{task}'.", param="task")
    webhook = _field(form, "webhook_url")
    if webhook:
        check_webhook_url(webhook)
    audio_form, path = _audio_form(form, settings)
    upload = cast(UploadFile, audio_form["file"])  # _audio_form guarantees a file
    common: dict[str, Any] = {"id": job_id, "webhook_url": webhook, "filename": upload.filename}
    if path is not None:
        common.update(audio_path=path, source="url")
    else:
        common.update(audio_path="", source="upload")
    if task == "reasoning":
        job = _reasoning_job(form, service, common)
        data = None if path is not None else await upload.read()
        return job, data
    target = _field(form, "language")
    code = normalize_language(target) if task == "translate" and target else None
    # Whisper translates into English only; another target is transcribed, then translated by
    # the cascade's text LLM (as /v1/audio/translations does).
    parse_as = "translate" if code in (None, "en") else "transcribe"
    req = await oai.parse_transcription(
        audio_form, task=parse_as, max_upload_bytes=settings.limits.max_upload_bytes
    )
    if req.stream:
        raise InvalidRequest("a job does not stream: poll it, or use a webhook_url.",
                             param="stream")  # fmt: skip
    service.resolve_asr(req.model)  # an unknown or non-ASR model fails now, not in the worker
    options = {
        "transcribe": options_to_dict(req.options),
        "words": req.words,
        "segments": req.segments,
        "target_language": code,
    }
    intelligence = getattr(req, "intelligence", None)  # diarize, sentiment, analysis, ...
    if intelligence is not None and getattr(intelligence, "active", False):
        options["intelligence"] = to_jsonable(intelligence)
    job = Job(task=task, options=options, model=req.model,  # type: ignore[arg-type]
              response_format=req.response_format, **common)  # fmt: skip
    return job, None if path is not None else req.data


def _reasoning_job(form: FormData, service: Service, common: dict[str, Any]) -> Job:
    """``question`` or ``messages`` (a JSON list, text only: the job's audio is attached)."""
    question, raw = _field(form, "question"), _field(form, "messages")
    if bool(question) == bool(raw):
        raise InvalidRequest("a reasoning job needs 'question' or 'messages' (one of them).",
                             param="question")  # fmt: skip
    messages = [{"role": "user", "text": question}] if question else _text_messages(raw or "")
    fmt = _field(form, "response_format") or "json"
    if fmt not in REASONING_FORMATS:
        raise InvalidRequest(f"response_format must be 'json' or 'text' for reasoning, "
                             f"got '{fmt}'.", param="response_format")  # fmt: skip
    options: dict[str, Any] = {
        "messages": messages,
        "max_tokens": _number(form, "max_tokens", int),
        "temperature": _number(form, "temperature", float),
    }
    extra = {k: v for k, v in options.items() if k != "messages" and v is not None}
    model = _field(form, "model")
    try:  # the canonical request's own checks, now rather than in the worker
        ChatRequest(model=model or "", messages=(Message("user", (TextPart("?"),)),), **extra)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    model = service.resolve_chat(model).id
    return Job(task="reasoning", options=options, model=model, response_format=fmt, **common)


def _text_messages(raw: str) -> list[dict[str, str]]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidRequest("'messages' must be a JSON list of messages.",
                             param="messages") from None  # fmt: skip
    out = []
    for m in chatwire.parse_messages(value):
        if any(not isinstance(p, TextPart) for p in m.parts):
            raise InvalidRequest("a job's messages carry text only: its audio is the 'file' or "
                                 "'url' sent with it.", param="messages")  # fmt: skip
        texts = [p.text for p in m.parts if isinstance(p, TextPart)]
        out.append({"role": m.role, "text": "\n".join(texts)})
    return out


def _number(form: FormData, name: str, kind: type) -> Any:
    raw = _field(form, name)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a number, got '{raw}'.", param=name) from None


# --- results -------------------------------------------------------------------------------------


def _result_response(job: Job, fmt: str | None) -> Response:
    if job.status != "succeeded" or job.result is None:
        detail = f": {job.error['message']}" if job.error else ""
        raise JobConflict(f"job '{job.id}' is {job.status}; it has no result{detail}.")
    fmt = fmt or job.response_format
    headers = {"x-harken-model": str(job.result.get("model") or job.model or "")}
    if job.result.get("kind") == "chat":
        if fmt not in REASONING_FORMATS:
            raise InvalidRequest(f"response_format must be 'json' or 'text' for a reasoning job, "
                                 f"got '{fmt}'.", param="response_format")  # fmt: skip
        r = job.result
        if fmt == "text":
            return PlainTextResponse(r["text"], headers=headers)
        usage = Usage(**r["usage"])
        result = ChatResult(r["text"], usage, r["finish_reason"], r["model"])
        return JSONResponse(chatwire.completion_body(result, f"chatcmpl-{job.id}"),
                            headers=headers)  # fmt: skip
    if fmt not in FORMATS:
        raise InvalidRequest(f"response_format must be one of {', '.join(FORMATS)}; got '{fmt}'.",
                             param="response_format")  # fmt: skip
    transcript = transcript_from_dict(job.result["transcript"])
    headers["x-harken-model"] = transcript.model
    words, segments = bool(job.options.get("words")), bool(job.options.get("segments", True))
    body, media_type = encode_transcript(transcript, fmt, words=words, segments=segments)
    if isinstance(body, dict):
        return JSONResponse(body, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
