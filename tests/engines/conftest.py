"""Shared fixtures for the engine tests: one Service on the default models, and real clips."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harken.config import Settings
from harken.service import Service
from harken.types import Audio
from tests.conftest import harken_home, shared_audio_dir

CLIPS = {"jfk": "jfk.wav", "bcn": "bcn_weather.mp3", "baseball": "winning_call.mp3"}


@pytest.fixture(scope="session")
def service() -> Iterator[Service]:
    svc = Service(Settings(home=harken_home()))
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def clips(service: Service) -> dict[str, Audio]:
    return {key: service.load_audio(shared_audio_dir() / name) for key, name in CLIPS.items()}
