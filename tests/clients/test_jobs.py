"""Async jobs against live servers with the real model, driven by ``requests``: a real file to a
correct transcript in srt and json, webhooks, cancel, 404s, and a job that survives a SIGKILL.

Each server gets its own ``HARKEN_HOME`` (its own jobs database) whose ``models`` folder links
to the shared model cache, so nothing is downloaded again.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, harken_home, start_server, stop_server
from tests.jobs.hooks import WebhookReceiver
from tests.wer import normalize, wer

pytestmark = pytest.mark.slow

CONGRATS = "asterisk_en_demo-congrats.wav"
VOA = "VOA_News_Headlines_(May_5,_2009).ogg"


def _home(tmp: Path) -> Path:
    home = tmp / "home"
    home.mkdir()
    (home / "models").symlink_to(harken_home() / "models", target_is_directory=True)
    return home


def _start(home: Path, audio_dir: Path) -> LiveServer:
    env = {"HARKEN_HOME": str(home), "HARKEN_JOBS__ALLOWED_DIRS": str(audio_dir)}
    return start_server(home.parent, env)


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> Iterator[LiveServer]:
    srv = _start(_home(tmp_path_factory.mktemp("jobs")), audio_dir)
    yield srv
    stop_server(srv)


def _submit(server: LiveServer, path: Path | None = None, **data: str) -> dict[str, Any]:
    files = None if path is None else {"file": (path.name, path.read_bytes())}
    r = requests.post(f"{server.v1}/audio/jobs", files=files, data=data, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def _job(server: LiveServer, job_id: str) -> dict[str, Any]:
    r = requests.get(f"{server.v1}/audio/jobs/{job_id}", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _poll(server: LiveServer, job_id: str, until: Any, timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _job(server, job_id)
        if until(job):
            return job
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not get there in {timeout_s} s: {job}")


def _ended(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def _srt_text(srt: str) -> str:
    lines = [ln for ln in srt.splitlines() if ln and not ln.isdigit() and "-->" not in ln]
    return " ".join(lines)


def _srt_starts(srt: str) -> list[str]:
    return re.findall(r"^(\d\d:\d\d:\d\d,\d\d\d) --> ", srt, flags=re.M)


def test_real_file_to_srt_and_json_with_webhook(
    jobs_server: LiveServer, audio_dir: Path, references: dict
) -> None:
    reference = references[CONGRATS]["text"]
    with WebhookReceiver() as hook:
        job = _submit(jobs_server, audio_dir / CONGRATS, model="whisper-1",
                      response_format="srt", webhook_url=hook.url)  # fmt: skip
        assert job["status"] == "queued" and job["object"] == "audio.job"
        done = _poll(jobs_server, job["id"], _ended)
        assert done["status"] == "succeeded", done
        [called] = hook.wait_for(1)
    assert called["id"] == job["id"] and called["status"] == "succeeded"
    assert called["result"]["text"] == done["result"]["text"]
    srt = requests.get(f"{jobs_server.v1}/audio/jobs/{job['id']}/result", timeout=30)
    assert srt.headers["content-type"].startswith("text/plain")
    starts = _srt_starts(srt.text)
    assert len(starts) >= 3 and starts == sorted(starts)
    assert wer(reference, _srt_text(srt.text)) <= 0.05, srt.text
    body = requests.get(f"{jobs_server.v1}/audio/jobs/{job['id']}/result",
                        params={"response_format": "json"}, timeout=30).json()  # fmt: skip
    assert wer(reference, body["text"]) <= 0.05, body["text"]
    assert body["usage"] == {"type": "duration", "seconds": 31}  # 30.3 s, billed up


def test_file_url_job_and_cancel(jobs_server: LiveServer, audio_dir: Path) -> None:
    job = _submit(jobs_server, url=(audio_dir / VOA).as_uri(), response_format="text")
    assert job["source"] == "url"
    _poll(jobs_server, job["id"], lambda j: j["status"] == "running")
    r = requests.delete(f"{jobs_server.v1}/audio/jobs/{job['id']}", timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    time.sleep(2)
    after = _job(jobs_server, job["id"])
    assert after["status"] == "cancelled" and after["progress"] < 0.5
    # The worker is free again: a short job after the cancelled long one finishes promptly.
    short = _submit(jobs_server, audio_dir / "jfk.wav")
    assert _poll(jobs_server, short["id"], _ended, timeout_s=120)["status"] == "succeeded"
    outside = requests.post(f"{jobs_server.v1}/audio/jobs", data={"url": "file:///etc/hostname"},
                            timeout=30)  # fmt: skip
    assert outside.status_code == 403 and outside.json()["error"]["param"] == "url"


def test_unknown_job_is_404(jobs_server: LiveServer) -> None:
    for path in ("/audio/jobs/job_nope", "/audio/jobs/job_nope/result"):
        r = requests.get(jobs_server.v1 + path, timeout=30)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    listing = requests.get(f"{jobs_server.v1}/audio/jobs", params={"limit": 1}, timeout=30).json()
    assert listing["object"] == "list" and len(listing["data"]) == 1 and listing["has_more"]


def test_job_survives_a_server_kill(tmp_path: Path, audio_dir: Path, references: dict) -> None:
    home = _home(tmp_path)
    first = _start(home, audio_dir)
    try:
        short = _submit(first, audio_dir / CONGRATS, response_format="json")
        finished = _poll(first, short["id"], _ended)
        assert finished["status"] == "succeeded"
        long = _submit(first, audio_dir / VOA, response_format="srt")
        _poll(first, long["id"], lambda j: j["status"] == "running" and j["progress"] > 0)
    finally:
        first.process.send_signal(signal.SIGKILL)  # no clean shutdown: the job is mid-run
        first.process.wait(30)
    assert (home / "jobs" / long["id"]).is_dir()  # the upload is kept for the resumed run
    second = _start(home, audio_dir)
    try:
        resumed = _job(second, long["id"])
        assert resumed["status"] in ("queued", "running") and "resumed" in resumed["note"]
        done = _poll(second, long["id"], _ended)
        assert done["status"] == "succeeded" and done["attempts"] == 2, done
        url = f"{second.v1}/audio/jobs/{long['id']}/result"
        result = requests.get(url, params={"response_format": "verbose_json"}, timeout=30).json()
        assert 290 <= result["duration"] <= 300
        assert result["segments"][0]["start"] < 5 and result["segments"][-1]["end"] > 290
        starts = [s["start"] for s in result["segments"]]
        assert starts == sorted(starts)
        assert len(result["text"].split()) > 400  # about 150 words a minute of news
        # The opening ("... from the VOA News Center") is there: it ran again from the start.
        assert "voa" in normalize(result["text"])[:200]
        srt = requests.get(f"{second.v1}/audio/jobs/{long['id']}/result", timeout=30).text
        assert _srt_starts(srt)[0].startswith("00:00:0") and len(_srt_starts(srt)) > 20
        kept = requests.get(f"{second.v1}/audio/jobs/{short['id']}/result", timeout=30).json()
        assert wer(references[CONGRATS]["text"], kept["text"]) <= 0.05
        assert _job(second, short["id"])["attempts"] == 1
        assert not (home / "jobs" / long["id"]).exists()
    finally:
        stop_server(second)
