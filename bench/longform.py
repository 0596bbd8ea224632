"""Long-form transcription: sequential windows versus faster-whisper's batched pipeline.

Prints real-time factor for the ~5-minute VOA broadcast and for a long file tiled from the
shared clips (default 60 minutes), sequential and batched in the same run, their ratio, and the
peak memory of the process. Run: ``.venv/bin/python bench/longform.py [--minutes 60] [--batch 8]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from harken import Service, Settings, TranscribeOptions
from harken.types import Audio

AUDIO = (Path(__file__).resolve().parents[1] / ".." / "shared" / "audio").resolve()
VOA = AUDIO / "VOA_News_Headlines_(May_5,_2009).ogg"
TILE = ["jfk.wav", "bcn_weather.mp3", "asterisk_en_demo-congrats.wav", "winning_call.mp3"]


def tiled(service: Service, minutes: float) -> Audio:
    """The shared English clips with 2 s of silence between them, repeated to ``minutes``."""
    gap = np.zeros(32_000, dtype=np.float32)
    parts = [p for name in TILE for p in (service.load_audio(AUDIO / name).samples, gap)]
    block = np.concatenate(parts)
    reps = int(np.ceil(minutes * 60 * 16_000 / len(block)))
    return Audio(np.tile(block, reps)[: int(minutes * 60 * 16_000)])


def rtf(service: Service, audio: Audio, batch: int) -> tuple[float, int]:
    started = time.perf_counter()
    t = service.transcribe(audio, TranscribeOptions(word_timestamps=False, batch_size=batch))
    return audio.duration_s / (time.perf_counter() - started), len(t.text.split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    service = Service(Settings())
    voa = service.load_audio(VOA)
    service.transcribe(Audio(voa.samples[:160_000]))  # load the model outside the timings
    for name, audio in (("VOA broadcast", voa), (f"{args.minutes:.0f}-minute tile", None)):
        audio = audio or tiled(service, args.minutes)
        seq, seq_words = rtf(service, audio, 0)
        bat, bat_words = rtf(service, audio, args.batch)
        print(f"{name} ({audio.duration_s:.0f} s): sequential {seq:.2f}x real time "
              f"({seq_words} words), batched({args.batch}) {bat:.2f}x ({bat_words} words), "
              f"ratio {bat / seq:.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
