"""Server-Sent Events: encode events for our streams, and decode them incrementally.

The encoder writes what OpenAI's and SambaNova's servers write (``data: <compact json>``, a blank
line, ``data: [DONE]`` at the end). The decoder follows the WHATWG "event stream interpretation"
rules and accepts bytes cut at any position; our tests and the Python client read streams with it.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

SSE_DONE = b"data: [DONE]\n\n"

# The three line terminators the spec allows; \r\n first so it is not read as two lines.
_LINE_END = re.compile(r"\r\n|\r|\n")


def sse_event(data: dict[str, Any] | str, *, event: str | None = None) -> bytes:
    """One event: ``event: <name>`` (optional), one ``data:`` line per line of data, blank line.

    A dict is sent as compact JSON, which never contains a newline. A string with newlines
    becomes several ``data:`` lines, which a decoder joins back with ``\\n``.
    """
    if event is not None and _LINE_END.search(event):
        raise ValueError(f"An SSE event name cannot contain a line break: {event!r}.")
    if isinstance(data, dict):
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    else:
        text = data
    lines = [f"event: {event}"] if event is not None else []
    lines.extend(f"data: {line}" for line in _LINE_END.split(text))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event. ``event`` is None when the stream named none (spec: "message")."""

    data: str
    event: str | None = None
    id: str | None = None  # the last event ID seen so far, as the spec carries it forward
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SSEDecoder:
    """Incremental SSE parser: ``feed()`` bytes as they arrive, ``flush()`` at the end.

    Chunks may split a line, a ``\\r\\n`` pair, or a multi-byte UTF-8 character anywhere.
    """

    def __init__(self) -> None:
        # errors="replace" as the spec says: bad UTF-8 becomes U+FFFD rather than an exception.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = True  # a leading BOM is still possible
        self._pending = ""  # text of a line not yet terminated
        self._after_cr = False  # last text ended in \r: a \n that comes next belongs to it
        self._data: list[str] = []
        self._event: str | None = None
        self._retry: int | None = None
        self._last_id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Take the next bytes; return the events they completed."""
        return self._feed_text(self._utf8.decode(chunk))

    def flush(self) -> list[ServerSentEvent]:
        """End of stream. Per the spec an event without its closing blank line is dropped."""
        events = self._feed_text(self._utf8.decode(b"", final=True))
        self._pending, self._after_cr = "", False
        self._data, self._event, self._retry = [], None, None
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            # A chunk that ended inside a UTF-8 character decodes to nothing yet; keep the
            # \r state for the text that follows.
            return []
        if self._at_start:
            self._at_start = False
            text = text.removeprefix("\ufeff")
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = text.endswith("\r")
        *lines, self._pending = _LINE_END.split(self._pending + text)
        events = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, e.g. a keep-alive
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:  # the spec ignores ids with NUL
            self._last_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Any other field is ignored, as the spec says.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        # An event with no data field is not dispatched (spec), though its event name resets.
        if not self._data:
            self._event, self._retry = None, None
            return None
        event = ServerSentEvent(
            data="\n".join(self._data),
            event=self._event or None,  # an empty name means the default, as none does
            id=self._last_id,
            retry=self._retry,
        )
        self._data, self._event, self._retry = [], None, None
        return event
