"""The manager: one load per model however many threads ask, ref-counted leases, idle unload."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harken.errors import ModelNotFound, ModelUnavailable
from harken.models.catalog import Catalog, ModelEntry
from harken.models.manager import ModelManager
from harken.models.sources import ProgressFn
from harken.models.store import ModelStore


class FakeModel:
    def __init__(self, entry: ModelEntry, path: Path) -> None:
        self.entry, self.path = entry, path
        self.closed = False

    def close(self) -> None:
        self.closed = True


class CountingLoader:
    def __init__(self, delay_s: float = 0.0, fail: int = 0) -> None:
        self.delay_s, self.fail = delay_s, fail
        self.made: list[FakeModel] = []
        self.lock = threading.Lock()

    def __call__(self, entry: ModelEntry, path: Path) -> FakeModel:
        time.sleep(self.delay_s)
        with self.lock:
            if self.fail:
                self.fail -= 1
                raise RuntimeError("weights are corrupt")
            self.made.append(FakeModel(entry, path))
            return self.made[-1]


class CountingStore(ModelStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pulls: list[str] = []

    def pull(self, entry: ModelEntry, progress: ProgressFn | None = None) -> Path:
        self.pulls.append(entry.id)
        return super().pull(entry, progress)


@pytest.fixture
def catalog() -> Catalog:
    # Entries without files: the store has nothing to fetch and hands the loader an empty folder.
    return Catalog(
        [
            ModelEntry(
                id="fake-a", kind="llm", engine="llm", description="", licence="-", aliases=("a",)
            ),
            ModelEntry(id="fake-b", kind="llm", engine="remote", description="", licence="-"),
        ]
    )


def manager(
    tmp_path: Path, catalog: Catalog, loader: CountingLoader, **kw: float | None
) -> ModelManager:
    return ModelManager(
        catalog, CountingStore(tmp_path / "models"), {"llm": loader, "remote": loader}, **kw
    )


def wait_for(condition: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_concurrent_first_leases_load_once(tmp_path: Path, catalog: Catalog) -> None:
    loader = CountingLoader(delay_s=0.2)
    mgr = manager(tmp_path, catalog, loader)
    inside = threading.Barrier(9)
    got: list[object] = []

    def worker(name: str) -> None:
        with mgr.lease(name) as (entry, instance):
            assert entry.id == "fake-a"
            got.append(instance)
            inside.wait(timeout=5)  # all 8 hold a lease at the same time
            inside.wait(timeout=5)

    threads = [
        threading.Thread(target=worker, args=("A" if i % 2 else "fake-a",)) for i in range(8)
    ]
    for t in threads:
        t.start()
    inside.wait(timeout=5)
    assert mgr.lease_count("a") == 8
    inside.wait(timeout=5)
    for t in threads:
        t.join()
    assert len(loader.made) == 1
    assert mgr.store.pulls == ["fake-a"]  # type: ignore[attr-defined]
    assert all(instance is loader.made[0] for instance in got)
    assert mgr.lease_count("fake-a") == 0
    assert mgr.loaded() == ["fake-a"]  # no idle unload configured: stays loaded
    assert loader.made[0].path == tmp_path / "models" / "fake-a"


def test_leases_are_counted_and_models_independent(tmp_path: Path, catalog: Catalog) -> None:
    loader = CountingLoader()
    mgr = manager(tmp_path, catalog, loader)
    with mgr.lease("fake-a") as (_, first):
        with mgr.lease("a") as (_, second), mgr.lease("fake-b") as (entry_b, other):
            assert first is second and other is not first
            assert entry_b.id == "fake-b"
            assert mgr.lease_count("fake-a") == 2
        assert mgr.lease_count("fake-a") == 1
    assert mgr.lease_count("fake-a") == 0
    assert mgr.loaded() == ["fake-a", "fake-b"]


def test_idle_unload_after_the_last_lease(tmp_path: Path, catalog: Catalog) -> None:
    loader = CountingLoader()
    mgr = manager(tmp_path, catalog, loader, idle_unload_s=0.2)
    with mgr.lease("fake-a"):
        time.sleep(0.4)  # longer than the idle time, but leased: must stay
        assert mgr.loaded() == ["fake-a"]
    with mgr.lease("fake-a"):  # a new lease before the timer fires cancels it
        pass
    assert mgr.loaded() == ["fake-a"]
    assert wait_for(lambda: mgr.loaded() == [])
    assert loader.made[0].closed
    with mgr.lease("fake-a") as (_, instance):  # loads afresh
        assert instance is loader.made[1]
    assert len(loader.made) == 2


def test_stale_timer_does_not_unload_a_reused_model(tmp_path: Path, catalog: Catalog) -> None:
    loader = CountingLoader()
    mgr = manager(tmp_path, catalog, loader, idle_unload_s=0.3)
    for _ in range(3):  # each release restarts the idle clock
        with mgr.lease("fake-a"):
            pass
        time.sleep(0.15)
    assert mgr.loaded() == ["fake-a"] and len(loader.made) == 1
    assert wait_for(lambda: mgr.loaded() == [])


def test_explicit_unload_waits_for_leases(tmp_path: Path, catalog: Catalog) -> None:
    loader = CountingLoader()
    mgr = manager(tmp_path, catalog, loader)
    assert mgr.unload("fake-a") is False  # not loaded
    with mgr.lease("fake-a"):
        assert mgr.unload("a") is False  # leased: deferred
        assert mgr.loaded() == ["fake-a"] and not loader.made[0].closed
    assert mgr.loaded() == [] and loader.made[0].closed
    mgr.preload("fake-a")
    assert mgr.unload("fake-a") is True
    assert loader.made[1].closed


def test_load_errors_name_the_model_and_are_retried(tmp_path: Path, catalog: Catalog) -> None:
    loader = CountingLoader(fail=1)
    mgr = manager(tmp_path, catalog, loader)
    with pytest.raises(
        ModelUnavailable,
        match="model 'fake-a' could not be loaded: RuntimeError: weights are corrupt",
    ):
        with mgr.lease("a"):
            pass
    assert mgr.loaded() == []
    with mgr.lease("a") as (_, instance):  # a failed load is not remembered
        assert instance is loader.made[0]


def test_unknown_model_and_missing_engine(tmp_path: Path, catalog: Catalog) -> None:
    mgr = ModelManager(catalog, ModelStore(tmp_path / "models"), {})
    with pytest.raises(ModelNotFound):
        mgr.get_entry("nope")
    with pytest.raises(ModelNotFound):
        with mgr.lease("nope"):
            pass
    with pytest.raises(ModelUnavailable, match="needs the 'llm' engine"):
        mgr.preload("fake-a")


def test_close_unloads_everything(tmp_path: Path, catalog: Catalog) -> None:
    loader = CountingLoader()
    mgr = manager(tmp_path, catalog, loader, idle_unload_s=60)
    mgr.preload("fake-b")
    with mgr.lease("fake-a"):
        mgr.close()
        assert mgr.loaded() == ["fake-a"]  # still in use
        with pytest.raises(ModelUnavailable, match="closed"):
            mgr.preload("fake-b")
    assert mgr.loaded() == []
    assert all(m.closed for m in loader.made)
    mgr.close()  # idempotent
