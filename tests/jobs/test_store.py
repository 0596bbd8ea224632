"""The SQLite job store: exact state changes, paging, restart recovery, and the codecs."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from harken.jobs.files import resolve_file_url, save_upload
from harken.errors import Forbidden
from harken.jobs.models import (
    Job,
    JobConflict,
    from_jsonable,
    to_jsonable,
    JobNotFound,
    job_object,
    options_from_dict,
    options_to_dict,
    transcript_from_dict,
    transcript_to_dict,
)
from harken.jobs.store import JobStore, process_owner
from harken.jobs.webhook import check_webhook_url
from harken.errors import InvalidRequest
from harken.types import Segment, TranscribeOptions, Transcript, Word

DEAD_OWNER = "some-other-host:1:1"  # a process that is certainly not running here


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    s = JobStore(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


def _job(n: int, **kw: object) -> Job:
    return Job(id=f"job_{n:03d}", task="transcribe", audio_path=f"/a/{n}.wav",
               created_at=1000.0 + n, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_create_and_get_round_trip(store: JobStore) -> None:
    job = _job(1, options={"transcribe": {"language": "en"}, "words": True},
               webhook_url="http://127.0.0.1:9/hook", filename="a.wav")  # fmt: skip
    store.create(job)
    assert store.get("job_001") == job
    assert store.path.is_file()
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_unknown_id_is_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound) as err:
        store.get("job_nope")
    assert err.value.status_code == 404 and err.value.param == "id"


def test_list_pages_newest_first(store: JobStore) -> None:
    for n in range(1, 6):
        store.create(_job(n))
    page, more = store.list(limit=2)
    assert [j.id for j in page] == ["job_005", "job_004"] and more
    page, more = store.list(limit=2, after="job_004")
    assert [j.id for j in page] == ["job_003", "job_002"] and more
    page, more = store.list(limit=2, after="job_002")
    assert [j.id for j in page] == ["job_001"] and not more
    page, more = store.list(limit=5)
    assert len(page) == 5 and not more
    assert store.list(after="job_001") == ([], False)
    with pytest.raises(JobNotFound):
        store.list(after="job_999")


def test_claim_runs_oldest_first_and_counts_attempts(store: JobStore) -> None:
    store.create(_job(1))
    store.create(_job(2))
    first = store.claim_next()
    assert first is not None and first.id == "job_001"
    assert first.status == "running" and first.attempts == 1 and first.started_at
    assert first.owner == process_owner()
    second = store.claim_next()
    assert second is not None and second.id == "job_002"
    assert store.claim_next() is None


def test_progress_and_success(store: JobStore) -> None:
    store.create(_job(1))
    store.set_progress("job_001", 0.5)
    assert store.get("job_001").progress == 0.0  # only a running job moves
    store.claim_next()
    store.set_progress("job_001", 0.25)
    assert store.get("job_001").progress == 0.25
    store.set_progress("job_001", 7.0)
    assert store.get("job_001").progress == 1.0  # clamped
    done = store.succeed("job_001", {"kind": "transcript", "text": "hi"})
    assert done is not None and done.status == "succeeded" and done.finished_at
    assert done.result == {"kind": "transcript", "text": "hi"} and done.progress == 1.0
    assert store.succeed("job_001", {"text": "again"}) is None  # only a running job ends


def test_failure_keeps_the_reason(store: JobStore) -> None:
    store.create(_job(1))
    store.claim_next()
    failed = store.fail("job_001", "bad audio", "invalid_audio")
    assert failed is not None and failed.status == "failed"
    assert failed.error == {"message": "bad audio", "code": "invalid_audio"}


def test_cancel_queued_running_and_finished(store: JobStore) -> None:
    for n in (1, 2, 3):
        store.create(_job(n))
    store.claim_next()  # job_001 runs
    job, was_running = store.cancel("job_001")
    assert job.status == "cancelled" and was_running
    assert store.succeed("job_001", {"text": "late"}) is None  # the late result is dropped
    assert store.get("job_001").status == "cancelled"
    job, was_running = store.cancel("job_003")
    assert job.status == "cancelled" and not was_running
    assert store.claim_next().id == "job_002"  # cancelled queued jobs are never claimed
    assert store.claim_next() is None
    with pytest.raises(JobConflict):
        store.cancel("job_003")
    with pytest.raises(JobNotFound):
        store.cancel("job_404")


def test_recovery_requeues_then_fails_after_max_attempts(store: JobStore) -> None:
    store.create(_job(1))
    store.create(_job(2))
    store.claim_next(owner=DEAD_OWNER)
    store.set_progress("job_001", 0.4)
    store.claim_next()  # job_002: running in this live process, must be left alone
    recovered = store.recover(max_attempts=2)
    assert [j.id for j in recovered] == ["job_001"]
    job = store.get("job_001")
    assert job.status == "queued" and job.progress == 0.0 and job.started_at is None
    assert job.attempts == 1 and "resumed" in (job.note or "")
    assert store.get("job_002").status == "running"
    # Second run interrupted too: that was its last allowed attempt.
    assert store.claim_next(owner=DEAD_OWNER).attempts == 2
    [job] = store.recover(max_attempts=2)
    assert job.status == "failed" and job.error["code"] == "interrupted"
    assert "2 runs" in job.error["message"]


def test_finished_results_survive_reopening(tmp_path: Path) -> None:
    first = JobStore(tmp_path / "jobs.sqlite3")
    first.create(_job(1))
    first.claim_next()
    first.succeed("job_001", {"kind": "transcript", "text": "kept"})
    first.close()
    again = JobStore(tmp_path / "jobs.sqlite3")
    assert again.recover(max_attempts=3) == []
    assert again.get("job_001").result == {"kind": "transcript", "text": "kept"}
    again.close()


def test_requeue_on_clean_shutdown_does_not_count(store: JobStore) -> None:
    store.create(_job(1))
    store.claim_next()
    store.requeue("job_001", "shutdown")
    job = store.get("job_001")
    assert job.status == "queued" and job.attempts == 0 and job.note == "shutdown"


def test_concurrent_claims_never_hand_out_a_job_twice(store: JobStore) -> None:
    for n in range(40):
        store.create(_job(n))
    claimed: list[str] = []

    def worker() -> None:
        while (job := store.claim_next()) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"job_{n:03d}" for n in range(40)]


def test_job_object_shape() -> None:
    job = _job(1, status="succeeded", result={"kind": "transcript", "text": "hello"})
    body = job_object(job)
    assert body["object"] == "audio.job" and body["created_at"] == 1001
    assert body["result"] == {"text": "hello"}
    assert body["result_url"] == "/v1/audio/jobs/job_001/result"
    assert "result" not in job_object(job, with_result=False)
    json.dumps(body)


def test_transcript_round_trips_through_json() -> None:
    words = (Word(0.0, 0.5, " Hello", 0.9, speaker="A"), Word(0.5, 1.0, " world", 0.8))
    t = Transcript(
        text="Hello world", language="en", language_probability=0.97, duration_s=1.25,
        segments=(Segment(0, 0.0, 1.0, " Hello world", words, tokens=(50364, 2425),
                          avg_logprob=-0.2),), task="transcribe", model="whisper-base",
    )  # fmt: skip
    data = json.loads(json.dumps(transcript_to_dict(t)))
    assert transcript_from_dict(data) == t
    data["segments"][0]["future_field"] = 1  # written by a newer version: ignored
    assert transcript_from_dict(data) == t


def test_nested_results_round_trip_as_dataclasses() -> None:
    # Whatever dataclass a transcript comes to carry (e.g. a segment's sentiment) reads back.
    from harken.audio.sentiment import Sentiment

    mood = Sentiment("positive", 0.6, 0.5, 0.5, 0.0)
    value = (Segment(0, 0.0, 1.0, " hi"), {"mood": mood, "probs": (("en", 0.9), ("de", 0.1))})
    back = from_jsonable(json.loads(json.dumps(to_jsonable(value))))
    assert back == value and isinstance(back[1]["mood"], Sentiment)
    with pytest.raises(ValueError):
        from_jsonable({"__type__": "os:system"})


def test_options_round_trip() -> None:
    opts = TranscribeOptions(task="translate", language="es", temperature=(0.2,), beam_size=5)
    assert options_from_dict(json.loads(json.dumps(options_to_dict(opts)))) == opts


def test_file_urls_only_inside_allowed_dirs(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "a.wav").write_bytes(b"x")
    (tmp_path / "secret.wav").write_bytes(b"x")
    (allowed / "link.wav").symlink_to(tmp_path / "secret.wav")
    assert resolve_file_url(f"file://{allowed}/a.wav", [allowed]) == allowed / "a.wav"
    for url in (f"file://{allowed}/../secret.wav", f"file://{allowed}/link.wav"):
        with pytest.raises(Forbidden):
            resolve_file_url(url, [allowed])
    with pytest.raises(Forbidden):
        resolve_file_url(f"file://{allowed}/a.wav", [])
    for url in ("http://example.com/a.wav", "a.wav", "file://host/x.wav", f"file://{allowed}/b"):
        with pytest.raises(InvalidRequest):
            resolve_file_url(url, [allowed])


def test_save_upload_keeps_only_a_safe_extension(tmp_path: Path) -> None:
    path = save_upload(tmp_path, "job_1", b"abc", "../../evil name.o gg")
    assert path.parent == tmp_path / "job_1" and path.read_bytes() == b"abc"
    assert save_upload(tmp_path, "job_2", b"", "x.ogg").name == "audio.ogg"


def test_webhook_urls_are_http_only() -> None:
    assert check_webhook_url("https://example.com/h") == "https://example.com/h"
    for url in ("file:///etc/passwd", "ftp://x/y", "http://", "hook"):
        with pytest.raises(InvalidRequest):
            check_webhook_url(url)
