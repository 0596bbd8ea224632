"""Fixtures for the model layer: no test ever reaches the real Hugging Face hub."""

from __future__ import annotations

import pytest

from .helpers import SplitModel, make_split_model

UNREACHABLE_HUB = "http://127.0.0.1:9"  # the discard port: nothing listens, connect is refused


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE_HUB)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture(scope="session")
def split_model(tmp_path_factory: pytest.TempPathFactory) -> SplitModel:
    return make_split_model(tmp_path_factory.mktemp("wheels"))
