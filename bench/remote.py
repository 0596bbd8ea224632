"""Scale-out: a long file through the remote engine with one and with two upstream servers.

Starts two upstream ``harken serve`` processes on loopback (whisper-base, ``HARKEN_WORKERS=2``,
one CPU thread per decode), transcribes the ~5-minute VOA broadcast through the remote engine
(30 s chunks, fanned out) first with one upstream, then with both, and prints the throughput
(audio seconds per wall second) of each, their ratio, how many chunk requests each upstream
answered, and how far the two transcripts differ (WER of one against the other).

What the ratio shows: on the 2-core development machine both upstreams share the same two
cores, so two upstreams cannot decode faster than one and the ratio is about 1x; the run shows
that fanning out and spreading cost little and lose no words. On separate GPUs each upstream
brings its own accelerator; when the upstreams are the bottleneck (they are: the front only
cuts audio and forwards it) two upstreams approach 2x.

Run: ``.venv/bin/python bench/remote.py [--file PATH] [--window 30] [--concurrency 8]
[--timeout 1800]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harken import Service, Settings, TranscribeOptions  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402 - the tests' launcher
from tests.engines.remote_helpers import UPSTREAM_ENV, posts  # noqa: E402
from tests.wer import wer  # noqa: E402

AUDIO = (ROOT / ".." / "shared" / "audio").resolve()
VOA = AUDIO / "VOA_News_Headlines_(May_5,_2009).ogg"


def run(
    urls: list[str], audio_path: Path, window_s: float, concurrency: int, timeout_s: float
) -> tuple[float, str]:
    """Audio seconds transcribed per wall second through the remote engine, and the text."""
    settings = Settings(remote_models={"remote-bench": {
        "urls": urls, "upstream_model": "whisper-base", "window_s": window_s,
        "max_concurrency": concurrency, "timeout_s": timeout_s}})  # fmt: skip
    service = Service(settings)
    audio = service.load_audio(audio_path)
    started = time.perf_counter()
    transcript = service.transcribe(audio, TranscribeOptions(word_timestamps=False),
                                    model="remote-bench")  # fmt: skip
    elapsed = time.perf_counter() - started
    service.close()
    return audio.duration_s / elapsed, transcript.text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=VOA)
    parser.add_argument("--window", type=float, default=30.0, help="chunk window, seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="chunks in flight")
    # An upstream harken queues what it cannot decode yet: the wait counts against the timeout.
    parser.add_argument("--timeout", type=float, default=1800.0, help="per request, seconds")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="harken-bench-remote-"))
    servers = [start_server(tmp, UPSTREAM_ENV) for _ in range(2)]
    try:
        one, text_one = run([servers[0].v1], args.file, args.window, args.concurrency,
                            args.timeout)
        before = [posts(s) for s in servers]
        two, text_two = run([s.v1 for s in servers], args.file, args.window, args.concurrency,
                            args.timeout)
        spread = [posts(s) - b for s, b in zip(servers, before)]
    finally:
        for s in servers:
            stop_server(s)
    cores = os.cpu_count()
    print(f"file: {args.file.name}  window: {args.window:.0f} s  in flight: {args.concurrency}  "
          f"cores: {cores}")  # fmt: skip
    print(f"1 upstream : {one:6.2f} audio s / s")
    print(f"2 upstreams: {two:6.2f} audio s / s  (chunk requests per upstream: {spread})")
    print(f"ratio 2/1  : {two / one:6.2f}x")
    print(f"transcripts differ by WER {wer(text_one, text_two):.3f} "
          f"({len(text_one.split())} words)")
    print("On shared CPU cores the upstreams compete for the same cores (expect ~1x); on "
          "separate GPUs, with the upstreams the bottleneck, expect close to 2x.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
