"""What a job is (one stored row), its errors, and Transcript <-> JSON-ready dict helpers."""

from __future__ import annotations

import dataclasses
import importlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ..errors import Conflict, NotFound
from ..types import TranscribeOptions, Transcript

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobTask = Literal["transcribe", "translate", "reasoning"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class JobNotFound(NotFound):
    """No job with that id."""


class JobConflict(Conflict):
    """The job is not in a state that allows the operation (e.g. cancelling a finished job)."""

    code = "job_conflict"


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class Job:
    """One job as stored. ``options`` and ``result`` are JSON-ready dicts (see below)."""

    id: str
    task: JobTask
    audio_path: str  # the saved upload under $HARKEN_HOME/jobs/<id>/, or the allowed file
    options: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    response_format: str = "json"
    filename: str | None = None
    source: Literal["upload", "url"] = "upload"
    webhook_url: str | None = None
    status: JobStatus = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    progress: float = 0.0
    attempts: int = 0  # times a worker started it; > 1 means it was resumed after a restart
    error: dict[str, Any] | None = None  # {"message", "code"}
    result: dict[str, Any] | None = None
    note: str | None = None  # e.g. why it was re-queued
    owner: str | None = None  # the process that runs it (see store.process_owner)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def job_object(job: Job, *, with_result: bool = True) -> dict[str, Any]:
    """The wire shape (``object: audio.job``), used by the routes and the webhook alike."""
    body: dict[str, Any] = {
        "id": job.id,
        "object": "audio.job",
        "status": job.status,
        "task": job.task,
        "model": job.model,
        "response_format": job.response_format,
        "created_at": int(job.created_at),
        "started_at": None if job.started_at is None else int(job.started_at),
        "finished_at": None if job.finished_at is None else int(job.finished_at),
        "progress": round(job.progress, 4),
        "attempts": job.attempts,
        "filename": job.filename,
        "source": job.source,
        "error": job.error,
        "note": job.note,
    }
    if job.status == "succeeded":
        body["result_url"] = f"/v1/audio/jobs/{job.id}/result"
        if with_result and job.result is not None:
            body["result"] = {"text": job.result.get("text", "")}
    return body


# --- canonical types <-> JSON-ready dicts ------------------------------------------------------
#
# Each dataclass is written with its type ("__type__": "harken.types:Segment"), so whatever a
# transcript carries (segments, words, and the audio-intelligence results other modules attach)
# reads back as the same frozen dataclasses, with no per-field list to keep in step. Tuples are
# written as lists and every list reads back as a tuple: the canonical types hold tuples only.

TYPE_KEY = "__type__"


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {TYPE_KEY: f"{type(value).__module__}:{type(value).__qualname__}"}
        for f in dataclasses.fields(value):
            out[f.name] = to_jsonable(getattr(value, f.name))
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return value.item()
    return value


def from_jsonable(data: Any) -> Any:
    if isinstance(data, list):
        return tuple(from_jsonable(v) for v in data)
    if not isinstance(data, dict):
        return data
    if TYPE_KEY not in data:
        return {k: from_jsonable(v) for k, v in data.items()}
    cls = _dataclass_named(str(data[TYPE_KEY]))
    # A result written by a newer or older version may carry fields this one does not know.
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: from_jsonable(v) for k, v in data.items() if k in names})


def _dataclass_named(name: str) -> type:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("harken."):  # only our own types are ever rebuilt
        raise ValueError(f"refusing to rebuild {name!r}: not a harken type")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise ValueError(f"{name!r} is not a dataclass")
    return obj


def transcript_to_dict(t: Transcript) -> dict[str, Any]:
    """Every field, nested results included, as a ``json.dumps``-ready dict."""
    return cast(dict[str, Any], to_jsonable(t))


def transcript_from_dict(data: dict[str, Any]) -> Transcript:
    t = from_jsonable(data)
    if not isinstance(t, Transcript):
        raise ValueError(f"not a stored Transcript: {type(t).__name__}")
    return t


def options_to_dict(opts: TranscribeOptions) -> dict[str, Any]:
    return dataclasses.asdict(opts)


def options_from_dict(data: dict[str, Any]) -> TranscribeOptions:
    names = {f.name for f in dataclasses.fields(TranscribeOptions)}
    fields = {k: v for k, v in data.items() if k in names}
    if "temperature" in fields:
        fields["temperature"] = tuple(fields["temperature"])
    return TranscribeOptions(**fields)
