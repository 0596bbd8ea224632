"""A fake ChatEngine and an app around it, for HTTP-layer chat tests through the real dialects.

The fake answers with a description of what it was given (roles, text, audio durations), so a
test can check that every wire shape reached the engine as the same canonical request.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from harken.api.app import create_app
from harken.audio.encode import wav_bytes
from harken.config import Settings
from harken.engines.base import CancelCheck, ChatCaps, never_cancelled
from harken.errors import ModelUnavailable
from harken.models.catalog import Catalog, ModelEntry
from harken.models.manager import ModelManager
from harken.service import Service
from harken.types import AudioPart, ChatRequest, Event, Finished, TextDelta, Usage


class FakeChatEngine:
    """Describes the request back in a few deltas; can fail after ``fail_after`` deltas."""

    caps = ChatCaps(audio_per_message=8, max_audio_s=3600.0, native_audio=False)

    def __init__(self, fail_after: int | None = None, delay_s: float = 0.0) -> None:
        self.fail_after = fail_after
        self.delay_s = delay_s
        self.requests: list[ChatRequest] = []
        self.produced = 0

    def chat(self, request: ChatRequest, cancel: CancelCheck = never_cancelled) -> Iterator[Event]:
        self.requests.append(request)
        return self._events(request, cancel)

    def _events(self, request: ChatRequest, cancel: CancelCheck) -> Iterator[Event]:
        words = describe(request).split(" ")
        for i, word in enumerate(words):
            cancel()
            if self.fail_after is not None and i >= self.fail_after:
                raise ModelUnavailable("the fake engine broke mid-answer")
            time.sleep(self.delay_s)
            self.produced += 1
            yield TextDelta(word if i == 0 else " " + word)
        yield Usage(prompt_tokens=7, completion_tokens=len(words))
        yield Finished("stop")


def describe(request: ChatRequest) -> str:
    """``system:<text> user:audio(1.0s) user:<text> ...`` - what the engine saw."""
    out = []
    for m in request.messages:
        for p in m.parts:
            if isinstance(p, AudioPart):
                out.append(f"{m.role}:audio({p.audio.duration_s:.1f}s)")
            else:
                out.append(f"{m.role}:{p.text.replace(' ', '_')}")
    return " ".join(out)


class FixedStore:
    def pull(self, entry: object, progress: object = None) -> Path:
        return Path("/nonexistent")


def _entry(model_id: str, *aliases: str) -> ModelEntry:
    return ModelEntry(id=model_id, kind="alm", engine="cascade", description="fake",
                      licence="MIT", aliases=aliases)


CATALOG_ENTRIES = (
    _entry("cascade"),
    _entry("Qwen2-Audio-7B-Instruct"),
    _entry("voxtral-mini-3b-2507", "mistral.voxtral-mini-3b-2507", "voxtral-mini-latest"),
    _entry("voxtral-small-24b-2507", "mistral.voxtral-small-24b-2507"),
)


def make_client(engine: FakeChatEngine, **settings: object) -> TestClient:
    s = Settings(home=Path("/tmp/harken-test-home"), **settings)
    catalog = Catalog(CATALOG_ENTRIES)
    manager = ModelManager(catalog, FixedStore(), {"cascade": lambda e, p: engine})  # type: ignore[arg-type]
    return TestClient(create_app(s, service=Service(s, catalog=catalog, manager=manager)))


def wav(seconds: float, rate_hz: int = 16000) -> bytes:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return wav_bytes(np.sin(2 * np.pi * 220 * t) * 8000 / 32767, rate_hz)


def b64wav(seconds: float) -> str:
    return base64.b64encode(wav(seconds)).decode()


@contextmanager
def loopback(engine: FakeChatEngine, **settings: object) -> Iterator[str]:
    """The app on a real loopback port (uvicorn in a thread), for the real client libraries."""
    import threading

    import httpx
    import uvicorn

    from tests.conftest import free_port

    client = make_client(engine, **settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(client.app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=5)
