"""Reasoning-over-audio latency of the cascade, through ``Service`` calls (the library path).

For a question about jfk.wav (11 s) and one about the first 30 s of the VOA broadcast, with
warm models, prints: time to first streamed token, total time, decode tokens per second, and
the split into ASR + analysis time and LLM time; first with a cold transcript cache, then with
the transcript cached (a follow-up question), for the default LLM and the fast one (whose
first question about the clip is the first it is asked since it was loaded). Then the jfk
figures once more through a live ``harken serve``, streamed with the openai SDK.
Run: ``.venv/bin/python bench/reasoning.py``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIO = (ROOT / ".." / "shared" / "audio").resolve()
sys.path.insert(0, str(ROOT / "src"))

from harken.config import Settings  # noqa: E402
from harken.service import Service  # noqa: E402
from harken.types import (  # noqa: E402
    Audio,
    AudioPart,
    ChatRequest,
    Message,
    TextDelta,
    TextPart,
    Usage,
)

VOA = AUDIO / "VOA_News_Headlines_(May_5,_2009).ogg"
CLIP_S = 30.0
MAX_TOKENS = 64
QUESTIONS = {  # (first question, follow-up with the transcript cached, a second follow-up)
    "jfk.wav": ("What is the main message of this speech?", "Who is the audience?",
                "What does the speaker ask of them?"),
    "VOA 30 s": ("What are the main news items?", "Which places are mentioned?",
                 "Who is mentioned by name?"),
}


@dataclass(frozen=True)
class Timing:
    prep_s: float  # chat_stream() returning: ASR + analysis (0 when cached) + prompt checks
    first_token_s: float
    total_s: float
    prompt_tokens: int
    completion_tokens: int

    @property
    def llm_s(self) -> float:
        return self.total_s - self.prep_s

    @property
    def tokens_per_s(self) -> float:
        decode_s = self.total_s - self.first_token_s  # after the first token: decoding only
        return (self.completion_tokens - 1) / decode_s if decode_s > 0 else float("nan")


def run(service: Service, model: str, audio: Audio, question: str) -> Timing:
    request = ChatRequest(
        model=model,
        messages=(Message("user", (AudioPart(audio), TextPart(question))),),
        max_tokens=MAX_TOKENS,
    )
    started = time.perf_counter()
    stream = service.chat_stream(request)
    prep = time.perf_counter() - started
    first, usage = float("nan"), Usage()
    for event in stream.iter_events():
        if isinstance(event, TextDelta) and first != first:  # NaN: no token yet
            first = time.perf_counter() - started
        elif isinstance(event, Usage):
            usage = event
    total = time.perf_counter() - started
    return Timing(prep, first, total, usage.prompt_tokens, usage.completion_tokens)


def show(label: str, t: Timing) -> None:
    print(
        f"  {label:<34} first token {t.first_token_s:6.2f} s  total {t.total_s:6.2f} s  "
        f"ASR+analysis {t.prep_s:5.2f} s  LLM {t.llm_s:6.2f} s  {t.tokens_per_s:5.1f} tok/s  "
        f"({t.prompt_tokens} prompt, {t.completion_tokens} completion tokens)",
        flush=True,
    )


def main() -> None:
    service = Service(Settings())
    clips = {"jfk.wav": service.load_audio(AUDIO / "jfk.wav")}
    voa = service.load_audio(VOA)
    clips["VOA 30 s"] = Audio(voa.samples[: int(CLIP_S * voa.sample_rate_hz)], voa.sample_rate_hz)

    # Warm models, as ``harken serve`` starts: Whisper and both LLMs loaded, each LLM primed
    # with the system prompt; one transcription pays Whisper's first-call costs.
    for model in ("cascade", "cascade-fast"):
        service.warm_chat(model)
    service.transcribe(AUDIO / "bcn_weather.mp3")
    for name, audio in clips.items():
        first_q, follow_q, again_q = QUESTIONS[name]
        print(f"{name} ({audio.duration_s:.1f} s of audio), max_tokens={MAX_TOKENS}:")
        service.audio_memo.clear()
        show("cascade (1.5B), cold transcript", run(service, "cascade", audio, first_q))
        show("cascade (1.5B), cached transcript", run(service, "cascade", audio, follow_q))
        show("cascade-fast (0.5B), cached", run(service, "cascade-fast", audio, follow_q))
        # llama.cpp keeps the last prompt's KV cache: a follow-up about the same audio to the
        # same LLM re-reads only the new question, the way a conversation proceeds.
        show("cascade-fast (0.5B), next follow-up", run(service, "cascade-fast", audio, again_q))
    service.close()
    over_http()


def over_http() -> None:
    """The jfk figures again through a live ``harken serve``, streamed with the openai SDK."""
    import base64
    import tempfile

    import openai

    sys.path.insert(0, str(ROOT))
    from tests.conftest import start_server, stop_server

    # It loads the default models and primes the LLM before it answers /health.
    server = start_server(Path(tempfile.mkdtemp(prefix="harken-bench-")))
    base = server.base_url
    try:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused")

        def first_token_s(model: str, name: str, question: str) -> float:
            data = base64.b64encode((AUDIO / name).read_bytes()).decode()
            audio = {"type": "input_audio", "input_audio": {"data": data, "format": name[-3:]}}
            started = time.perf_counter()
            stream = client.chat.completions.create(
                model=model, max_tokens=MAX_TOKENS, stream=True,
                messages=[{"role": "user", "content": [audio, {"type": "text", "text": question}]}],
            )  # fmt: skip
            first = float("nan")
            for chunk in stream:
                if first != first and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
            return first

        # The fast LLM is not the default: one question about another clip loads it, as any
        # earlier request would have in a running server.
        first_token_s("cascade-fast", "bcn_weather.mp3", "Which city?")
        first_q, follow_q, _ = QUESTIONS["jfk.wav"]
        print("jfk.wav through harken serve (openai SDK, streaming), first token:")
        cold = first_token_s("cascade", "jfk.wav", first_q)
        print(f"  cascade (1.5B), cold transcript    {cold:6.2f} s")
        cached = first_token_s("cascade-fast", "jfk.wav", follow_q)
        print(f"  cascade-fast (0.5B), cached        {cached:6.2f} s")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
