"""Several OpenAI-compatible upstream servers behind one model: spreading, retry, health.

Each request goes to the live upstream with the fewest requests outstanding (ties round-robin).
A request that fails before its first byte reached the caller (connection refused or reset, a
timeout, a 5xx or 429) is retried on another upstream, so a server that dies loses no request.
An upstream that failed at the transport level is marked down; once its cool-down has passed,
the next request probes it (``GET /health``, else ``GET /v1/models``) before trusting it again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ..errors import HarkenError, InvalidRequest, ModelUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Statuses that say "this server, now" rather than "this request": worth another upstream.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
HEALTH_PATHS = ("/health", "/v1/models")
PROBE_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 5.0
MAX_COOLDOWN_S = 60.0  # consecutive failures double the cool-down up to this
RETRY_PAUSE_S = 0.5  # before sending to an upstream that already failed this request


class UpstreamError(HarkenError):
    """An upstream answered with something we cannot pass on as the caller's fault."""

    status_code = 502
    code = "upstream_error"


class _Retryable(Exception):
    """This upstream failed this request in a way another upstream may not."""

    def __init__(self, message: str, *, mark_down: bool) -> None:
        super().__init__(message)
        self.mark_down = mark_down


def normalize_url(url: str) -> str:
    """``http://host:8000/v1/`` -> ``http://host:8000``: paths are added per call."""
    root = url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    if not root.startswith(("http://", "https://")) or "://" == root[-3:]:
        raise ValueError(f"an upstream URL must start with http:// or https://, got {url!r}.")
    return root


@dataclass(eq=False)
class Upstream:
    """One server. Fields are guarded by the pool's lock."""

    root: str
    healthy: bool = True
    outstanding: int = 0
    served: int = 0  # requests answered successfully
    failures: int = 0  # consecutive failures; resets on success
    retry_at: float = 0.0  # monotonic time after which a down upstream may be probed
    probing: bool = False
    picked: int = 0  # order of the last pick: breaks ties round-robin


class UpstreamPool:
    """The upstreams of one model and the HTTP client that talks to them (thread-safe)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        api_key: str | None = None,
        timeout_s: float = 300.0,
        cooldown_s: float = 5.0,
        name: str = "remote",
    ) -> None:
        if not urls:
            raise ValueError(f"model {name!r} needs at least one upstream URL.")
        self.name = name
        self.upstreams = [Upstream(normalize_url(u)) for u in urls]
        self.cooldown_s = cooldown_s
        self.max_attempts = len(self.upstreams) + 1
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        # No pool timeout: the engine bounds concurrency itself, so waiting for a connection is
        # waiting for our own earlier requests, not a sign the upstream is down.
        timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s), pool=None)
        self.client = httpx.Client(headers=headers, timeout=timeout,
                                   limits=httpx.Limits(max_connections=None))  # fmt: skip
        self._lock = threading.Lock()
        self._order = itertools.count(1)

    # --- calls ---------------------------------------------------------------------------------

    def request(self, path: str, parse: Callable[[httpx.Response], T], **kwargs: Any) -> T:
        """POST ``path`` (e.g. ``/v1/audio/transcriptions``) and ``parse`` the response, retrying
        on another upstream when one fails; the body is read inside the attempt, so a server that
        dies mid-answer is retried too."""
        errors: list[str] = []
        tried: set[int] = set()
        for _ in range(self.max_attempts):
            up = self._acquire(tried, errors)
            try:
                response = self.client.post(up.root + path, **kwargs)
                _check_status(response)
                result = parse(response)
                self._succeeded(up)
                return result
            except (httpx.TransportError, _Retryable) as exc:
                errors.append(self._failed(up, exc))
                tried.add(id(up))
            finally:
                self._release(up)
        raise self._exhausted(errors)

    def stream(
        self, path: str, body: dict[str, Any], parse: Callable[[Iterator[bytes]], Iterator[T]]
    ) -> Iterator[T]:
        """POST ``body`` as JSON and yield what ``parse`` makes of the response bytes.

        Retried on another upstream until the first item is yielded; after that a failure is an
        ``UpstreamError`` (the caller already has part of the answer).
        """
        errors: list[str] = []
        tried: set[int] = set()
        for _ in range(self.max_attempts):
            up = self._acquire(tried, errors)
            started = False
            try:
                with self.client.stream("POST", up.root + path, json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                    _check_status(response)
                    for item in parse(response.iter_bytes()):
                        started = True
                        yield item
                self._succeeded(up)
                return
            except (httpx.TransportError, _Retryable) as exc:
                reason = self._failed(up, exc)
                if started:
                    raise UpstreamError(f"upstream failed mid-answer: {reason}") from exc
                errors.append(reason)
                tried.add(id(up))
            finally:
                self._release(up)
        raise self._exhausted(errors)

    def stats(self) -> list[dict[str, Any]]:
        """Per upstream: URL, health, outstanding and served requests (for /health and tests)."""
        with self._lock:
            return [
                {"url": u.root, "healthy": u.healthy, "outstanding": u.outstanding,
                 "served": u.served, "failures": u.failures}
                for u in self.upstreams
            ]  # fmt: skip

    def close(self) -> None:
        self.client.close()

    # --- choosing and health -------------------------------------------------------------------

    def _acquire(self, tried: set[int], errors: list[str]) -> Upstream:
        """The live upstream with the fewest outstanding requests, preferring untried ones."""
        self._probe_due(force=False)
        up = self._pick(tried)
        if up is None:  # all down: their cool-downs may be stale, so ask each of them now
            self._probe_due(force=True)
            up = self._pick(tried)
        if up is None:
            raise self._exhausted(errors or ["every upstream is down"])
        if id(up) in tried:
            time.sleep(RETRY_PAUSE_S)
        return up

    def _pick(self, tried: set[int]) -> Upstream | None:
        with self._lock:
            live = [u for u in self.upstreams if u.healthy]
            fresh = [u for u in live if id(u) not in tried]
            candidates = fresh or live
            if not candidates:
                return None
            up = min(candidates, key=lambda u: (u.outstanding, u.picked))
            up.outstanding += 1
            up.picked = next(self._order)
            return up

    def _probe_due(self, *, force: bool) -> None:
        now = time.monotonic()
        with self._lock:
            due = [u for u in self.upstreams
                   if not u.healthy and not u.probing and (force or u.retry_at <= now)]  # fmt: skip
            for u in due:
                u.probing = True
        for u in due:
            ok = self._probe(u.root)
            with self._lock:
                u.probing = False
                if ok:
                    u.healthy, u.failures = True, 0
                else:
                    u.retry_at = time.monotonic() + self._cooldown(u.failures)
            log.log(logging.WARNING if ok else logging.DEBUG, "%s: upstream %s is %s",
                    self.name, u.root, "back up" if ok else "still down")  # fmt: skip

    def _probe(self, root: str) -> bool:
        for path in HEALTH_PATHS:
            try:
                status = self.client.get(root + path, timeout=PROBE_TIMEOUT_S).status_code
            except httpx.HTTPError:
                return False
            if status == 200:
                return True
            if status != 404:  # 404: no such path here, try the next one
                return False
        return False

    def _cooldown(self, failures: int) -> float:
        return min(self.cooldown_s * 2 ** max(failures - 1, 0), MAX_COOLDOWN_S)

    def _succeeded(self, up: Upstream) -> None:
        with self._lock:
            up.served += 1
            up.failures = 0

    def _failed(self, up: Upstream, exc: Exception) -> str:
        reason = f"{up.root}: {_describe(exc)}"
        mark_down = isinstance(exc, httpx.TransportError) or (
            isinstance(exc, _Retryable) and exc.mark_down
        )
        with self._lock:
            up.failures += 1
            if mark_down and up.healthy:
                up.healthy = False
                up.retry_at = time.monotonic() + self._cooldown(up.failures)
                log.warning("%s: upstream marked down (%s)", self.name, reason)
        return reason

    def _release(self, up: Upstream) -> None:
        with self._lock:
            up.outstanding -= 1

    def _exhausted(self, errors: list[str]) -> ModelUnavailable:
        return ModelUnavailable(
            f"model '{self.name}': no upstream could answer ({'; '.join(errors)})", param="model"
        )


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, _Retryable) else f"{type(exc).__name__}: {exc}"


def _check_status(response: httpx.Response) -> None:
    """Raise for an error status: retryable ones as ``_Retryable``, the caller's as a 4xx."""
    status = response.status_code
    if status < 400:
        return
    message = _error_message(response)
    if status in RETRY_STATUSES:
        raise _Retryable(f"HTTP {status}: {message}", mark_down=False)
    if status in (400, 413, 415, 422):
        # The upstream judged the request itself (e.g. audio too long for the model): the
        # caller's fault, and no other upstream would answer differently.
        raise InvalidRequest(f"the upstream model rejected the request: {message}")
    raise UpstreamError(f"the upstream answered HTTP {status}: {message}")


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(body, dict) and body.get("detail"):  # FastAPI's default envelope
        return str(body["detail"])
    return str(body)[:500]
