"""The HTTP layer with a fake engine: auth, envelopes, streaming, and cancellation on disconnect.

The real engine is exercised against a live server in tests/clients; here a fake Transcriber
makes timing controllable so cancellation can be observed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from harken.api.app import create_app
from harken.api.sse import SSEDecoder
from harken.audio.encode import wav_bytes
from harken.config import Settings
from harken.engines.base import CancelCheck, TranscriberCaps, never_cancelled
from harken.models.catalog import default_catalog
from harken.models.manager import ModelManager
from harken.service import Service
from harken.types import Audio, Segment, TranscribeOptions, TranscriptInfo



class FakeTranscriber:
    """One segment per second of audio, each taking ``delay_s`` to "decode"."""

    caps = TranscriberCaps(languages=None, can_translate=True, word_timestamps=True,
                           max_window_s=30.0)

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.produced = 0

    def transcribe(self, audio: Audio, opts: TranscribeOptions,
                   cancel: CancelCheck = never_cancelled) -> tuple[Iterator[Segment], TranscriptInfo]:
        info = TranscriptInfo("en", 0.99, audio.duration_s, opts.task, "whisper-base")

        def segments() -> Iterator[Segment]:
            for i in range(int(audio.duration_s)):
                cancel()
                time.sleep(self.delay_s)
                self.produced += 1
                yield Segment(i, float(i), i + 1.0, f" word{i}.")

        return segments(), info


class FixedStore:
    def pull(self, entry: object, progress: object = None) -> Path:
        return Path("/nonexistent")


def _wav(seconds: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    return wav_bytes(np.sin(2 * np.pi * 220 * t) * 8000 / 32767, 16000)


def _client(engine: FakeTranscriber, **settings: object) -> TestClient:
    s = Settings(home=Path("/tmp/harken-test-home"), **settings)
    catalog = default_catalog()
    manager = ModelManager(catalog, FixedStore(), {"whisper": lambda e, p: engine})  # type: ignore[arg-type]
    return TestClient(create_app(s, service=Service(s, catalog=catalog, manager=manager)))


def test_json_and_model_header() -> None:
    with _client(FakeTranscriber()) as client:
        r = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", _wav(3))},
                        data={"model": "whisper-1"})
    assert r.status_code == 200
    assert r.json() == {"text": "word0. word1. word2.", "usage": {"type": "duration", "seconds": 3}}
    assert r.headers["x-harken-model"] == "whisper-base"


def test_api_keys() -> None:
    with _client(FakeTranscriber(), api_keys=["k1", "k2"]) as client:
        assert client.get("/health").status_code == 200
        missing = client.get("/v1/models")
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "authentication_error"
        assert client.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Basic k1"}).status_code == 401
        ok = client.get("/v1/models", headers={"Authorization": "Bearer k2"})
        assert ok.status_code == 200
        r = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", _wav(1))},
                        headers={"Authorization": "Bearer k1"})
        assert r.status_code == 200


def test_api_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARKEN_API_KEYS", "alpha, beta")
    assert Settings().api_keys == ["alpha", "beta"]


def test_unknown_route_and_method_use_the_envelope() -> None:
    with _client(FakeTranscriber()) as client:
        r = client.get("/v1/nothing")
        assert r.status_code == 404 and "error" in r.json()
        r = client.get("/v1/audio/transcriptions")
        assert r.status_code == 405 and "error" in r.json()


def test_unknown_model_card() -> None:
    with _client(FakeTranscriber()) as client:
        assert client.get("/v1/models/whisper-1").json()["id"] == "whisper-base"
        assert client.get("/v1/models/nope").status_code == 404


def test_stream_usage_only_when_asked() -> None:
    with _client(FakeTranscriber()) as client:
        for include, expect in ((False, None), (True, {"type": "duration", "seconds": 2})):
            data = {"stream": "true"}
            if include:
                data["stream_options"] = '{"include_usage": true}'
            r = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", _wav(2))},
                            data=data)
            decoder = SSEDecoder()
            events = decoder.feed(r.content) + decoder.flush()
            assert events[-1].data == "[DONE]"
            done = events[-2].json()
            assert done["type"] == "transcript.text.done" and done["text"] == "word0. word1."
            assert done.get("usage") == expect


def test_disconnect_mid_stream_stops_the_work(tmp_path: Path) -> None:
    """A real server on loopback: the client reads one event, hangs up, the work stops."""
    import uvicorn

    from tests.conftest import free_port

    engine = FakeTranscriber(delay_s=0.2)
    s = Settings(home=tmp_path)
    catalog = default_catalog()
    manager = ModelManager(catalog, FixedStore(), {"whisper": lambda e, p: engine})  # type: ignore[arg-type]
    app = create_app(s, service=Service(s, catalog=catalog, manager=manager))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        with httpx.stream("POST", base + "/v1/audio/transcriptions",
                          files={"file": ("a.wav", _wav(60))}, data={"stream": "true"},
                          timeout=30) as r:
            for _ in r.iter_lines():
                break  # one event, then hang up
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and httpx.get(base + "/health").json()["inflight"]:
            time.sleep(0.05)
        assert httpx.get(base + "/health").json()["inflight"] == 0
        assert engine.produced < 20  # 60 segments would take 12 s
        assert manager.lease_count("whisper-base") == 0
    finally:
        server.should_exit = True
        thread.join(timeout=5)
