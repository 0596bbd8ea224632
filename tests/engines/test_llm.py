"""The llama.cpp engine: stop strings at every chunk boundary (pure), and the real 0.5B GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

from harken.engines.llm import LlamaEngine, Sampling, StopScanner
from harken.errors import Cancelled, PayloadTooLarge
from harken.service import Service
from harken.types import Event, Finished, TextDelta, Usage

FAST_LLM = "qwen2.5-coder-0.5b-instruct"


def scan(chunks: list[str], stops: list[str]) -> tuple[str, bool]:
    scanner = StopScanner(stops)
    out = "".join(scanner.feed(c) for c in chunks) + scanner.flush()
    return out, scanner.stopped


@pytest.mark.parametrize("cut", range(1, 19))
def test_stop_string_found_at_every_chunk_boundary(cut: int) -> None:
    text = "Hello world<|im_end|> more"
    assert scan([text[:cut], text[cut:]], ["<|im_end|>"]) == ("Hello world", True)


def test_stop_scanner_holds_back_only_possible_starts() -> None:
    scanner = StopScanner(["STOP"])
    assert scanner.feed("abc S") == "abc "  # "S" may start "STOP"
    assert scanner.feed("T") == ""
    assert scanner.feed("x") == "STx"  # it did not
    assert scanner.flush() == ""
    assert scan(["a", "b"], []) == ("ab", False)
    assert scan(["one ST", "OP two"], ["STOP", "two"]) == ("one ", True)  # earliest wins


def test_sampling_is_validated() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        Sampling(max_tokens=0)


@pytest.fixture(scope="module")
def llm(service: Service) -> LlamaEngine:
    with service.manager.lease(FAST_LLM) as (_, engine):
        return engine  # the service keeps it loaded for the session


def run(events: object) -> tuple[str, list[Event]]:
    collected = list(events)  # type: ignore[call-overload]
    return "".join(e.text for e in collected if isinstance(e, TextDelta)), collected


MESSAGES = [{"role": "user", "content": "Count from 1 to 20, separated by spaces."}]


@pytest.mark.slow
def test_streams_tokens_then_real_usage(llm: LlamaEngine) -> None:
    text, events = run(llm.chat(MESSAGES, Sampling(max_tokens=12)))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    usage = next(e for e in events if isinstance(e, Usage))
    assert len(deltas) >= 5 and "1" in text
    prompt, _ = llm.format(MESSAGES)
    assert usage.prompt_tokens == len(llm.tokenize(prompt))
    assert usage.completion_tokens == 12
    assert events[-1] == Finished("length", model=FAST_LLM)


@pytest.mark.slow
def test_stop_strings_end_the_answer(llm: LlamaEngine) -> None:
    text, events = run(llm.chat(MESSAGES, Sampling(max_tokens=30, stop=(" 4",))))
    assert "4" not in text and "3" in text
    assert events[-1] == Finished("stop", model=FAST_LLM)


@pytest.mark.slow
def test_cancel_stops_generation(llm: LlamaEngine) -> None:
    seen: list[Event] = []
    calls = 0

    def cancel() -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise Cancelled("the client left")

    with pytest.raises(Cancelled):
        for event in llm.chat(MESSAGES, Sampling(max_tokens=40), cancel):
            seen.append(event)
    assert 1 <= len(seen) <= 4
    # The context is free again: a new generation runs at once.
    assert run(llm.chat(MESSAGES, Sampling(max_tokens=2)))[0]


@pytest.mark.slow
def test_primed_system_prompt_is_not_read_again(llm: LlamaEngine) -> None:
    system = {"role": "system", "content": "You count. Answer with numbers only, no words."}
    messages = [system, *MESSAGES]
    llm.llama.reset()  # nothing cached: the whole prompt is read
    cold, _ = run(llm.chat(messages, Sampling(max_tokens=8)))
    primed = llm.prime([system])
    read: list[int] = []
    evaluate = llm.llama.eval
    llm.llama.eval = lambda tokens: (read.append(len(tokens)), evaluate(tokens))[1]
    try:
        warm, events = run(llm.chat(messages, Sampling(max_tokens=8)))
    finally:
        del llm.llama.eval  # the instance attribute; the class's method again
    total = next(e for e in events if isinstance(e, Usage)).prompt_tokens
    assert warm == cold  # the same greedy answer either way
    # The prompt's first read skips what priming put in the cache (all but the template's
    # "<|im_start|>assistant" that priming added and the real prompt replaces with the user's).
    assert primed >= 10 and read[0] <= total - primed + 3, (read[:2], total, primed)


@pytest.mark.slow
def test_prompt_over_the_context_is_413(service: Service) -> None:
    entry = service.catalog.resolve(FAST_LLM)
    path = service.manager.store.pull(entry) / entry.files[0].name
    small = LlamaEngine(Path(path), name=FAST_LLM, n_ctx=256, chat_format="chatml")
    try:
        long = [{"role": "user", "content": "word " * 400}]
        with pytest.raises(PayloadTooLarge, match="n_ctx=256") as info:
            small.chat(long)
        assert info.value.status_code == 413
    finally:
        small.close()
