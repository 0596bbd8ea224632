"""``create_app(settings)``: the HTTP adapter around ``Service``. Routes parse, call, encode."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..config import Settings
from ..errors import HarkenError, InvalidRequest, ModelNotFound, Unauthorized
from ..languages import normalize_language
from ..service import CancelToken, ChatRun, Service
from ..types import Audio, ChatRequest
from .dialects import bedrock
from .dialects import chat as chatwire
from .dialects import openai as oai
from .dialects import sambanova
from .jobs import jobs_router
from .streaming import Inflight, iterate_in_thread, run_in_thread

log = logging.getLogger(__name__)
PUBLIC_PATHS = frozenset({"/health"})
BEDROCK_PREFIX = "/model/"  # Bedrock runtime paths; every other path speaks OpenAI's envelope


def error_response(path: str, exc: HarkenError) -> Response:
    """The one place that picks a dialect's error envelope, by the path that was called."""
    if path.startswith(BEDROCK_PREFIX):
        return bedrock.error_response(exc)
    return oai.error_response(exc)


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    settings = settings or Settings()
    service = service or Service(settings)
    executor = ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="work")
    inflight = Inflight()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        executor.shutdown(wait=False, cancel_futures=True)
        service.close()

    app = FastAPI(title="harken", version="0.1.0", lifespan=lifespan)
    app.state.service = service
    app.state.settings = settings
    _install_errors(app)
    _install_auth(app, settings.api_keys)
    app.include_router(jobs_router(service, settings))  # /v1/audio/jobs and its workers

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "loaded_models": service.manager.loaded(), "inflight": inflight.count}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": _model_cards(service)}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        entry = service.catalog.resolve(model_id)
        return next(c for c in _model_cards(service) if c["id"] == entry.id)

    async def transcription(request: Request, task: str) -> Response:
        form = await oai.read_form(request, settings.limits.max_upload_bytes)
        req = await oai.parse_transcription(
            form,
            task=task,
            max_upload_bytes=settings.limits.max_upload_bytes,
        )
        token = CancelToken()
        run = await run_in_thread(
            lambda: service.transcribe_stream(
                req.data, req.options, model=req.model, cancel=token.check,
                intelligence=req.intelligence,
            ),
            request,
            token,
            executor,
            inflight,
        )
        if req.stream:
            events = iterate_in_thread(run.iter_events, token, executor, inflight)
            body = oai.transcription_sse(
                events, model=run.info.model, include_usage=req.include_usage
            )
            return StreamingResponse(
                body, media_type="text/event-stream", headers={"x-harken-model": run.info.model}
            )
        transcript = await run_in_thread(run.collect, request, token, executor, inflight)
        return oai.transcript_response(transcript, req)

    def load_audio(value: Any, param: str, format_hint: str | None) -> Audio:
        # A JSON body only ever holds strings here; the loader never opens a path.
        return service.load_inline_audio(value, param=param, format_hint=format_hint)

    async def start_chat(
        request: Request, parse: Callable[[dict[str, Any]], chatwire.ChatDraft]
    ) -> tuple[chatwire.ChatDraft, ChatRequest, ChatRun, CancelToken]:
        """Read, parse and decode in a worker thread, then start the engine; returns the run."""
        raw = await chatwire.read_json(request, settings.limits.max_upload_bytes)
        token = CancelToken()

        def work() -> tuple[chatwire.ChatDraft, ChatRequest, ChatRun]:
            draft = parse(chatwire.load_body(raw))
            service.resolve_chat(draft.model)  # an unknown model fails before audio is decoded
            req = draft.build(load_audio)
            return draft, req, service.chat_stream(req, cancel=token.check)

        draft, req, run = await run_in_thread(work, request, token, executor, inflight)
        return draft, req, run, token

    def events_of(run: ChatRun, token: CancelToken) -> AsyncIterator[Any]:
        return iterate_in_thread(run.iter_events, token, executor, inflight)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        draft, req, run, token = await start_chat(request, chatwire.parse_chat_completions)
        if req.stream:
            body = chatwire.completion_sse(events_of(run, token), model=run.model,
                                           include_usage=req.include_usage, usage_in_final=False)
            return _sse(body, run.model)
        result = await run_in_thread(run.collect, request, token, executor, inflight)
        return JSONResponse(chatwire.completion_body(result), headers={"x-harken-model": run.model})

    @app.post("/v1/audio/reasoning")
    async def reasoning(request: Request) -> Response:
        draft, req, run, token = await start_chat(request, sambanova.parse_reasoning)
        if req.stream:
            body = chatwire.completion_sse(events_of(run, token), model=run.model,
                                           include_usage=req.include_usage, usage_in_final=True)
            return _sse(body, run.model)
        result = await run_in_thread(run.collect, request, token, executor, inflight)
        return sambanova.reasoning_response(result, draft.response_format)

    @app.post("/model/{model_id:path}/invoke")
    async def invoke(request: Request, model_id: str) -> Response:
        started = time.monotonic()
        _, _, run, token = await start_chat(request, lambda b: bedrock.parse_invoke(b, model_id))
        result = await run_in_thread(run.collect, request, token, executor, inflight)
        return bedrock.invoke_response(result, started)

    @app.post("/model/{model_id:path}/invoke-with-response-stream")
    async def invoke_stream(request: Request, model_id: str) -> Response:
        started = time.monotonic()
        _, _, run, token = await start_chat(request, lambda b: bedrock.parse_invoke(b, model_id))
        body = bedrock.invoke_stream(events_of(run, token), model=run.model, started=started)
        return StreamingResponse(body, media_type=bedrock.EVENTSTREAM,
                                 headers=bedrock.stream_headers(run.model))

    @app.post("/model/{model_id:path}/converse")
    async def converse(request: Request, model_id: str) -> Response:
        started = time.monotonic()
        _, _, run, token = await start_chat(request, lambda b: bedrock.parse_converse(b, model_id))
        result = await run_in_thread(run.collect, request, token, executor, inflight)
        return bedrock.converse_response(result, started)

    @app.post("/model/{model_id:path}/converse-stream")
    async def converse_stream(request: Request, model_id: str) -> Response:
        started = time.monotonic()
        _, _, run, token = await start_chat(request, lambda b: bedrock.parse_converse(b, model_id))
        body = bedrock.converse_stream(events_of(run, token), started=started)
        return StreamingResponse(body, media_type=bedrock.EVENTSTREAM,
                                 headers=bedrock.stream_headers(run.model))

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        return await transcription(request, "transcribe")

    @app.post("/v1/audio/translations")
    async def translations(request: Request) -> Response:
        form = await oai.read_form(request, settings.limits.max_upload_bytes)
        target = form.get("language")
        code = normalize_language(target) if isinstance(target, str) and target.strip() else None
        # SambaNova's ``language`` is the target; Whisper alone reaches English only, so any
        # other target goes to Service.translate (the transcript translated by a text LLM).
        if code in (None, "en"):
            return await transcription(request, "translate")
        req = await oai.parse_transcription(
            form, task="transcribe",
            max_upload_bytes=settings.limits.max_upload_bytes,
        )  # fmt: skip
        token = CancelToken()
        transcript = await run_in_thread(
            lambda: service.translate(
                req.data, target_language=code, model=req.model, cancel=token.check
            ),
            request, token, executor, inflight,
        )  # fmt: skip
        return oai.transcript_response(transcript, req)

    return app


def _sse(body: AsyncIterator[bytes], model: str) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"x-harken-model": model, "cache-control": "no-cache"})


def _model_cards(service: Service) -> list[dict[str, Any]]:
    """Catalog entries and their aliases; an alias card names its target in ``root``."""
    created = int(time.time())
    cards: list[dict[str, Any]] = []
    aliases = service.catalog.aliases()
    for entry in service.catalog.entries():
        names = sorted(a for a, target in aliases.items() if target == entry.id)
        common = {"object": "model", "created": created, "owned_by": "harken", "root": entry.id,
                  "kind": entry.kind, "engine": entry.engine}  # fmt: skip
        cards.append({"id": entry.id, **common, "aliases": names, "licence": entry.licence})
        cards.extend({"id": alias, **common} for alias in names)
    return cards


def _install_errors(app: FastAPI) -> None:
    """Every error leaves in the caller's dialect; nothing unexpected leaks as a bare 500."""

    @app.exception_handler(HarkenError)
    async def harken_error(request: Request, exc: HarkenError) -> Response:
        if exc.status_code >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return error_response(request.url.path, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        err = InvalidRequest(f"invalid request: {exc.errors()}")
        return error_response(request.url.path, err)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            err: HarkenError = ModelNotFound(f"no route for {request.method} {request.url.path}")
            err.code = "not_found"
        else:
            err = HarkenError(str(exc.detail))
            err.status_code = exc.status_code
            err.code = "http_error"
            err.type = "invalid_request_error"
        return error_response(request.url.path, err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        err = HarkenError(f"internal error: {type(exc).__name__}: {exc}")
        return error_response(request.url.path, err)


def _install_auth(app: FastAPI, keys: list[str]) -> None:
    if not keys:
        return
    encoded = [k.encode() for k in keys]

    @app.middleware("http")
    async def require_key(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path in PUBLIC_PATHS:
            return await call_next(request)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        # Compare against every key so timing does not reveal which one nearly matched.
        ok = False
        for key in encoded:
            ok |= hmac.compare_digest(given, key)
        # SigV4 signatures (Authorization: AWS4-HMAC-SHA256 ...) are not verified: with keys
        # configured, Bedrock clients authenticate with a bearer key (AWS_BEARER_TOKEN_BEDROCK).
        if not ok:
            err = Unauthorized("missing or invalid API key: send 'Authorization: Bearer <key>'.")
            return error_response(request.url.path, err)
        return await call_next(request)


