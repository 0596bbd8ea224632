"""Failover: one of two upstream harken servers is killed mid-request; no request fails."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from harken.config import Settings
from harken.service import Service
from harken.types import Transcript
from tests.conftest import stop_server
from tests.engines.remote_helpers import long_clip, start_upstreams
from tests.wer import wer

pytestmark = pytest.mark.slow


def test_killing_an_upstream_mid_run_loses_no_request(
    tmp_path: Path, audio_dir: Path, references: dict[str, dict]
) -> None:
    survivor, victim = start_upstreams(tmp_path)
    try:
        service = Service(Settings(remote_models={"remote-whisper": {
            "urls": [survivor.v1, victim.v1], "upstream_model": "whisper-base", "window_s": 8.0,
            "max_concurrency": 6, "cooldown_s": 1.0}}))  # fmt: skip
        clip = long_clip(service, audio_dir, references)
        results: list[Transcript | BaseException] = []

        def run() -> None:
            try:
                results.append(service.transcribe(clip.audio, model="remote-whisper"))
            except BaseException as exc:  # reported below, with the assertion
                results.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        deadline, busy = time.monotonic() + 120, False
        while time.monotonic() < deadline and not busy:  # kill it while it holds chunks
            busy = httpx.get(victim.base_url + "/health", timeout=5).json()["inflight"] >= 1
            time.sleep(0.02)
        victim.process.kill()
        worker.join(timeout=600)
        after = service.transcribe(audio_dir / "jfk.wav", model="remote-whisper")
        stats = {s["url"]: s for s in _stats(service)}
        service.close()
    finally:
        stop_server(survivor)
        stop_server(victim)

    assert busy, "the victim never held a chunk, so the kill tested nothing"
    assert len(results) == 1 and isinstance(results[0], Transcript), results
    assert wer(clip.reference, results[0].text) < 0.25, results[0].text
    assert results[0].segments[-1].end_s > clip.spans_s[-1][0]  # the end was not lost
    assert "your country" in after.text.lower()
    assert stats[victim.base_url]["healthy"] is False
    assert stats[survivor.base_url]["served"] >= 2


def _stats(service: Service) -> list[dict]:
    with service.manager.lease("remote-whisper") as (_, engine):
        return engine.pool.stats()  # type: ignore[attr-defined]
