"""Transcription speed through the HTTP server versus faster-whisper called directly.

Prints, for one long file (default: the ~5-minute VOA broadcast): real-time factor through a
live ``harken serve`` and through faster-whisper in this process with the same model and
settings, their ratio, the server's peak memory, and word error rate on every shared clip with a
reference. Run: ``.venv/bin/python bench/transcribe.py [--file PATH] [--model whisper-base]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
AUDIO = (ROOT / ".." / "shared" / "audio").resolve()
sys.path.insert(0, str(ROOT))

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.wer import wer  # noqa: E402

VOA = AUDIO / "VOA_News_Headlines_(May_5,_2009).ogg"


def direct(model_dir: Path, path: Path, settings: object) -> tuple[float, float]:
    """faster-whisper exactly as harken calls it; returns (audio seconds, wall seconds)."""
    from faster_whisper import WhisperModel, decode_audio

    from harken.engines.whisper import resolve_device
    from harken.types import TranscribeOptions

    w = settings.whisper  # type: ignore[attr-defined]
    device, compute = resolve_device(w.device, w.compute_type)
    model = WhisperModel(str(model_dir), device=device, compute_type=compute,
                         cpu_threads=w.cpu_threads or os.cpu_count() or 1)
    opts = TranscribeOptions(beam_size=w.beam_size, word_timestamps=False)
    started = time.perf_counter()
    audio = decode_audio(str(path))  # decoding is part of the work on both sides
    segments, info = model.transcribe(
        audio, beam_size=opts.beam_size, temperature=list(opts.temperature),
        vad_filter=opts.vad_filter, word_timestamps=False,
    )
    list(segments)
    return info.duration, time.perf_counter() - started


def through_server(base: str, path: Path, model: str) -> tuple[float, float]:
    started = time.perf_counter()
    with path.open("rb") as f:
        r = httpx.post(f"{base}/v1/audio/transcriptions", files={"file": f},
                       data={"model": model, "response_format": "verbose_json"}, timeout=3600)
    r.raise_for_status()
    return r.json()["duration"], time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--file", type=Path, default=VOA)
    ap.add_argument("--model", default="whisper-base")
    args = ap.parse_args()

    from harken.config import Settings
    from harken.models.catalog import default_catalog
    from harken.models.store import ModelStore

    settings = Settings()
    entry = default_catalog().resolve(args.model)
    model_dir = ModelStore.from_settings(settings).pull(entry)

    audio_s, direct_s = direct(model_dir, args.file, settings)

    # A transcription server: its memory without the reasoning LLM loaded beside it.
    env = {"HARKEN_DEFAULT_ASR_MODEL": entry.id, "HARKEN_PRELOAD_CHAT": "false"}
    server = start_server(Path(tempfile.mkdtemp(prefix="harken-bench-")), env)
    base = server.base_url
    try:
        _, server_s = through_server(base, args.file, entry.id)
        refs = json.loads((AUDIO / "references.json").read_text())
        rates = {}
        for name, ref in refs.items():
            if ref.get("text"):
                with (AUDIO / name).open("rb") as f:
                    r = httpx.post(f"{base}/v1/audio/transcriptions", files={"file": f},
                                   data={"model": entry.id}, timeout=600)
                rates[name] = wer(ref["text"], r.json()["text"])
        peak = peak_rss_mb(server.process.pid)
    finally:
        stop_server(server)

    rtf_direct, rtf_server = audio_s / direct_s, audio_s / server_s
    print(f"file: {args.file.name} ({audio_s:.1f} s), model {entry.id}, "
          f"beam {settings.whisper.beam_size}, {os.cpu_count()} cores")
    print(f"direct faster-whisper: {direct_s:6.1f} s  {rtf_direct:5.2f}x real time")
    print(f"through harken server: {server_s:6.1f} s  {rtf_server:5.2f}x real time")
    print(f"server / direct speed: {rtf_server / rtf_direct:.3f}")
    print(f"server peak RSS:       {peak:.0f} MB")
    print("word error rate per clip:")
    for name, rate in rates.items():
        print(f"  {rate * 100:5.1f} %  {name}")
    en = [r for n, r in rates.items() if refs[n]["language"] == "en"]
    es = [r for n, r in rates.items() if refs[n]["language"] == "es"]
    print(f"  mean English {100 * sum(en) / len(en):.1f} %, mean Spanish {100 * sum(es) / len(es):.1f} %")


if __name__ == "__main__":
    main()
