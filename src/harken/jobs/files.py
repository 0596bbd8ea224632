"""Where a job's audio lives: a saved upload under ``$HARKEN_HOME/jobs/<id>/``, or a file the
caller named with ``file://`` inside one of the allowed directories (never anywhere else)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import InvalidRequest
from ..errors import Forbidden

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def job_dir(jobs_dir: Path, job_id: str) -> Path:
    return jobs_dir / job_id


def save_upload(jobs_dir: Path, job_id: str, data: bytes, filename: str | None) -> Path:
    """Write the upload durably (fsync) before the job is acknowledged, so a restart finds it.

    The extension of the client's file name is kept as the decoder's fallback format hint; the
    rest of the name is not used, so it cannot steer where the file goes.
    """
    folder = job_dir(jobs_dir, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = _SAFE_NAME.sub("", Path(filename or "").suffix)[:16]
    path = folder / f"audio{suffix}"
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path


def remove_upload(jobs_dir: Path, job_id: str) -> None:
    """The upload is only needed until the job ends: the result lives in the database."""
    shutil.rmtree(job_dir(jobs_dir, job_id), ignore_errors=True)


def resolve_file_url(url: str, allowed_dirs: list[Path]) -> Path:
    """The local file a ``file://`` URL names, if it lies inside an allowed directory.

    Other schemes are a 400; a path outside every allowed directory (after resolving ``..`` and
    symbolic links, so neither can escape) is a 403, as is every path when none is configured.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise InvalidRequest(
            f"'url' must be a file:// URL naming audio on the server, got scheme "
            f"'{parts.scheme or 'none'}'; upload other audio as the 'file' field.",
            param="url",
        )
    if parts.netloc not in ("", "localhost"):
        raise InvalidRequest("'url' must name a local file (file:///path).", param="url")
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        raise InvalidRequest("'url' must hold an absolute path (file:///path).", param="url")
    if not allowed_dirs:
        raise Forbidden(
            "this server reads no files for jobs: set HARKEN_JOBS__ALLOWED_DIRS to allow some.",
            param="url",
        )
    real = path.resolve()
    if not any(real.is_relative_to(d.resolve()) for d in allowed_dirs):
        raise Forbidden(
            f"'{path}' is outside the directories jobs may read (HARKEN_JOBS__ALLOWED_DIRS).",
            param="url",
        )
    if not real.is_file():
        raise InvalidRequest(f"no file at '{path}'.", param="url")
    return real
