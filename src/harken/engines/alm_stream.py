"""Token streaming for the audio-language models: ``model.generate`` in a thread handing new
tokens over a queue (cancel is consulted between tokens), and incremental detokenisation that
never releases half a character or the start of a stop string."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from .base import CancelCheck

_POLL_S = 0.05  # how often a waiting stream checks whether its caller went away


class Generation:
    """``model.generate`` in a thread, its new tokens handed over through a queue."""

    def __init__(self, model: Any, inputs: Any, kwargs: dict[str, Any]) -> None:
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        self.stop = threading.Event()
        self.error: BaseException | None = None
        out: queue.Queue[list[int] | None] = queue.Queue()
        self._queue = out
        stop = self.stop

        class Streamer(BaseStreamer):  # type: ignore[misc]
            prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:  # generate() first hands over the prompt itself
                    self.prompt_seen = True
                    return
                out.put([int(t) for t in value.reshape(-1).tolist()])

            def end(self) -> None:
                out.put(None)

        class Stop(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool,
                                  device=input_ids.device)  # fmt: skip

        def run() -> None:
            import torch

            try:
                with torch.inference_mode():
                    model.generate(**inputs, **kwargs, streamer=Streamer(),
                                   stopping_criteria=StoppingCriteriaList([Stop()]))  # fmt: skip
            except BaseException as exc:  # handed to the consumer, which raises it
                self.error = exc
            finally:
                out.put(None)

        self._thread = threading.Thread(target=run, name="harken-alm-generate", daemon=True)
        self._thread.start()

    def tokens(self, cancel: CancelCheck) -> Iterator[list[int]]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                cancel()
                continue
            if item is None:
                break
            cancel()
            yield item
        self._thread.join()
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Stop and wait (a cancelled or abandoned stream must not leave a generation running)."""
        self.stop.set()
        self._thread.join()


class Decoder:
    """Incremental detokenisation: text is released once it can no longer change (no broken
    UTF-8 at the end) and cannot be the start of a stop string."""

    def __init__(self, tokenizer: Any, stop: Sequence[str]) -> None:
        self._tokenizer = tokenizer
        self._stop = tuple(s for s in stop if s)
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self.sent = 0
        self.stopped = False

    def _text(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def feed(self, ids: list[int]) -> tuple[str, bool]:
        text = self._text(ids)
        hits = [text.find(s, max(0, self.sent - len(s))) for s in self._stop]
        hits = [h for h in hits if h >= 0]
        if hits:
            self.stopped = True
            piece, self.sent = text[self.sent : min(hits)], min(hits)
            return piece, True
        stable = len(text.rstrip("\ufffd")) - self._hold
        if stable <= self.sent:
            return "", False
        piece, self.sent = text[self.sent : stable], stable
        return piece, False

    def flush(self, ids: list[int]) -> str:
        text = self._text(ids)
        piece, self.sent = text[self.sent :], len(text)
        return piece
