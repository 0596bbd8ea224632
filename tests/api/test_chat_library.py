"""``harken.chat(...)`` with no server, on the fake engine (same parser as the wire)."""

from __future__ import annotations

from pathlib import Path

import harken
from harken.config import Settings
from harken.models.catalog import Catalog
from harken.models.manager import ModelManager
from harken.service import Service
from tests.api.chat_fakes import CATALOG_ENTRIES, FakeChatEngine, FixedStore, b64wav, wav


def _service(engine: FakeChatEngine, tmp_path: Path) -> Service:
    s = Settings(home=tmp_path)
    catalog = Catalog(CATALOG_ENTRIES)
    manager = ModelManager(catalog, FixedStore(), {"cascade": lambda e, p: engine})  # type: ignore[arg-type]
    return Service(s, catalog=catalog, manager=manager)


def test_chat_with_path_bytes_and_base64(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(wav(1))
    svc = _service(FakeChatEngine(), tmp_path)
    messages = [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": str(path)}},
        {"type": "input_audio", "input_audio": {"data": path}},
        {"type": "input_audio", "input_audio": {"data": wav(2), "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": b64wav(3), "format": "wav"}},
        {"type": "text", "text": "compare"}]}]
    result = harken.chat(messages, model="voxtral-mini-latest", service=svc, max_tokens=9)
    assert isinstance(result, harken.service.ChatResult)
    assert result.text == ("user:audio(1.0s) user:audio(1.0s) user:audio(2.0s) user:audio(3.0s) "
                           "user:compare")
    assert result.model == "cascade"


def test_chat_stream_yields_text(tmp_path: Path) -> None:
    svc = _service(FakeChatEngine(), tmp_path)
    deltas = list(harken.chat([{"role": "user", "content": "hi"}], stream=True, service=svc))
    assert deltas == ["user:hi"]
