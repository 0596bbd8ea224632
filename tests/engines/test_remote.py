"""The remote engine's pure parts (cutting, WAV, wire parsing) and the upstream balancer against
small real HTTP servers on loopback; the live-harken tests are in test_remote_live.py."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harken.audio.decode import DecodeLimits, decode_audio
from harken.config import Settings
from harken.engines.remote import (
    openai_messages,
    parse_chat_stream,
    parse_verbose,
    split_audio,
)
from harken.engines.upstreams import UpstreamPool, normalize_url
from harken.audio.encode import wav_bytes
from harken.audio.segment import Chunk
from harken.errors import InvalidRequest, ModelUnavailable
from harken.service import Service
from harken.types import Audio, AudioPart, Message, TextDelta, TextPart, Usage
from tests.engines.remote_helpers import long_clip

# --- cutting (chat audio longer than the window goes as several parts) ---------------------


def test_real_long_audio_is_cut_between_clips(
    audio_dir: Path, references: dict[str, dict]
) -> None:
    clip = long_clip(Service(Settings()), audio_dir, references)
    chunks = split_audio(clip.audio, 12.0)
    assert len(chunks) >= 4
    assert all(a.end_s == b.start_s for a, b in zip(chunks, chunks[1:]))  # all of it is sent
    assert all(c.end_s - c.start_s <= 12.0 + 1e-6 for c in chunks)
    assert chunks[-1].end_s == pytest.approx(clip.audio.duration_s)
    # Every cut falls in silence: inside a pause between clips, or a pause within one.
    loud = np.abs(clip.audio.samples) > 0.02
    for c in chunks[:-1]:
        i = round(c.end_s * 16_000)
        assert not loud[max(i - 800, 0) : i + 800].any(), f"cut at {c.end_s:.2f} s is in speech"


def test_short_audio_is_one_chunk_without_vad() -> None:
    audio = Audio(np.zeros(16_000 * 5, np.float32))
    assert split_audio(audio, 30.0) == [Chunk(0.0, 5.0)]


def test_wav_round_trips_through_the_decoder() -> None:
    t = np.arange(16_000) / 16_000
    samples = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    decoded = decode_audio(wav_bytes(samples, 16_000), DecodeLimits())
    assert decoded.sample_rate_hz == 16_000
    assert np.max(np.abs(decoded.samples - samples)) < 1e-3


# --- wire formats ------------------------------------------------------------------------------


def test_verbose_json_becomes_segments_with_their_words() -> None:
    body = {
        "language": "english",
        "text": "Hello there. General Kenobi.",
        "segments": [
            {"id": 0, "start": 0.0, "end": 1.5, "text": " Hello there.", "avg_logprob": -0.2},
            {"id": 1, "start": 1.6, "end": 3.0, "text": " General Kenobi."},
        ],
        "words": [
            {"word": "Hello", "start": 0.0, "end": 0.5},
            {"word": "there.", "start": 0.6, "end": 1.4},
            {"word": "General", "start": 1.6, "end": 2.2},
            {"word": "Kenobi.", "start": 2.3, "end": 3.2},  # past the audio's end: clamped
        ],
    }
    segments, language = parse_verbose(body, 3.0)
    assert language == "en"
    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 1.5), (1.6, 3.0)]
    assert [w.text for w in segments[0].words] == [" Hello", " there."]
    assert [w.text for w in segments[1].words] == [" General", " Kenobi."]
    assert segments[1].words[-1].end_s == 3.0
    assert segments[0].avg_logprob == -0.2
    assert parse_verbose({"text": " Hi.", "language": "xx"}, 2.0)[0][0].end_s == 2.0


def _chat_stream() -> bytes:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Ask not "}}]},
        {"choices": [{"index": 0, "delta": {"content": "what — ✓"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}},
    ]
    events = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\r\n\r\n" for c in chunks)
    return (events + "data: [DONE]\r\n\r\n").encode()


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_chat_stream_parses_at_any_chunk_boundary(step: int) -> None:
    raw = _chat_stream()
    pieces = iter([raw[i : i + step] for i in range(0, len(raw), step)])
    items = list(parse_chat_stream(pieces))
    assert items == [TextDelta("Ask not "), TextDelta("what — ✓"), "length", Usage(12, 3)]


def test_chat_stream_error_event_raises() -> None:
    raw = b'data: {"error": {"message": "boom", "code": "x"}}\n\n'
    with pytest.raises(Exception, match="boom"):
        list(parse_chat_stream(iter([raw])))


def test_audio_goes_upstream_as_input_audio_wav() -> None:
    audio = Audio((0.1 * np.ones(16_000 * 2)).astype(np.float32))
    msgs = openai_messages(
        [Message("system", (TextPart("Be brief."),)),
         Message("user", (AudioPart(audio), TextPart("What is this?")))],
        window_s=30.0,
    )  # fmt: skip
    assert msgs[0] == {"role": "system", "content": "Be brief."}
    part, text = msgs[1]["content"]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    decoded = decode_audio(base64.b64decode(part["input_audio"]["data"]), DecodeLimits())
    assert decoded.duration_s == pytest.approx(2.0)
    assert text == {"type": "text", "text": "What is this?"}


# --- the balancer, against small loopback servers --------------------------------------------


class _Upstream:
    """A loopback HTTP server answering POSTs after ``delay_s`` with ``status``; counts them."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.status, self.delay_s, self.hits, self.peak, self._now = status, delay_s, 0, 0, 0
        lock, outer = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self._send(200 if self.path == "/health" else 404, {"status": "ok"})

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    outer.hits += 1
                    outer._now += 1
                    outer.peak = max(outer.peak, outer._now)
                time.sleep(outer.delay_s)
                with lock:
                    outer._now -= 1
                body = {"ok": outer.port} if outer.status == 200 else {
                    "error": {"message": f"status {outer.status}"}}  # fmt: skip
                self._send(outer.status, body)

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams() -> Iterator[list[_Upstream]]:
    ups = [_Upstream(delay_s=0.2), _Upstream(delay_s=0.2)]
    yield ups
    for u in ups:
        u.close()


def _call(pool: UpstreamPool) -> int:
    return pool.request("/v1/x", lambda r: r.json()["ok"], json={})


def test_requests_spread_by_least_outstanding(upstreams: list[_Upstream]) -> None:
    pool = UpstreamPool([u.url for u in upstreams])
    threads = [threading.Thread(target=_call, args=(pool,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [u.hits for u in upstreams] == [4, 4]
    assert all(u.peak >= 2 for u in upstreams)
    assert [s["served"] for s in pool.stats()] == [4, 4]


def test_a_dead_upstream_is_skipped_then_probed_back(upstreams: list[_Upstream]) -> None:
    dead = _Upstream()
    port = dead.port
    dead.close()
    pool = UpstreamPool([f"http://127.0.0.1:{port}", upstreams[0].url], cooldown_s=0.3)
    assert [_call(pool) for _ in range(3)] == [upstreams[0].port] * 3  # none lost
    assert pool.stats()[0]["healthy"] is False
    time.sleep(0.4)  # cooled down: the next request probes it (still dead) and carries on
    assert _call(pool) == upstreams[0].port
    assert pool.stats()[0]["healthy"] is False


def test_error_statuses(upstreams: list[_Upstream]) -> None:
    upstreams[0].status = 503  # overloaded: retried on the other, not marked down
    pool = UpstreamPool([u.url for u in upstreams])
    assert {_call(pool) for _ in range(2)} == {upstreams[1].port}
    assert pool.stats()[0]["healthy"] is True
    upstreams[1].status = 400  # the request itself is bad: the caller's 400, no retry
    with pytest.raises(InvalidRequest, match="status 400"):
        _call(UpstreamPool([upstreams[1].url]))
    upstreams[1].status = 503
    with pytest.raises(ModelUnavailable, match="no upstream could answer"):
        _call(pool)


def test_urls_are_normalised() -> None:
    assert normalize_url("http://h:8000/v1/") == "http://h:8000"
    assert normalize_url(" https://h/ ") == "https://h"
    with pytest.raises(ValueError, match="http"):
        normalize_url("h:8000")


def test_settings_make_catalog_entries() -> None:
    settings = Settings(remote_models={
        "vllm-voxtral": {"urls": ["http://a:8000/v1"], "upstream_model": "mistralai/x",
                         "kind": "chat"},
        "vllm-whisper": {"urls": ["http://a:8000"], "upstream_model": "openai/whisper"},
    })  # fmt: skip
    service = Service(settings.model_copy(update={"serve_with": {
        "mistral.voxtral-mini-3b-2507": "vllm-voxtral"}}))  # fmt: skip
    assert service.catalog.resolve("vllm-voxtral").engine == "remote"
    assert service.resolve_asr("vllm-whisper").kind == "asr"
    assert service.resolve_chat("mistral.voxtral-mini-3b-2507").id == "vllm-voxtral"
