"""Run blocking engine work off the event loop, and stop it when the client goes away."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import TypeVar

from starlette.requests import Request

from ..service import CancelToken

T = TypeVar("T")

_END = object()


class Inflight:
    """How many pieces of engine work are running now (reported by ``/health``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.count -= 1
DISCONNECT_POLL_S = 0.25


async def iterate_in_thread(
    make_iter: Callable[[], Iterator[T]],
    token: CancelToken,
    executor: Executor | None = None,
    inflight: Inflight | None = None,
) -> AsyncIterator[T]:
    """Yield what ``make_iter()`` yields, produced in a worker thread.

    The producer never blocks on the consumer (an unbounded hand-off queue), and it checks the
    token between items: when this generator is closed early (the client left, the response was
    cancelled) the token is set and the worker stops at its next step.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue()

    def put(item: object, error: BaseException | None = None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (item, error))

    def produce() -> None:
        with inflight or Inflight():
            try:
                for item in make_iter():
                    token.check()
                    put(item)
                put(_END)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put(_END, exc)

    future = loop.run_in_executor(executor, produce)
    try:
        while True:
            item, error = await queue.get()
            if error is not None:
                raise error
            if item is _END:
                break
            yield item  # type: ignore[misc]
    finally:
        token.cancel()
        if future.done():
            future.result()


async def run_in_thread(
    fn: Callable[[], T],
    request: Request,
    token: CancelToken,
    executor: Executor | None = None,
    inflight: Inflight | None = None,
) -> T:
    """Run ``fn`` in a worker thread; cancel its token if the client disconnects meanwhile."""
    loop = asyncio.get_running_loop()

    def call() -> T:
        with inflight or Inflight():
            return fn()

    future = loop.run_in_executor(executor, call)
    watcher = asyncio.ensure_future(_watch_disconnect(request, token))
    try:
        return await future
    finally:
        watcher.cancel()


async def _watch_disconnect(request: Request, token: CancelToken) -> None:
    while not token.cancelled:
        if await request.is_disconnected():
            token.cancel()
            return
        await asyncio.sleep(DISCONNECT_POLL_S)
