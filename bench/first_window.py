"""Short clips: stock faster-whisper versus harken's ``HarkenWhisperModel``.

With no language given, faster-whisper encodes a clip's first 30-second window twice (language
detection, then decoding); ``HarkenWhisperModel`` hands the detection's encoder output to the
decoding. Prints, for every shared clip under a minute, both times (alternating which runs
first) and whether the transcripts are identical, then the totals and their ratio. Then, with
the temperature fallback on, the clip whose silent tail window sends stock faster-whisper
through every temperature.
Run: ``.venv/bin/python bench/first_window.py [--model whisper-base]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AUDIO = (ROOT / ".." / "shared" / "audio").resolve()
sys.path.insert(0, str(ROOT / "src"))

MAX_S = 60.0


LADDER = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]  # the temperature fallback harken decodes with
TAIL_CLIP = "asterisk_en_demo-congrats.wav"  # 30.3 s: a silent 1.3 s second window


def timed(model: Any, samples: Any, temperature: Any = 0.0) -> tuple[str, float]:
    started = time.perf_counter()
    segments, _ = model.transcribe(samples, beam_size=1, temperature=temperature, vad_filter=True)
    text = "".join(s.text for s in segments)
    return text, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="whisper-base")
    args = ap.parse_args()

    from faster_whisper import WhisperModel

    from harken.audio.decode import decode_audio
    from harken.config import Settings
    from harken.engines.whisper_model import HarkenWhisperModel
    from harken.models.catalog import default_catalog
    from harken.models.store import ModelStore

    folder = str(ModelStore.from_settings(Settings()).pull(default_catalog().resolve(args.model)))
    options = {"device": "cpu", "compute_type": "int8", "cpu_threads": os.cpu_count() or 1}
    models = {
        "stock": WhisperModel(folder, **options),
        "harken": HarkenWhisperModel(folder, **options),
    }
    clips = [p for p in sorted(AUDIO.iterdir()) if p.suffix in (".wav", ".mp3", ".ogg")]
    totals = dict.fromkeys(models, 0.0)
    audio_s, same, n = 0.0, 0, 0
    warm = decode_audio(AUDIO / "jfk.wav").samples
    for model in models.values():
        timed(model, warm)
    for i, path in enumerate(clips):
        samples = decode_audio(path).samples
        seconds = len(samples) / 16_000
        if seconds > MAX_S:
            continue
        order = list(models) if i % 2 == 0 else list(models)[::-1]
        results = {name: timed(models[name], samples) for name in order}
        for name, (_, wall) in results.items():
            totals[name] += wall
        identical = results["stock"][0] == results["harken"][0]
        audio_s, same, n = audio_s + seconds, same + identical, n + 1
        stock_s, harken_s = results["stock"][1], results["harken"][1]
        print(f"{path.name[:34]:<34} {seconds:5.1f} s audio  stock {stock_s:5.2f} s  "
              f"harken {harken_s:5.2f} s  identical {identical}", flush=True)  # fmt: skip
    print(f"{n} clips, {audio_s:.0f} s of audio: stock {totals['stock']:.1f} s, harken "
          f"{totals['harken']:.1f} s, stock/harken {totals['stock'] / totals['harken']:.2f}; "
          f"identical transcripts {same}/{n}")  # fmt: skip

    # The silent-window fix needs the temperature fallback on, which makes stock runs vary.
    samples = decode_audio(AUDIO / TAIL_CLIP).samples
    print(f"{TAIL_CLIP}, temperature fallback on, three runs each:")
    for name, model in models.items():
        runs = [timed(model, samples, LADDER) for _ in range(3)]
        words = sorted({len(text.split()) for text, _ in runs})
        print(f"  {name:<8} " + ", ".join(f"{wall:.1f} s" for _, wall in runs) + f"  words {words}")


if __name__ == "__main__":
    main()
