"""Jobs persisted in SQLite (``$HARKEN_HOME/jobs.sqlite3``), safe to share between threads.

One connection guarded by a lock: the writes are tiny (a status, a progress figure, one result)
and a lock makes every state change a single atomic step (e.g. claiming the next queued job),
which several connections would need ``BEGIN IMMEDIATE`` retries for. WAL mode keeps readers
from other processes (a second server, the sqlite3 shell) from blocking the writer.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .models import Job, JobConflict, JobNotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: the queue and the list cursor
    id TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    audio_path TEXT NOT NULL,
    options TEXT NOT NULL,
    model TEXT,
    response_format TEXT NOT NULL,
    filename TEXT,
    source TEXT NOT NULL,
    webhook_url TEXT,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    progress REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT,
    note TEXT,
    owner TEXT  -- the process running it: host:pid:start, see process_owner()
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""
_JSON_COLUMNS = ("options", "error", "result")
_COLUMNS = tuple(f.name for f in fields(Job))
MAX_LIST_LIMIT = 100


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # isolation_level=None: autocommit; multi-statement changes use ``_transaction``.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process kill
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- reading --------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job with id '{job_id}'.", param="id")
        return _job(row)

    def list(self, *, limit: int = 20, after: str | None = None) -> tuple[list[Job], bool]:
        """Newest first; ``after`` is the last id of the previous page. Returns (jobs, has_more)."""
        limit = max(1, min(limit, MAX_LIST_LIMIT))
        with self._lock:
            if after is None:
                cursor = None
            else:
                found = self._db.execute("SELECT seq FROM jobs WHERE id = ?", (after,)).fetchone()
                if found is None:
                    raise JobNotFound(f"no job with id '{after}' to list after.", param="after")
                cursor = int(found["seq"])
            sql = "SELECT * FROM jobs" + ("" if cursor is None else " WHERE seq < ?")
            sql += " ORDER BY seq DESC LIMIT ?"
            args = (limit + 1,) if cursor is None else (cursor, limit + 1)
            rows = self._db.execute(sql, args).fetchall()
        return [_job(r) for r in rows[:limit]], len(rows) > limit

    def count(self, status: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,))
            return int(row.fetchone()[0])

    # --- changing -------------------------------------------------------------------------------

    def create(self, job: Job) -> Job:
        values = _row(job)
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(values.values()))
        return job

    def claim_next(self, owner: str | None = None) -> Job | None:
        """The oldest queued job, now ``running`` with one more attempt; None when none waits."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, progress = 0, "
                "attempts = attempts + 1, owner = ? WHERE id = ?",
                (time.time(), owner or process_owner(), row["id"]),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())

    def set_progress(self, job_id: str, progress: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'",
                (min(max(progress, 0.0), 1.0), job_id),
            )

    def succeed(self, job_id: str, result: dict[str, Any]) -> Job | None:
        """Store the result of a running job; None if it was cancelled meanwhile (kept so)."""
        return self._end(job_id, "succeeded", result=json.dumps(result), progress=1.0)

    def fail(self, job_id: str, message: str, code: str = "job_failed") -> Job | None:
        error = json.dumps({"message": message, "code": code})
        return self._end(job_id, "failed", error=error)

    def _end(self, job_id: str, status: str, **values: Any) -> Job | None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE jobs SET status = ?, finished_at = ?, {sets} "
                "WHERE id = ? AND status = 'running'",
                (status, time.time(), *values.values(), job_id),
            ).rowcount
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if changed else None

    def cancel(self, job_id: str) -> tuple[Job, bool]:
        """Mark a queued or running job cancelled; returns (job, whether it was running)."""
        with self._transaction() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(f"no job with id '{job_id}'.", param="id")
            was = row["status"]
            if was not in ("queued", "running"):
                raise JobConflict(f"job '{job_id}' has already {was}; it cannot be cancelled.")
            db.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ?",
                (time.time(), job_id),
            )
            job = _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
        return job, was == "running"

    def requeue(self, job_id: str, note: str) -> None:
        """A running job goes back to the queue on a clean shutdown; that run does not count."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, note = ?, "
                "attempts = MAX(attempts - 1, 0) WHERE id = ? AND status = 'running'",
                (note, job_id),
            )

    def recover(self, max_attempts: int) -> list[Job]:
        """At start-up: jobs left ``running`` by a process that died are re-queued, to run again
        from the start, or failed once they have used ``max_attempts`` runs. Returns them.

        Jobs a live process is running (another server on the same home) are left alone.
        """
        with self._transaction() as db:
            running = db.execute("SELECT id, attempts, owner FROM jobs WHERE status = 'running'")
            rows = [r for r in running.fetchall() if not owner_alive(r["owner"])]
            for row in rows:
                if row["attempts"] < max_attempts:
                    db.execute(
                        "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, "
                        "note = ? WHERE id = ?",
                        ("interrupted by a server restart; resumed: it runs again from the start",
                         row["id"]),
                    )  # fmt: skip
                else:
                    error = {
                        "message": f"interrupted by a server restart during each of its "
                        f"{row['attempts']} runs; not retried again",
                        "code": "interrupted",
                    }
                    db.execute(
                        "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? "
                        "WHERE id = ?",
                        (time.time(), json.dumps(error), row["id"]),
                    )
            ids = [r["id"] for r in rows]
            found = [db.execute("SELECT * FROM jobs WHERE id = ?", (i,)).fetchone() for i in ids]
        return [_job(r) for r in found]


def _row(job: Job) -> dict[str, Any]:
    values = asdict(job)
    for name in _JSON_COLUMNS:
        if values[name] is not None:
            values[name] = json.dumps(values[name])
    return values


def _job(row: sqlite3.Row) -> Job:
    values = {name: row[name] for name in _COLUMNS}
    for name in _JSON_COLUMNS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return Job(**values)


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where unknown.

    With the pid it names one process: a pid reused after the owner died will not match.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22; the name in (...) may hold spaces


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that claimed a job still runs (on this host; another host's or a
    previous container's process counts as gone: the database is not shared across hosts)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if ticks:
        return _start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
