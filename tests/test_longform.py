"""Long audio end to end: a recording stitched from the shared clips with known silences,
transcribed through the long path (streaming decode, chunk plan, stitching), against the same
clips transcribed one by one; seams inspected word by word; a 1-hour file's peak memory."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from harken import Service, Settings, TranscribeOptions
from harken.audio.encode import wav_bytes as encode_wav
from harken.longform import planned_chunks
from harken.types import Audio, Finished, Progress, SegmentDone, Usage
from tests.conftest import harken_home, shared_audio_dir
from tests.wer import normalize, wer

RATE = 16_000
# English clips with a verbatim reference, in recording order.
CLIPS = [
    "jfk.wav",
    "asterisk_en_agent-alreadyon.wav",
    "bcn_weather.mp3",
    "asterisk_en_conf-onlyperson.wav",
    "asterisk_en_demo-congrats.wav",
    "librispeech_1.wav",
    "asterisk_en_vm-intro.wav",
    "asterisk_en_tt-weasels.wav",
]
# Silences between clips, cycled: short ones get packed into one chunk with their neighbours,
# long ones (over the planner's 2 s) separate chunks.
GAPS_S = [0.6, 1.2, 3.0, 0.8, 2.5, 1.5, 0.7, 4.0]
PASSES = 3  # about 4.5 minutes
MEMORY_MODEL = "whisper-tiny.en"


@dataclass(frozen=True)
class Placed:
    name: str
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Recording:
    audio: Audio
    placed: tuple[Placed, ...]

    @property
    def reference(self) -> str:
        return " ".join(p.text for p in self.placed)


@pytest.fixture(scope="module")
def service() -> Service:
    # long_form_max_s=0: every file over one window takes the chunk-and-stitch path under test.
    svc = Service(Settings(home=harken_home(), whisper={"long_form_max_s": 0}))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def clips(service: Service, references: dict[str, dict]) -> dict[str, tuple[Audio, str]]:
    return {n: (service.load_audio(shared_audio_dir() / n), references[n]["text"]) for n in CLIPS}


@pytest.fixture(scope="module")
def recording(clips: dict[str, tuple[Audio, str]]) -> Recording:
    parts, placed, cursor = [], [], 0
    for k in range(PASSES * len(CLIPS)):
        name = CLIPS[k % len(CLIPS)]
        audio, text = clips[name]
        placed.append(Placed(name, cursor / RATE, (cursor + len(audio.samples)) / RATE, text))
        gap = np.zeros(int(GAPS_S[k % len(GAPS_S)] * RATE), np.float32)
        parts += [audio.samples, gap]
        cursor += len(audio.samples) + len(gap)
    return Recording(Audio(np.concatenate(parts)), tuple(placed))


def wav_bytes(audio: Audio) -> bytes:
    """16-bit PCM WAV, as a client would upload it (decoded by the streaming decoder)."""
    return encode_wav(audio.samples, RATE)


@pytest.mark.slow
def test_long_recording_matches_its_pieces_and_no_seam_duplicates_a_word(
    service: Service, clips: dict[str, tuple[Audio, str]], recording: Recording
) -> None:
    assert recording.audio.duration_s >= 240
    opts = TranscribeOptions(word_timestamps=True)
    # The pieces one by one (each shorter than a window: the short path).
    piece_text = {n: service.transcribe(a, opts).text for n, (a, _) in clips.items()}
    pieces_wer = wer(recording.reference, " ".join(piece_text[p.name] for p in recording.placed))

    run = service.transcribe_stream(wav_bytes(recording.audio), opts)
    events = list(run.iter_events())
    segments = [e.segment for e in events if isinstance(e, SegmentDone)]
    long_text = "".join(s.text for s in segments)
    long_wer = wer(recording.reference, long_text)
    print(f"\nWER pieces one by one {pieces_wer:.2%}, long recording {long_wer:.2%}")
    assert long_wer <= pieces_wer + 0.005

    # Times in the file's timeline, in order; progress up to the end; usage is the duration.
    words = [w for s in segments for w in s.words]
    assert all(a.start_s <= b.start_s for a, b in zip(words, words[1:]))
    assert 0 <= words[0].start_s and words[-1].end_s <= recording.audio.duration_s
    progress = [e.done_s for e in events if isinstance(e, Progress)]
    assert progress == sorted(progress) and len(progress) > 8
    assert progress[-1] == pytest.approx(recording.audio.duration_s, abs=0.01)
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.audio_s == pytest.approx(recording.audio.duration_s, abs=0.01)
    assert isinstance(events[-1], Finished)

    # Every seam: the words around it are no more than the reference has there.
    chunks = planned_chunks(recording.audio, 30.0)
    assert len(chunks) >= 8
    for left, right in zip(chunks, chunks[1:]):
        lo_s, hi_s = left.end_s - 4.0, right.start_s + 4.0
        heard = collections.Counter(
            normalize(w.text) for w in words if lo_s <= (w.start_s + w.end_s) / 2 <= hi_s
        )
        spoken = collections.Counter(
            t for p in recording.placed if p.start_s < hi_s and p.end_s > lo_s
            for t in normalize(p.text).split()
        )  # fmt: skip
        extra = heard - spoken
        assert not [w for w in extra if extra[w] and spoken[w]], (left, right, heard, spoken)
        near = [normalize(w.text) for w in words if lo_s <= w.start_s <= hi_s]
        assert all(near[i : i + 3] != near[i + 3 : i + 6] for i in range(len(near) - 5)), near


@pytest.mark.slow
def test_batched_long_path_keeps_the_words_and_the_timeline(
    service: Service, recording: Recording
) -> None:
    audio = Audio(recording.audio.samples[: 100 * RATE])
    opts = TranscribeOptions(word_timestamps=True, batch_size=4)
    transcript = service.transcribe(audio, opts)
    reference = " ".join(p.text for p in recording.placed if p.end_s <= 100)
    batched_wer = wer(reference, transcript.text)
    print(f"\nWER batched(4), first 100 s: {batched_wer:.2%}")
    # Looser than the sequential path: the batched pipeline decodes each chunk once, with no
    # seek past an early end of text, and loses sentences that sequential decoding keeps
    # (19.5% against 1.8% on the first pass of this recording): why it is not the default.
    assert batched_wer < 0.3
    starts = [s.start_s for s in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1].end_s <= 100.0
    assert [s.id for s in transcript.segments] == list(range(len(transcript.segments)))


def test_silence_only_long_audio_ends_cleanly(service: Service) -> None:
    run = service.transcribe_stream(Audio(np.zeros(70 * RATE, np.float32)))
    events = list(run.iter_events())
    assert not [e for e in events if isinstance(e, SegmentDone)]
    assert [e.done_s for e in events if isinstance(e, Progress)][-1] == pytest.approx(70.0)
    assert isinstance(events[-1], Finished)


_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    from harken import Service, Settings, TranscribeOptions
    path, home, batch, model = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    service = Service(Settings(home=home))
    started = time.perf_counter()
    opts = TranscribeOptions(word_timestamps=False, batch_size=batch)
    t = service.transcribe(path, opts, model=model)
    elapsed = time.perf_counter() - started
    status = open("/proc/self/status").read().split("\\n")
    hwm_kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM"))
    print(json.dumps({
        "duration_s": t.duration_s, "words": len(t.text.split()), "elapsed_s": elapsed,
        "vm_hwm_mb": hwm_kb / 1024,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    """
)


@pytest.mark.slow
def test_one_hour_file_peak_memory_under_1_5_gb(
    tmp_path: Path, clips: dict[str, tuple[Audio, str]], recording: Recording
) -> None:
    """A 1-hour WAV (the recording tiled) transcribed in a fresh process: VmHWM < 1.5 GB.

    whisper-tiny.en, batched (8), to stay within minutes on 2 shared cores (whisper-base takes
    about four times as long; its figures are in bench/longform.py and the report)."""
    reps = int(np.ceil(3600 / recording.audio.duration_s))
    hour = Audio(np.tile(recording.audio.samples, reps)[: 3600 * RATE])
    path = tmp_path / "hour.wav"
    path.write_bytes(wav_bytes(hour))
    del hour
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path), str(harken_home()), "8", MEMORY_MODEL],
        capture_output=True, text=True, timeout=1500, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n1-hour file: {figures}")
    assert figures["duration_s"] == pytest.approx(3600, abs=0.1)
    expected_words = reps * len(recording.reference.split())
    assert figures["words"] > 0.8 * expected_words
    assert figures["vm_hwm_mb"] < 1536
