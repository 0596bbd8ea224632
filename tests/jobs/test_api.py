"""The jobs routes with fake engines (timing under control): submit, poll, formats, cancel,
listing, file references, reasoning, webhooks and 4xx envelopes. Real models: tests/clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harken.api.app import create_app
from harken.config import Settings
from harken.models.catalog import default_catalog
from harken.models.manager import ModelManager
from harken.service import Service
from tests.api.chat_fakes import FakeChatEngine
from tests.api.test_app import FakeTranscriber, FixedStore, _wav
from tests.jobs.hooks import WebhookReceiver


def _client(home: Path, asr: FakeTranscriber, chat: FakeChatEngine | None = None,
            **settings: Any) -> TestClient:  # fmt: skip
    s = Settings(home=home, **settings)
    catalog = default_catalog()
    loaders = {"whisper": lambda e, p: asr, "cascade": lambda e, p: chat or FakeChatEngine()}
    manager = ModelManager(catalog, FixedStore(), loaders)  # type: ignore[arg-type]
    return TestClient(create_app(s, service=Service(s, catalog=catalog, manager=manager)))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path, FakeTranscriber()) as c:
        yield c


def _wait(client: TestClient, job_id: str, status: str, timeout_s: float = 20) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/audio/jobs/{job_id}").json()
        if job["status"] == status:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never became {status}: {job}")


def test_submit_poll_and_every_format(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(3))},
                    data={"response_format": "srt", "timestamp_granularities[]": "segment"})
    assert r.status_code == 201
    job = r.json()
    assert job["object"] == "audio.job" and job["status"] == "queued"
    assert job["id"].startswith("job_")
    assert job["task"] == "transcribe" and job["response_format"] == "srt"
    assert isinstance(job["created_at"], int)
    done = _wait(client, job["id"], "succeeded")
    assert done["progress"] == 1.0 and done["result"] == {"text": "word0. word1. word2."}
    assert done["attempts"] == 1 and done["result_url"] == f"/v1/audio/jobs/{job['id']}/result"
    url = done["result_url"]
    srt = client.get(url)  # the format asked for at submission
    assert srt.text.startswith("1\n00:00:00,000 --> 00:00:01,000\nword0.\n\n2\n")
    assert client.get(url, params={"response_format": "json"}).json() == {
        "text": "word0. word1. word2.", "usage": {"type": "duration", "seconds": 3}}
    assert client.get(url, params={"response_format": "text"}).text == "word0. word1. word2.\n"
    assert client.get(url, params={"response_format": "vtt"}).text.startswith("WEBVTT\n\n00:00")
    verbose = client.get(url, params={"response_format": "verbose_json"}).json()
    assert [s["text"] for s in verbose["segments"]] == [" word0.", " word1.", " word2."]
    bad = client.get(url, params={"response_format": "docx"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "response_format"
    assert not (tmp_path / "jobs" / job["id"]).exists()  # the upload goes once the job ends


def test_unknown_job_is_404_in_openai_envelope(client: TestClient) -> None:
    for method, path in (("GET", "/v1/audio/jobs/job_x"), ("DELETE", "/v1/audio/jobs/job_x"),
                         ("GET", "/v1/audio/jobs/job_x/result")):  # fmt: skip
        r = client.request(method, path)
        assert r.status_code == 404
        error = r.json()["error"]
        assert error["code"] == "not_found" and "job_x" in error["message"]
        assert error["type"] == "invalid_request_error"


def test_cancel_a_running_job_stops_its_work(tmp_path: Path) -> None:
    engine = FakeTranscriber(delay_s=0.1)
    with _client(tmp_path, engine) as client:
        job = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(60))}).json()
        _wait(client, job["id"], "running")
        r = client.delete(f"/v1/audio/jobs/{job['id']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        time.sleep(0.5)
        produced = engine.produced
        time.sleep(0.5)
        assert engine.produced == produced < 60  # stopped at its next segment
        assert client.delete(f"/v1/audio/jobs/{job['id']}").status_code == 409
        result = client.get(f"/v1/audio/jobs/{job['id']}/result")
        assert result.status_code == 409 and "cancelled" in result.json()["error"]["message"]


def test_cancel_a_queued_job(tmp_path: Path) -> None:
    with _client(tmp_path, FakeTranscriber(delay_s=0.2)) as client:
        first = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(30))}).json()
        queued = client.post("/v1/audio/jobs", files={"file": ("b.wav", _wav(2))}).json()
        assert client.delete(f"/v1/audio/jobs/{queued['id']}").json()["status"] == "cancelled"
        client.delete(f"/v1/audio/jobs/{first['id']}")
        assert client.get(f"/v1/audio/jobs/{queued['id']}").json()["attempts"] == 0


def test_listing_pages(client: TestClient) -> None:
    ids = [client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(1))}).json()["id"]
           for _ in range(3)]  # fmt: skip
    page = client.get("/v1/audio/jobs", params={"limit": 2}).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [j["id"] for j in page["data"]] == ids[::-1][:2]
    assert page["first_id"] == ids[2] and page["last_id"] == ids[1]
    rest = client.get("/v1/audio/jobs", params={"limit": 2, "after": page["last_id"]}).json()
    assert [j["id"] for j in rest["data"]] == [ids[0]] and rest["has_more"] is False
    assert client.get("/v1/audio/jobs", params={"limit": 0}).status_code == 400
    assert client.get("/v1/audio/jobs", params={"after": "job_nope"}).status_code == 404


def test_file_urls(tmp_path: Path) -> None:
    audio = tmp_path / "allowed"
    audio.mkdir()
    (audio / "two.wav").write_bytes(_wav(2))
    with _client(tmp_path / "home", FakeTranscriber()) as closed:
        r = closed.post("/v1/audio/jobs", data={"url": f"file://{audio}/two.wav"})
        assert r.status_code == 403 and "HARKEN_JOBS__ALLOWED_DIRS" in r.json()["error"]["message"]
    with _client(tmp_path / "home", FakeTranscriber(), jobs={"allowed_dirs": [audio]}) as client:
        job = client.post("/v1/audio/jobs", data={"url": f"file://{audio}/two.wav",
                                                  "response_format": "text"}).json()
        assert job["source"] == "url" and job["filename"] == "two.wav"
        _wait(client, job["id"], "succeeded")
        assert client.get(f"/v1/audio/jobs/{job['id']}/result").text == "word0. word1.\n"
        assert (audio / "two.wav").is_file()  # the caller's file is never removed
        for url, status in ((f"file://{tmp_path}/x.wav", 403), ("https://x.org/a.wav", 400),
                            (f"file://{audio}/missing.wav", 400)):  # fmt: skip
            r = client.post("/v1/audio/jobs", data={"url": url})
            assert r.status_code == status and r.json()["error"]["param"] == "url"


def test_bad_submissions_are_4xx(client: TestClient) -> None:
    wav = {"file": ("a.wav", _wav(1))}
    cases = [
        ({}, {}, "file"),
        (wav, {"task": "dance"}, "task"),
        (wav, {"webhook_url": "file:///tmp/x"}, "webhook_url"),
        (wav, {"stream": "true"}, "stream"),
        (wav, {"response_format": "docx"}, "response_format"),
        (wav, {"task": "reasoning"}, "question"),
        (wav, {"task": "reasoning", "question": "q", "messages": "[]"}, "question"),
        (wav, {"task": "reasoning", "messages": "not json"}, "messages"),
        (wav, {"task": "reasoning", "question": "q", "max_tokens": "lots"}, "max_tokens"),
    ]
    for files, data, param in cases:
        r = client.post("/v1/audio/jobs", files=files or {"x": ("x", b"")}, data=data)
        assert r.status_code == 400, (data, r.text)
        assert r.json()["error"]["param"] == param, (data, r.text)
    r = client.post("/v1/audio/jobs", files=wav, data={"model": "no-such-model"})
    assert r.status_code == 404
    r = client.post("/v1/audio/jobs", json={"file": "x"})
    assert r.status_code == 415


def test_reasoning_job(tmp_path: Path) -> None:
    chat = FakeChatEngine()
    with _client(tmp_path, FakeTranscriber(), chat) as client:
        messages = [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "What is said?"}]  # fmt: skip
        job = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(2))},
                          data={"task": "reasoning", "messages": json.dumps(messages)}).json()
        assert job["task"] == "reasoning" and job["model"] == "cascade"
        done = _wait(client, job["id"], "succeeded")
        expected = "system:Be_brief. user:audio(2.0s) user:What_is_said?"
        assert done["result"] == {"text": expected}
        body = client.get(done["result_url"]).json()
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == expected
        text = client.get(done["result_url"], params={"response_format": "text"})
        assert text.text == expected
        q = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(1))},
                        data={"task": "reasoning", "question": "Who?", "max_tokens": "5"}).json()
        _wait(client, q["id"], "succeeded")
        assert chat.requests[-1].max_tokens == 5


def test_webhook_is_called_when_a_job_ends(tmp_path: Path) -> None:
    with WebhookReceiver() as hook, _client(tmp_path, FakeTranscriber()) as client:
        job = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(2))},
                          data={"webhook_url": hook.url}).json()
        [body] = hook.wait_for(1)
        assert body["id"] == job["id"] and body["status"] == "succeeded"
        assert body["result"] == {"text": "word0. word1."}


def test_unreachable_webhook_does_not_hold_the_worker(tmp_path: Path) -> None:
    with _client(tmp_path, FakeTranscriber(), jobs={"webhook_timeout_s": 0.2}) as client:
        dead = "http://127.0.0.1:9/never"  # the discard port: nothing listens
        first = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(1))},
                            data={"webhook_url": dead}).json()
        second = client.post("/v1/audio/jobs", files={"file": ("b.wav", _wav(1))}).json()
        _wait(client, first["id"], "succeeded")
        _wait(client, second["id"], "succeeded", timeout_s=5)


def test_intelligence_options_reach_the_job(client: TestClient) -> None:
    job = client.post("/v1/audio/jobs", files={"file": ("a.wav", _wav(2))},
                      data={"sentiment": "true", "response_format": "verbose_json"}).json()
    done = _wait(client, job["id"], "succeeded")
    body = client.get(done["result_url"]).json()  # read back from the stored transcript
    assert body["sentiment"]["label"] == "neutral"
