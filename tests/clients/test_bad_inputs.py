"""Bad input gets a clear 4xx in OpenAI's error envelope, quickly, and the server keeps serving."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import openai
import pytest
import requests

from tests.conftest import LiveServer

pytestmark = pytest.mark.slow

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _silent_flac(duration_s: float, rate_hz: int = 8000) -> bytes:
    """Digital silence compresses to almost nothing: a tiny file that decodes to hours."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate_hz, layout="mono")
        block = np.zeros((1, rate_hz * 60), dtype=np.int16)
        for i in range(int(duration_s // 60)):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = rate_hz
            frame.pts = i * block.shape[1]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _post(server: LiveServer, files: dict | None = None, data: dict | None = None,
          path: str = "/audio/transcriptions", **kwargs: object) -> requests.Response:
    return requests.post(server.v1 + path, files=files, data=data or {"model": "whisper-1"},
                         timeout=60, **kwargs)


def _error(response: requests.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    for word in words:
        assert word in error["message"].lower(), error["message"]
    return error


def test_empty_file(server: LiveServer) -> None:
    _error(_post(server, {"file": ("a.wav", b"")}), 400, "empty")


def test_text_file(server: LiveServer) -> None:
    _error(_post(server, {"file": ("notes.txt", b"hello, this is not audio\n" * 50)}), 415)


def test_png_image(server: LiveServer) -> None:
    _error(_post(server, {"file": ("cover.png", PNG)}), 415)


def test_random_bytes(server: LiveServer) -> None:
    noise = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    assert _post(server, {"file": ("x.mp3", noise)}).status_code in (400, 415)


def test_truncated_wav(server: LiveServer, audio_dir: Path) -> None:
    head = (audio_dir / "jfk.wav").read_bytes()[:30]
    assert _post(server, {"file": ("jfk.wav", head)}).status_code in (400, 415)


def test_upload_over_the_limit(server: LiveServer) -> None:
    big = b"\0" * (9 * 1024 * 1024)
    _error(_post(server, {"file": ("big.wav", big)}), 413, "limit")


def test_tiny_file_that_decodes_to_hours_is_refused_quickly(server: LiveServer) -> None:
    flac = _silent_flac(3600)
    assert len(flac) < 1024 * 1024
    started = time.monotonic()
    _error(_post(server, {"file": ("silence.flac", flac)}), 413)
    assert time.monotonic() - started < 20


def test_missing_file(server: LiveServer) -> None:
    error = _error(_post(server, {"other": ("a.txt", b"x")}), 400, "file")
    assert error["param"] == "file"


def test_not_multipart(server: LiveServer) -> None:
    response = requests.post(server.v1 + "/audio/transcriptions", json={"model": "whisper-1"},
                             timeout=30)
    _error(response, 415, "multipart")


@pytest.mark.parametrize(
    "field,value,param",
    [
        ("response_format", "mp3", "response_format"),
        ("language", "klingon", "language"),
        ("temperature", "hot", "temperature"),
        ("temperature", "3", "temperature"),
        ("timestamp_granularities[]", "sentence", "timestamp_granularities[]"),
        ("stream", "maybe", "stream"),
    ],
)
def test_bad_fields(server: LiveServer, audio_dir: Path, field: str, value: str,
                    param: str) -> None:
    files = {"file": open(audio_dir / "asterisk_en_tt-weasels.wav", "rb")}
    error = _error(_post(server, files, {"model": "whisper-1", field: value}), 400)
    assert error["param"] == param and value in error["message"]


def test_unknown_model(server: LiveServer, audio_dir: Path) -> None:
    files = {"file": open(audio_dir / "asterisk_en_tt-weasels.wav", "rb")}
    error = _error(_post(server, files, {"model": "whisper-huge-9"}), 404, "whisper-huge-9")
    assert error["code"] == "model_not_found"


def test_openai_sdk_raises_typed_errors(server: LiveServer) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b""))
    assert "empty" in str(info.value)


def test_server_keeps_serving_after_bad_input(server: LiveServer, audio_dir: Path) -> None:
    for _ in range(3):
        _post(server, {"file": ("x.wav", b"RIFF....WAVEfmt garbage")})
    assert requests.get(server.base_url + "/health", timeout=5).json()["status"] == "ok"
    ok = _post(server, {"file": open(audio_dir / "asterisk_en_tt-weasels.wav", "rb")})
    assert ok.status_code == 200 and "weasels" in ok.json()["text"].lower()
