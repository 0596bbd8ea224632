"""Shared fixtures: the real recordings in ../shared/audio and a live harken server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_AUDIO = (ROOT / ".." / "shared" / "audio").resolve()


def shared_audio_dir() -> Path:
    if not (SHARED_AUDIO / "references.json").is_file():
        pytest.fail(
            f"the shared test recordings are missing: expected {SHARED_AUDIO}/references.json "
            "(the repository's sibling folder shared/audio)."
        )
    return SHARED_AUDIO


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    return shared_audio_dir()


@pytest.fixture(scope="session")
def references(audio_dir: Path) -> dict[str, dict]:
    return json.loads((audio_dir / "references.json").read_text())


def harken_home() -> Path:
    """Models are cached across runs (``HARKEN_HOME`` or ~/.cache/harken), never per test."""
    return Path(os.environ.get("HARKEN_HOME", Path.home() / ".cache" / "harken"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str  # e.g. http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def v1(self) -> str:
        return self.base_url + "/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, env: dict[str, str] | None = None, timeout_s: float = 900) -> LiveServer:
    """``harken serve`` in a subprocess on a free loopback port; waits for /health."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    full_env = {**os.environ, "HARKEN_HOME": str(harken_home()), **(env or {})}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harken", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + timeout_s  # the first run pulls the model from the index
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"harken serve exited with {proc.returncode}:\n{server.log()[-4000:]}")
        try:
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(server)
    pytest.fail(f"harken serve did not become healthy:\n{server.log()[-4000:]}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server on the default models, with small upload and duration limits to test 413s."""
    srv = start_server(
        tmp_path_factory.mktemp("server"),
        {
            "HARKEN_LIMITS__MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
            "HARKEN_LIMITS__MAX_DURATION_S": "1800",
        },
    )
    yield srv
    stop_server(srv)
