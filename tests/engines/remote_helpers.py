"""Shared by the remote-engine tests: a long recording with a known transcript, and upstream
harken servers whose in-flight work is watched through their /health."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from harken.service import Service
from harken.types import Audio
from tests.conftest import LiveServer, start_server

# Reference clips laid end to end with pauses between them: long audio whose words are known.
CLIPS = (
    "jfk.wav",
    "librispeech_1.wav",
    "bcn_weather.mp3",
    "asterisk_en_agent-alreadyon.wav",
    "asterisk_en_vm-intro.wav",
    "asterisk_en_conf-onlyperson.wav",
    "asterisk_en_tt-weasels.wav",
)
PAUSE_S = 1.5
# Upstreams decode two requests at once, one CPU thread each: two of them share the 2 cores.
UPSTREAM_ENV = {"HARKEN_WORKERS": "2", "HARKEN_WHISPER__CPU_THREADS": "1"}


@dataclass(frozen=True)
class LongClip:
    audio: Audio
    reference: str
    spans_s: tuple[tuple[float, float], ...]  # where each clip lies in the long audio


def long_clip(service: Service, audio_dir: Path, references: dict[str, dict]) -> LongClip:
    rate = 16_000
    pause = np.zeros(int(PAUSE_S * rate), np.float32)
    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    at_s = 0.0
    for name in CLIPS:
        samples = service.load_audio(audio_dir / name).samples
        spans.append((at_s, at_s + len(samples) / rate))
        pieces += [samples, pause]
        at_s += (len(samples) + len(pause)) / rate
    text = " ".join(references[name]["text"] for name in CLIPS)
    return LongClip(Audio(np.concatenate(pieces)), text, tuple(spans))


def start_upstreams(tmp: Path, count: int = 2) -> list[LiveServer]:
    return [start_server(tmp, UPSTREAM_ENV) for _ in range(count)]


def posts(server: LiveServer, path: str = "/v1/audio/transcriptions") -> int:
    """Requests the upstream answered, from its access log."""
    return server.log().count(f'"POST {path} HTTP/1.1"')


class InflightWatch:
    """Polls each server's /health in a thread and keeps the highest ``inflight`` seen."""

    def __init__(self, servers: list[LiveServer], interval_s: float = 0.05) -> None:
        self.servers = servers
        self.peak = [0] * len(servers)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> InflightWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.is_set():
                for i, server in enumerate(self.servers):
                    try:
                        count = client.get(server.base_url + "/health").json()["inflight"]
                    except (httpx.HTTPError, ValueError, KeyError):
                        continue
                    self.peak[i] = max(self.peak[i], int(count))
                self._stop.wait(self.interval_s)
