"""SSE encoding (exact bytes) and the incremental decoder at every chunk boundary."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from openai._streaming import SSEDecoder as OpenAISSEDecoder

from harken.api.sse import SSE_DONE, ServerSentEvent, SSEDecoder, sse_event


def _decode(chunks: Iterable[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.flush())
    return events


def _splits(data: bytes) -> Iterable[list[bytes]]:
    """Whole, byte by byte, every single cut, and (for short streams) every pair of cuts."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
    if len(data) <= 80:
        for i in range(len(data) + 1):
            for j in range(i, len(data) + 1):
                yield [data[:i], data[i:j], data[j:]]


def _assert_every_split(data: bytes, expected: list[ServerSentEvent]) -> None:
    for chunks in _splits(data):
        assert _decode(chunks) == expected, chunks


E = ServerSentEvent

# (stream bytes, the events the spec says it holds)
CASES: list[tuple[bytes, list[ServerSentEvent]]] = [
    # WHATWG spec examples
    (b"data: YHOO\ndata: +2\ndata: 10\n\n", [E("YHOO\n+2\n10")]),
    (
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        [E("first event", id="1"), E("second event", id=""), E(" third event", id="")],
    ),
    (b"data\n\ndata\ndata\n\ndata:", [E(""), E("\n")]),
    (b"data:test\n\ndata: test\n\n", [E("test"), E("test")]),
    # all three line endings, mixed, including \r\n as a blank line
    (b"data: a\r\ndata: b\rdata: c\n\r\n", [E("a\nb\nc")]),
    (b"data: a\r\rdata: b\n\ndata: c\r\n\r\n", [E("a"), E("b"), E("c")]),
    # event names, reset after each dispatch; an empty name is the default
    (
        b"event: delta\ndata: 1\n\ndata: 2\n\nevent\ndata: 3\n\n",
        [E("1", event="delta"), E("2"), E("3")],
    ),
    # an event with no data is not dispatched, and does not leak its name
    (b"event: ping\n\ndata: x\n\n", [E("x")]),
    # comments, unknown fields and a field with no colon
    (b": keep-alive\nfoo: bar\ndata\n\n:\n\n", [E("")]),
    # retry: digits only; id: NUL makes it ignored, and it carries forward
    (
        b"retry: 1000\nid: 7\ndata: a\n\nretry: 10x\nid: b\x00ad\ndata: b\n\n",
        [E("a", id="7", retry=1000), E("b", id="7")],
    ),
    # one leading BOM is dropped; the value keeps everything after one leading space
    ("\ufeffdata:   spaced  \n\n".encode(), [E("  spaced  ")]),
    # multi-byte UTF-8 in names and data (2-, 3- and 4-byte characters)
    ("event: é\ndata: héllo 日本 🎉\n\n".encode(), [E("héllo 日本 🎉", event="é")]),
    # invalid UTF-8 becomes U+FFFD instead of failing the stream
    (b"data: a\xffb\n\n", [E("a\ufffdb")]),
    # an unterminated last event is dropped at the end of the stream
    (b"data: x\n\ndata: y\n", [E("x")]),
    (b"data: x\n\ndata: y", [E("x")]),
    (b"", []),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_decoder_at_every_chunk_boundary(data: bytes, expected: list[ServerSentEvent]) -> None:
    _assert_every_split(data, expected)


def test_second_bom_is_not_stripped() -> None:
    # Only the stream's first character may be a BOM; later, it is part of a field name.
    assert _decode(["\ufeff\ufeffdata: x\n\n".encode()]) == []


def test_bom_split_across_chunks() -> None:
    bom_event = "\ufeffdata: x\n\n".encode()
    assert _decode([bom_event[:1], bom_event[1:2], bom_event[2:]]) == [E("x")]


def test_cr_then_lf_in_a_later_chunk_after_an_empty_chunk() -> None:
    assert _decode([b"data: a\r", b"", b"\n", b"\r", b"", b"\n"]) == [E("a")]


def test_feed_returns_events_as_soon_as_they_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n") == []
    assert decoder.feed(b"\ndata: 2\n\ndata: 3") == [E("1"), E("2")]
    assert decoder.feed(b"\n\n") == [E("3")]
    assert decoder.flush() == []


def test_flush_tolerates_a_truncated_utf8_character() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: \xe6\x97") == []
    assert decoder.flush() == []  # unterminated, so dropped, but no exception either


def test_json_helper() -> None:
    assert E('{"a": [1, 2]}').json() == {"a": [1, 2]}


# --- encoding ----------------------------------------------------------------------------------


def test_sse_event_dict_is_compact_utf8_json() -> None:
    payload = {"type": "transcript.text.delta", "delta": "é\n", "n": [1, 2]}
    assert sse_event(payload) == (
        b'data: {"type":"transcript.text.delta","delta":"\xc3\xa9\\n","n":[1,2]}\n\n'
    )


def test_sse_event_string_with_event_name_and_line_breaks() -> None:
    assert sse_event("one\ntwo\r\nthree\rfour", event="x") == (
        b"event: x\ndata: one\ndata: two\ndata: three\ndata: four\n\n"
    )
    assert sse_event("") == b"data: \n\n"


def test_sse_event_rejects_line_break_in_event_name() -> None:
    with pytest.raises(ValueError, match="line break"):
        sse_event("x", event="a\nb")


def test_done_marker() -> None:
    assert SSE_DONE == b"data: [DONE]\n\n"
    assert _decode([SSE_DONE]) == [E("[DONE]")]


@pytest.mark.parametrize(
    ("data", "event"),
    [
        ({"choices": [{"delta": {"content": "日本 🎉"}}]}, None),
        ("multi\nline\n\nwith blank", "message"),
        ("  leading spaces", None),
        ("", "done"),
    ],
)
def test_encode_decode_round_trip(data: dict[str, object] | str, event: str | None) -> None:
    stream = sse_event(data, event=event) + SSE_DONE
    expected_data = data if isinstance(data, str) else sse_event(data)[6:-2].decode()
    _assert_every_split(stream, [E(expected_data, event=event), E("[DONE]")])


def test_openai_sdk_decodes_our_events() -> None:
    # The openai client reads our streams with its own decoder; it must agree with ours.
    stream = (
        sse_event({"type": "transcript.text.delta", "delta": "Hé"})
        + sse_event("a\nb", event="note")
        + SSE_DONE
    )
    chunks = [stream[i : i + 3] for i in range(0, len(stream), 3)]
    theirs = [(e.event, e.data) for e in OpenAISSEDecoder().iter_bytes(iter(chunks))]
    ours = [(e.event, e.data) for e in _decode(chunks)]
    assert (
        theirs
        == ours
        == [
            (None, '{"type":"transcript.text.delta","delta":"Hé"}'),
            ("note", "a\nb"),
            (None, "[DONE]"),
        ]
    )
