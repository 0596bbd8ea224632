"""POST the job object to the caller's ``webhook_url`` when a job ends: short timeouts, a couple
of retries, on a thread of its own so a slow receiver never holds a job worker."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import InvalidRequest

log = logging.getLogger(__name__)
RETRY_BACKOFF_S = 0.5  # doubled after each failed try


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            f"'webhook_url' must be an http:// or https:// URL, got '{url}'.", param="webhook_url"
        )
    return url


def deliver(url: str, body: dict[str, Any], *, timeout_s: float, retries: int) -> bool:
    """Try ``1 + retries`` times; a 2xx answer is delivered. Returns whether it was."""
    delay_s = RETRY_BACKOFF_S
    for attempt in range(1 + max(retries, 0)):
        try:
            response = httpx.post(
                url, json=body, timeout=timeout_s, headers={"user-agent": "harken-jobs"}
            )
            if response.is_success:
                return True
            reason = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        log.warning("webhook %s for job %s, try %d: %s", url, body.get("id"), attempt + 1, reason)
        if attempt < retries:
            time.sleep(delay_s)
            delay_s *= 2
    return False


def deliver_in_background(
    url: str, body: dict[str, Any], *, timeout_s: float, retries: int
) -> threading.Thread:
    thread = threading.Thread(
        target=deliver,
        args=(url, body),
        kwargs={"timeout_s": timeout_s, "retries": retries},
        name=f"webhook-{body.get('id')}",
        daemon=True,  # a receiver that never answers must not keep the process alive
    )
    thread.start()
    return thread
