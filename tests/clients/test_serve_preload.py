"""``harken serve`` loads the reasoning models before it listens, unless told not to."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server, stop_server

LLM = "qwen2.5-coder-1.5b-instruct"


@pytest.mark.parametrize(
    ("preload", "expected"),
    [("true", {"whisper-base", "cascade", LLM}), ("false", {"whisper-base"})],
)
def test_models_loaded_when_the_server_starts(tmp_path: Path, preload: str, expected: set) -> None:
    server = start_server(tmp_path, {"HARKEN_PRELOAD_CHAT": preload})
    try:
        # The first /health answer: nothing but start-up has loaded anything yet.
        health = httpx.get(server.base_url + "/health", timeout=10).json()
        assert set(health["loaded_models"]) == expected
    finally:
        stop_server(server)


def test_a_chat_model_that_cannot_load_does_not_stop_the_server(tmp_path: Path) -> None:
    # Voxtral served natively, but its weights are nowhere to be had here (no hub, no dirs).
    env = {"HARKEN_SERVE_WITH": "{}", "HARKEN_DEFAULT_CHAT_MODEL": "voxtral-mini-3b-2507",
           "HARKEN_SOURCE_TIMEOUT_S": "2"}  # fmt: skip
    server = start_server(tmp_path, env)
    try:
        assert httpx.get(server.base_url + "/health", timeout=10).json()["loaded_models"] == [
            "whisper-base"
        ]
        assert "reasoning model not preloaded" in server.log()
        assert "hub unreachable: local cache only" in server.log()  # found in seconds
    finally:
        stop_server(server)
