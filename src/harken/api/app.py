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
from starlette.responses import Response, StreamingResponse

from ..config import Settings
from ..errors import HarkenError, InvalidRequest, ModelNotFound, Unauthorized
from ..service import CancelToken, Service
from .dialects import openai as oai
from .streaming import Inflight, iterate_in_thread, run_in_thread

log = logging.getLogger(__name__)
PUBLIC_PATHS = frozenset({"/health"})


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
            beam_size=settings.whisper.beam_size,
            max_upload_bytes=settings.limits.max_upload_bytes,
        )
        token = CancelToken()
        run = await run_in_thread(
            lambda: service.transcribe_stream(
                req.data, req.options, model=req.model, cancel=token.check
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

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        return await transcription(request, "transcribe")

    @app.post("/v1/audio/translations")
    async def translations(request: Request) -> Response:
        return await transcription(request, "translate")

    return app


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
        return oai.error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return oai.error_response(InvalidRequest(f"invalid request: {exc.errors()}"))

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
        return oai.error_response(err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return oai.error_response(HarkenError(f"internal error: {type(exc).__name__}: {exc}"))


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
        if not ok:
            return oai.error_response(
                Unauthorized("missing or invalid API key: send 'Authorization: Bearer <key>'.")
            )
        return await call_next(request)


