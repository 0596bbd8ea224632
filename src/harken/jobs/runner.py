"""The job workers: a small pool of threads, apart from the request pool, that take queued jobs
from the store one at a time and run them through ``Service``.

A job's ``options`` (written by the route that accepted it) hold canonical values only:
``{"transcribe": TranscribeOptions as a dict, "words", "segments", "target_language",
"intelligence" (IntelligenceOptions, tagged, when asked)}`` for transcribe/translate, ``{"messages": [{"role", "text"}], "max_tokens", "temperature"}`` for
reasoning (the job's audio goes first in the first user message).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ..config import JobSettings
from ..errors import Cancelled, HarkenError
from ..service import CancelToken, Service
from ..types import AudioPart, ChatRequest, Message, Progress, TextPart
from .files import remove_upload
from .models import Job, from_jsonable, job_object, options_from_dict, transcript_to_dict
from .store import JobStore
from .webhook import deliver_in_background

log = logging.getLogger(__name__)
IDLE_POLL_S = 1.0  # a worker re-checks the queue this often even if no one wakes it
SHUTDOWN_NOTE = "the server shut down while it ran; it runs again from the start"


class JobRunner:
    def __init__(
        self, service: Service, store: JobStore, settings: JobSettings, jobs_dir: Path
    ) -> None:
        self.service = service
        self.store = store
        self.settings = settings
        self.jobs_dir = jobs_dir
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._tokens: dict[str, CancelToken] = {}
        self._tokens_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> list[Job]:
        """Recover jobs a dead process left running, then start the workers."""
        recovered = self.store.recover(self.settings.max_attempts)
        for job in recovered:
            log.warning("job %s was interrupted by a restart: now %s", job.id, job.status)
            if job.finished:
                self.ended(job)
        for i in range(max(1, self.settings.workers)):
            thread = threading.Thread(target=self._loop, name=f"job-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return recovered

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the running jobs at their next segment (they go back to the queue) and join."""
        self._stopping.set()
        with self._tokens_lock:
            for token in self._tokens.values():
                token.cancel()
        self.wake()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def cancel(self, job_id: str) -> None:
        """Stop a running job at its next segment (the store already says ``cancelled``)."""
        with self._tokens_lock:
            token = self._tokens.get(job_id)
        if token is not None:
            token.cancel()

    # --- the worker -----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.claim_next()
            except Exception:  # a locked or closed database must not kill the worker silently
                log.exception("could not take the next job")
                job = None
            if job is None:
                with self._wake:
                    self._wake.wait(IDLE_POLL_S)
                continue
            self._execute(job)

    def _execute(self, job: Job) -> None:
        token = CancelToken()
        with self._tokens_lock:
            self._tokens[job.id] = token
        if self.store.get(job.id).status == "cancelled":  # cancelled before the token existed
            token.cancel()
        ended: Job | None = None
        try:
            result = self._run(job, token)
        except Cancelled:
            if self._stopping.is_set():
                self.store.requeue(job.id, SHUTDOWN_NOTE)
                return
            # Cancelled through the API: the store already says so.
        except HarkenError as exc:
            ended = self.store.fail(job.id, exc.message, exc.code)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            ended = self.store.fail(job.id, f"internal error: {type(exc).__name__}: {exc}",
                                    "internal_error")  # fmt: skip
        else:
            ended = self.store.succeed(job.id, result)
        finally:
            with self._tokens_lock:
                self._tokens.pop(job.id, None)
        self.ended(ended or self.store.get(job.id))

    def ended(self, job: Job) -> None:
        """A job reached its end: drop its upload and call its webhook."""
        if not job.finished:
            return
        if job.source == "upload":
            remove_upload(self.jobs_dir, job.id)
        if job.webhook_url:
            deliver_in_background(
                job.webhook_url,
                job_object(job),
                timeout_s=self.settings.webhook_timeout_s,
                retries=self.settings.webhook_retries,
            )

    def _run(self, job: Job, token: CancelToken) -> dict[str, Any]:
        audio_path = Path(job.audio_path)
        if not audio_path.is_file():
            raise HarkenError(f"the job's audio is gone from {audio_path}.")
        if job.task == "reasoning":
            return self._reason(job, audio_path, token)
        opts = options_from_dict(job.options.get("transcribe", {}))
        target = job.options.get("target_language")
        if target not in (None, "en"):
            # Into a language other than English: transcript + text LLM, no segment progress.
            t = self.service.translate(
                audio_path, target, model=job.model, options=opts, cancel=token.check
            )
        else:
            extra: dict[str, Any] = {}
            if "intelligence" in job.options:  # only passed when asked, as a keyword
                extra["intelligence"] = from_jsonable(job.options["intelligence"])
            run = self.service.transcribe_stream(
                audio_path, opts, model=job.model, cancel=token.check, **extra
            )

            def progress(p: Progress) -> None:
                token.check()  # stop at the next segment even if the engine does not look
                self.store.set_progress(job.id, p.done_s / p.total_s if p.total_s else 0.0)

            t = run.collect(on_progress=progress)
        return {"kind": "transcript", "text": t.text, "transcript": transcript_to_dict(t)}

    def _reason(self, job: Job, audio_path: Path, token: CancelToken) -> dict[str, Any]:
        audio = self.service.load_audio(audio_path)
        opts = job.options
        messages: list[Message] = []
        attached = False
        for m in opts.get("messages", []):
            parts: tuple[Any, ...] = (TextPart(m["text"]),)
            if m["role"] == "user" and not attached:
                parts = (AudioPart(audio), *parts)
                attached = True
            messages.append(Message(m["role"], parts))
        extra = {k: opts[k] for k in ("max_tokens", "temperature") if opts.get(k) is not None}
        request = ChatRequest(model=job.model or "", messages=tuple(messages), **extra)
        result = self.service.chat(request, cancel=token.check)
        usage = result.usage
        return {
            "kind": "chat",
            "text": result.text,
            "model": result.model,
            "finish_reason": result.finish_reason,
            "usage": {"prompt_tokens": usage.prompt_tokens,
                      "completion_tokens": usage.completion_tokens, "audio_s": usage.audio_s},
        }  # fmt: skip
