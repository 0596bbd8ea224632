"""Smoke run of the audio-language model engine: the tiny Voxtral and Qwen2-Audio checkpoints
(tests/engines/tiny_alm.py) on CUDA (bfloat16) when a GPU is present, else on CPU (float32),
reporting throughput. The weights are random: this measures the plumbing, not answers.

    .venv/bin/python bench/gpu_smoke.py [--tokens 64] [--audio-s 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harken.config import Settings  # noqa: E402
from harken.service import Service  # noqa: E402
from harken.types import (Audio, AudioPart, ChatRequest, Message, TextDelta, TextPart,  # noqa: E402
                          TranscribeOptions, Usage)  # fmt: skip
from tests.engines.tiny_alm import QWEN_ID, VOXTRAL_ID, build_all  # noqa: E402

RATE = 16_000


def speechlike(seconds: float) -> Audio:
    """Noise bursts with pauses: something for the VAD to cut at, without files."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = (np.sin(2 * np.pi * 0.4 * t) > -0.3).astype(np.float32)
    return Audio((rng.standard_normal(len(t)) * 0.1 * envelope).astype(np.float32), RATE)


def run(service: Service, model: str, audio: Audio, tokens: int) -> None:
    request = ChatRequest(model=model, max_tokens=tokens, messages=(
        Message("user", (AudioPart(audio), TextPart("Describe this audio."))),))  # fmt: skip
    started = time.perf_counter()
    first = None
    usage = Usage()
    for event in service.chat_stream(request).iter_events():
        if isinstance(event, TextDelta) and first is None:
            first = time.perf_counter() - started
        elif isinstance(event, Usage):
            usage = event
    chat_s = time.perf_counter() - started
    started = time.perf_counter()
    transcript = service.transcribe(audio, TranscribeOptions(language="en"), model=model)
    asr_s = time.perf_counter() - started
    print(f"{model:26s} chat: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion"
          f" tokens in {chat_s:.2f} s ({usage.completion_tokens / chat_s:.1f} tokens/s, first "
          f"token {first or 0:.2f} s, {audio.duration_s / chat_s:.1f} audio s/s); transcript: "
          f"{len(transcript.segments)} segments in {asr_s:.2f} s ({audio.duration_s / asr_s:.1f} "
          "audio s/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--audio-s", type=float, default=60.0)
    args = parser.parse_args()
    import torch

    if torch.cuda.is_available():
        print(f"device: CUDA ({torch.cuda.get_device_name(0)}), bfloat16")
    else:
        print("device: no GPU present - running on CPU (float32); these are not GPU figures")
    root = build_all(Path(tempfile.mkdtemp(prefix="harken-alm-")))
    home = Path(tempfile.mkdtemp(prefix="harken-home-"))
    service = Service(Settings(home=home, model_dirs=[root], serve_with={}))
    audio = speechlike(args.audio_s)
    for model in (QWEN_ID, VOXTRAL_ID):
        started = time.perf_counter()
        with service.manager.lease(model) as (_, engine):
            print(f"{model:26s} loaded on {engine.device} in {time.perf_counter() - started:.2f} s")
        run(service, model, audio, args.tokens)
    service.close()


if __name__ == "__main__":
    main()
