"""Fixtures for the audio-language model tests: the tiny checkpoints, built once per process
(both test modules share them), and a ``Service`` that finds them through ``model_dirs`` and
serves the ALM names natively (``serve_with={}``)."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harken.audio.decode import DecodeLimits, decode_audio
from harken.config import Settings
from harken.service import Service
from harken.types import Audio
from tests.conftest import shared_audio_dir
from tests.engines.tiny_alm import build_all


@functools.cache
def tiny_root() -> Path:
    """``<root>/Qwen2-Audio-7B-Instruct/`` and ``<root>/voxtral-mini-3b-2507/``."""
    return build_all(Path(tempfile.mkdtemp(prefix="harken-alm-")))


def alm_settings(home: Path) -> Settings:
    return Settings(home=home, model_dirs=[tiny_root()], serve_with={})


@pytest.fixture(scope="module")
def alm_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    pytest.importorskip("transformers")
    pytest.importorskip("mistral_common")
    service = Service(alm_settings(tmp_path_factory.mktemp("alm-home")))
    yield service
    service.close()


def load_clip(name: str) -> Audio:
    return decode_audio((shared_audio_dir() / name).read_bytes(), DecodeLimits(10**9, 10**5, 10**10))
