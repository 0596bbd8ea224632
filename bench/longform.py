"""Long-form transcription: sequential chunks versus batched chunks, through the long path.

Prints, sequential and batched in the same run: real-time factor for the ~5-minute VOA
broadcast, word error rate and real-time factor for a ~4.5-minute recording stitched from the
shared clips that have references (silences between them), and real-time factor for a long
file tiled from the clips (default 60 minutes), with the ratios and the process's peak memory.
Run: ``.venv/bin/python bench/longform.py [--minutes 60] [--batch 8]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from harken import Service, Settings, TranscribeOptions
from harken.types import Audio

ROOT = Path(__file__).resolve().parents[1]
AUDIO = (ROOT / ".." / "shared" / "audio").resolve()
VOA = AUDIO / "VOA_News_Headlines_(May_5,_2009).ogg"
sys.path.insert(0, str(ROOT))
from tests.wer import wer  # noqa: E402 - the tests' normalisation, so figures agree

CLIPS = [
    "jfk.wav", "asterisk_en_agent-alreadyon.wav", "bcn_weather.mp3",
    "asterisk_en_conf-onlyperson.wav", "asterisk_en_demo-congrats.wav", "librispeech_1.wav",
    "asterisk_en_vm-intro.wav", "asterisk_en_tt-weasels.wav",
]  # fmt: skip
GAPS_S = [0.6, 1.2, 3.0, 0.8, 2.5, 1.5, 0.7, 4.0]


def stitched(service: Service, passes: int = 3) -> tuple[Audio, str]:
    """The referenced English clips with known silences between them, and the reference."""
    refs = json.loads((AUDIO / "references.json").read_text())
    parts, texts = [], []
    for k in range(passes * len(CLIPS)):
        name = CLIPS[k % len(CLIPS)]
        parts += [service.load_audio(AUDIO / name).samples,
                  np.zeros(int(GAPS_S[k % len(GAPS_S)] * 16_000), np.float32)]  # fmt: skip
        texts.append(refs[name]["text"])
    return Audio(np.concatenate(parts)), " ".join(texts)


def tiled(block: Audio, minutes: float) -> Audio:
    n = int(minutes * 60 * 16_000)
    return Audio(np.tile(block.samples, int(np.ceil(n / len(block.samples))))[:n])


def timed(service: Service, audio: Audio, batch: int) -> tuple[float, str]:
    started = time.perf_counter()
    t = service.transcribe(audio, TranscribeOptions(word_timestamps=False, batch_size=batch))
    return audio.duration_s / (time.perf_counter() - started), t.text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    service = Service(Settings())
    voa = service.load_audio(VOA)
    service.transcribe(Audio(voa.samples[:160_000]))  # load the model outside the timings
    recording, reference = stitched(service)
    cases = [("VOA broadcast", voa, None), ("stitched clips", recording, reference),
             (f"{args.minutes:g}-minute tile", None, None)]  # fmt: skip
    for name, audio, ref in cases:
        audio = audio or tiled(recording, args.minutes)
        seq, seq_text = timed(service, audio, 0)
        bat, bat_text = timed(service, audio, args.batch)
        quality = (
            f"WER {wer(ref, seq_text):.2%} vs {wer(ref, bat_text):.2%}" if ref
            else f"{len(seq_text.split())} vs {len(bat_text.split())} words"
        )
        print(f"{name} ({audio.duration_s:.0f} s): sequential {seq:.2f}x real time, "
              f"batched({args.batch}) {bat:.2f}x, ratio {bat / seq:.2f}; {quality}", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
