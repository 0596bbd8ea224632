"""One loaded instance per model: pulled and loaded on first use, leased, unloaded when idle.

Routes and the service never load models themselves; they hold a lease for the length of a
request (speaches' model manager), so an idle unload can never pull a model out from under one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HarkenError, ModelUnavailable
from .catalog import Catalog, ModelEntry
from .store import ModelStore

log = logging.getLogger(__name__)

# Turns a model's folder into an engine instance; chosen by ``ModelEntry.engine``.
Loader = Callable[[ModelEntry, Path], object]


@dataclass(eq=False)
class _Slot:
    """The state of one model. Counters are guarded by the manager's lock; ``load_lock`` makes
    concurrent first leases wait for a single pull and load instead of each doing their own."""

    entry: ModelEntry
    load_lock: threading.Lock = field(default_factory=threading.Lock)
    instance: object = None
    loaded: bool = False  # separate from ``instance`` because a loader may return None
    leases: int = 0
    # Bumped whenever the lease count falls to zero, so an idle timer started before a later
    # lease-and-release sees that it is stale and does nothing.
    generation: int = 0
    timer: threading.Timer | None = None
    unload_when_free: bool = False


class ModelManager:
    """Leases loaded models by name (id or alias), loading each once."""

    def __init__(
        self,
        catalog: Catalog,
        store: ModelStore,
        loaders: Mapping[str, Loader],
        *,
        idle_unload_s: float | None = None,
    ) -> None:
        if idle_unload_s is not None and idle_unload_s < 0:
            raise ValueError(f"idle_unload_s must not be negative, got {idle_unload_s}.")
        self.catalog = catalog
        self.store = store
        self.loaders = dict(loaders)
        self.idle_unload_s = idle_unload_s
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self._closed = False

    def get_entry(self, name: str) -> ModelEntry:
        """The catalog entry for an id or alias; ``ModelNotFound`` if there is none."""
        return self.catalog.resolve(name)

    @contextmanager
    def lease(self, name: str) -> Iterator[tuple[ModelEntry, object]]:
        """``with manager.lease("whisper-1") as (entry, instance):`` - pulls and loads if needed."""
        entry = self.get_entry(name)
        slot, instance = self._acquire(entry)
        try:
            yield entry, instance
        finally:
            self._release(slot)

    def preload(self, name: str) -> ModelEntry:
        """Load a model now (at start-up, say). With ``idle_unload_s`` set, the idle clock starts
        as soon as it is loaded."""
        with self.lease(name) as (entry, _instance):
            return entry

    def loaded(self) -> list[str]:
        """Ids of the models loaded now."""
        with self._lock:
            return sorted(s.entry.id for s in self._slots.values() if s.loaded)

    def lease_count(self, name: str) -> int:
        entry = self.get_entry(name)
        with self._lock:
            slot = self._slots.get(entry.id)
            return slot.leases if slot else 0

    def unload(self, name: str) -> bool:
        """Unload a model now; True if it was. A leased model is unloaded when its last lease
        ends instead (and False is returned)."""
        entry = self.get_entry(name)
        with self._lock:
            slot = self._slots.get(entry.id)
            if slot is None or not slot.loaded:
                return False
            if slot.leases > 0:
                slot.unload_when_free = True
                return False
        return self._unload_if_idle(slot)

    def close(self) -> None:
        """Unload everything; models still leased are unloaded when released. Idempotent."""
        with self._lock:
            self._closed = True
            slots = list(self._slots.values())
            for slot in slots:
                slot.unload_when_free = True
        for slot in slots:
            self._unload_if_idle(slot)

    # --- internals -------------------------------------------------------------------------------

    def _acquire(self, entry: ModelEntry) -> tuple[_Slot, object]:
        while True:
            with self._lock:
                self._check_open()
                slot = self._slots.get(entry.id)
                if slot is None:
                    slot = self._slots[entry.id] = _Slot(entry)
                if slot.loaded:
                    return slot, self._take(slot)
            with slot.load_lock:
                with self._lock:
                    if slot.loaded:  # another thread loaded it while we waited
                        continue
                instance = self._load(entry)
                with self._lock:
                    if not self._closed:
                        slot.instance, slot.loaded = instance, True
                        return slot, self._take(slot)
                _close_instance(entry, instance)  # closed while we were loading
                self._check_open()

    def _take(self, slot: _Slot) -> object:
        """Count one more lease; call with the lock held."""
        slot.leases += 1
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None
        return slot.instance

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            slot.leases -= 1
            if slot.leases > 0:
                return
            slot.generation += 1
            now = slot.unload_when_free or self._closed
            if not now and self.idle_unload_s is not None:
                slot.timer = threading.Timer(
                    self.idle_unload_s, self._unload_if_idle, args=(slot, slot.generation)
                )
                slot.timer.daemon = True  # never keeps the process alive at exit
                slot.timer.name = f"harken-idle-unload-{slot.entry.id}"
                slot.timer.start()
        if now:
            self._unload_if_idle(slot)

    def _unload_if_idle(self, slot: _Slot, generation: int | None = None) -> bool:
        with self._lock:
            if not slot.loaded or slot.leases > 0:
                return False
            if generation is not None and generation != slot.generation:
                return False  # leased and released again since this timer started
            instance = slot.instance
            slot.instance, slot.loaded, slot.unload_when_free = None, False, False
            if slot.timer is not None:
                slot.timer.cancel()
                slot.timer = None
        # Outside the lock: closing a big model can take a while and must not stall other leases.
        _close_instance(slot.entry, instance)
        log.info("model %s unloaded", slot.entry.id)
        return True

    def _load(self, entry: ModelEntry) -> object:
        loader = self.loaders.get(entry.engine)
        if loader is None:
            raise ModelUnavailable(
                f"model '{entry.id}' needs the '{entry.engine}' engine, which is not available",
                param="model",
            )
        started = time.monotonic()
        try:
            path = self.store.pull(entry)
            instance = loader(entry, path)
        except HarkenError:
            raise
        except Exception as exc:  # a loader's own error means "this model cannot be served"
            raise ModelUnavailable(
                f"model '{entry.id}' could not be loaded: {type(exc).__name__}: {exc}",
                param="model",
            ) from exc
        log.info("model %s loaded in %.1f s", entry.id, time.monotonic() - started)
        return instance

    def _check_open(self) -> None:
        if self._closed:
            raise ModelUnavailable("the model manager is closed")


def _close_instance(entry: ModelEntry, instance: object) -> None:
    close = getattr(instance, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # an unload must not fail the request that triggered it
            log.exception("closing model %s failed", entry.id)
