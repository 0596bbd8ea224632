"""Long audio: decoded block by block, cut into window-sized chunks at pauses (Silero VAD),
transcribed chunk by chunk or in batches, stitched into the original file's timeline.

Memory stays flat as files grow: at most one block (``BLOCK_S``) plus the carried-over tail is
held as samples, whatever the file's length. ``service.transcribe_stream`` delegates here for
audio longer than the engine's window.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Protocol, runtime_checkable

import numpy as np

from .audio.decode import DecodeLimits, iter_decoded_chunks
from .audio.merge import ChunkResult, Stitcher
from .audio.segment import Chunk, plan_chunks
from .audio.vad import Span, speech_probabilities, speech_spans
from .engines.base import CancelCheck, Transcriber
from .types import (
    SAMPLE_RATE_HZ,
    Audio,
    Event,
    Finished,
    Progress,
    SegmentDone,
    TranscribeOptions,
    TranscriptInfo,
    Usage,
)

log = logging.getLogger(__name__)

# Audio planned at once: 4 minutes is 15 MB of samples and a handful of batches; the plan's
# only seams that are not pauses fall at block ends, so blocks are much longer than a window.
BLOCK_S = 240.0
# Near a block's end the VAD has not heard what follows: chunks reaching within a window plus
# this margin of it are planned again with the next block.
SETTLE_S = 5.0

# Silence kept around each speech span: Silero hears soft onsets late (a telephone "Please"
# was lost at 0.1 s); faster-whisper's own VAD filter pads by 0.4 s for the same reason.
SPEECH_PAD_S = 0.4

AudioInput = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO | Audio


@dataclass(frozen=True, eq=False)
class Block:
    """A stretch of the file and its chunk plan (times relative to ``offset_s``)."""

    audio: Audio
    offset_s: float
    chunks: list[Chunk]

    @property
    def end_s(self) -> float:
        return self.offset_s + self.audio.duration_s


@runtime_checkable
class ChunkTranscriber(Protocol):
    """An engine that decodes a list of planned chunks itself (batched, or fanned out)."""

    def transcribe_chunks(
        self, audio: Audio, chunks: Sequence[Chunk], opts: TranscribeOptions, cancel: CancelCheck
    ) -> tuple[Iterator[ChunkResult], TranscriptInfo]: ...


class AudioReader:
    """Canonical samples read ahead as needed, from a streaming decoder or an ``Audio``."""

    def __init__(self, blocks: Iterator[np.ndarray], duration_hint_s: float | None) -> None:
        self._blocks = blocks
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self.exhausted = False
        self.duration_hint_s = duration_hint_s

    def longer_than(self, seconds: float) -> bool:
        """Decode ahead until more than ``seconds`` are buffered or the audio ends."""
        while self._pending_samples <= seconds * SAMPLE_RATE_HZ and not self.exhausted:
            self._pull()
        return self._pending_samples > seconds * SAMPLE_RATE_HZ

    def read(self, seconds: float) -> np.ndarray:
        """The next ``seconds`` of samples (fewer at the end; empty once exhausted)."""
        want = int(seconds * SAMPLE_RATE_HZ)
        while self._pending_samples < want and not self.exhausted:
            self._pull()
        joined = np.concatenate(self._pending) if self._pending else np.zeros(0, np.float32)
        out, rest = joined[:want], joined[want:]
        self._pending, self._pending_samples = ([rest] if len(rest) else []), len(rest)
        return out

    def read_all(self) -> Audio:
        while not self.exhausted:
            self._pull()
        return Audio(self.read(float(self._pending_samples + 1) / SAMPLE_RATE_HZ))

    @property
    def done(self) -> bool:
        return self.exhausted and self._pending_samples == 0

    def _pull(self) -> None:
        block = next(self._blocks, None)
        if block is None:
            self.exhausted = True
        elif len(block):
            self._pending.append(block)
            self._pending_samples += len(block)


def open_audio(data: AudioInput, limits: DecodeLimits) -> AudioReader:
    """A reader over ``data``: bytes and paths decode as they are read, never all at once."""
    if isinstance(data, Audio):
        step = int(BLOCK_S * data.sample_rate_hz)
        views = (data.samples[i : i + step] for i in range(0, len(data.samples), step))
        return AudioReader(iter(views), data.duration_s)
    blocks = iter_decoded_chunks(data, limits)
    reader = AudioReader(blocks, _declared_duration_s(data))
    reader.longer_than(0.0)  # decode errors (and over-limit headers) surface here, not later
    return reader


def transcribe_long(
    engine: Transcriber,
    reader: AudioReader,
    opts: TranscribeOptions,
    cancel: CancelCheck,
    lease: ExitStack,
) -> tuple[TranscriptInfo, Iterator[Event]]:
    """Start a long transcription: eager language (from the first chunk), lazy events.

    Events: a ``SegmentDone`` per stitched segment as its chunk finishes, a ``Progress`` per
    chunk, then ``Usage`` (the decoded duration) and ``Finished``. ``lease`` is closed when the
    events end.
    """
    window_s = engine.caps.max_window_s
    planned = _planned_blocks(reader, window_s, opts.vad_filter)
    head: list[Block] = []
    results: Iterator[ChunkResult] = iter(())
    info: TranscriptInfo | None = None
    done_s = 0.0
    for block in planned:  # up to the first block with speech: it sets the language
        done_s = block.end_s
        if block.chunks:
            head.append(block)
            results, info = _transcribe_block(engine, block, opts, cancel)
            break
        head.append(Block(Audio(np.zeros(0, np.float32)), block.end_s, []))  # keep no samples
    if info is None:  # no speech anywhere
        info = TranscriptInfo(opts.language, 1.0 if opts.language else 0.0, 0.0, opts.task)
        info = replace(info, model=getattr(engine, "name", ""))
    total_s = max(reader.duration_hint_s or 0.0, done_s)
    info = replace(info, duration_s=total_s)
    fixed = replace(opts, language=info.language or opts.language)
    events = _events(engine, head, results, planned, fixed, cancel, info, lease)
    return info, events


def _events(
    engine: Transcriber,
    head: list[Block],
    first: Iterator[ChunkResult],
    planned: Iterator[Block],
    opts: TranscribeOptions,
    cancel: CancelCheck,
    info: TranscriptInfo,
    lease: ExitStack,
) -> Iterator[Event]:
    with lease:
        stitcher = Stitcher()
        done_s = 0.0

        def progress(at_s: float) -> Progress:
            return Progress(done_s=at_s, total_s=max(info.duration_s, at_s))

        for n, block in enumerate(_chain(head, planned)):
            cancel()
            results: Iterator[ChunkResult] = iter(())
            if n == len(head) - 1:
                results = first  # started eagerly, for the language
            elif n >= len(head) and block.chunks:
                results = _transcribe_block(engine, block, opts, cancel)[0]
            for result in results:
                absolute = ChunkResult(result.chunk.shifted(block.offset_s), result.segments)
                for segment in stitcher.feed(absolute):
                    yield SegmentDone(segment)
                done_s = max(done_s, absolute.chunk.end_s)
                yield progress(done_s)
            done_s = max(done_s, block.end_s)
            yield progress(done_s)
        for segment in stitcher.flush():
            yield SegmentDone(segment)
        yield Usage(audio_s=done_s)
        yield Finished("stop", model=info.model)


def _chain(head: list[Block], rest: Iterator[Block]) -> Iterator[Block]:
    yield from head
    yield from rest


def _transcribe_block(
    engine: Transcriber,
    block: Block,
    opts: TranscribeOptions,
    cancel: CancelCheck,
) -> tuple[Iterator[ChunkResult], TranscriptInfo]:
    if isinstance(engine, ChunkTranscriber):
        return engine.transcribe_chunks(block.audio, block.chunks, opts, cancel)
    return _one_by_one(engine, block.audio, block.chunks, opts, cancel)


def _one_by_one(
    engine: Transcriber,
    audio: Audio,
    chunks: Sequence[Chunk],
    opts: TranscribeOptions,
    cancel: CancelCheck,
) -> tuple[Iterator[ChunkResult], TranscriptInfo]:
    """Any ``Transcriber``: each chunk as its own short audio, the first one's language kept."""
    rate = audio.sample_rate_hz

    def clip(c: Chunk) -> Audio:
        return Audio(audio.samples[int(c.start_s * rate) : int(c.end_s * rate)], rate)

    segments, info = engine.transcribe(clip(chunks[0]), replace(opts, vad_filter=False), cancel)
    fixed = replace(opts, language=opts.language or info.language, vad_filter=False)

    def results() -> Iterator[ChunkResult]:
        yield ChunkResult(chunks[0], tuple(segments))
        for c in chunks[1:]:
            yield ChunkResult(c, tuple(engine.transcribe(clip(c), fixed, cancel)[0]))

    return results(), info


def _planned_blocks(
    reader: AudioReader, window_s: float, vad: bool
) -> Iterator[Block]:
    """Blocks of audio with their chunk plans (block-relative), in order, covering the file.

    Chunks that the next block's audio could still change (those reaching into the last
    window plus ``SETTLE_S``) are carried into the next block with their audio, so a block's
    end never cuts a word: the carried audio starts at a chunk's start, or in silence.
    """
    carry = np.zeros(0, np.float32)
    offset_s = 0.0
    while not reader.done or len(carry):
        fresh = reader.read(BLOCK_S)
        buffer = np.concatenate([carry, fresh]) if len(carry) else fresh
        final = reader.done
        duration_s = len(buffer) / SAMPLE_RATE_HZ
        chunks = plan_block(buffer, window_s, vad=vad)
        if final:
            cut_s, keep = duration_s, chunks
        else:
            # A chunk is settled once all the audio its packing could reach has been heard.
            horizon_s = duration_s - window_s - SETTLE_S
            keep = [c for c in chunks if c.start_s <= horizon_s]
            later = chunks[len(keep) :]
            # Carry from the first unsettled chunk, or else from silence near the end.
            quiet_s = max(duration_s - SETTLE_S, keep[-1].end_s if keep else 0.0)
            cut_s = later[0].start_s if later else quiet_s
        cut = int(round(cut_s * SAMPLE_RATE_HZ))
        yield Block(Audio(buffer[:cut]), offset_s, keep)
        carry = buffer[cut:].copy() if not final else np.zeros(0, np.float32)
        offset_s += cut / SAMPLE_RATE_HZ
        if final:
            return


def planned_chunks(audio: Audio, window_s: float, *, vad: bool = True) -> list[Chunk]:
    """The chunks ``transcribe_long`` decodes for ``audio``, in the file's timeline (for
    engines that fan chunks out themselves, and for inspecting seams)."""
    reader = open_audio(audio, DecodeLimits())
    return [c.shifted(b.offset_s) for b in _planned_blocks(reader, window_s, vad) for c in b.chunks]


def plan_block(samples: np.ndarray, window_s: float, *, vad: bool = True) -> list[Chunk]:
    """Chunk plan for one stretch of 16 kHz audio: Silero speech spans (all of it with
    ``vad=False``), cut at pauses, or inside speech at the lowest speech probability."""
    duration_s = len(samples) / SAMPLE_RATE_HZ
    spans = speech_spans(samples, pad_s=SPEECH_PAD_S) if vad else [Span(0.0, duration_s)]
    # Probabilities only where a cut must fall inside speech: it is a second VAD pass.
    needed = any(s.duration_s > window_s for s in spans)
    levels = speech_probabilities(samples) if needed else None
    return plan_chunks(spans, levels, duration_s, window_s)


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> BinaryIO:
    # As in decode.py: a playlist must not make FFmpeg open other files or URLs for us.
    raise PermissionError(f"audio input may not reference other resources ({url!r})")


def _declared_duration_s(data: Any) -> float | None:
    """The duration a file's header declares (for progress totals), without decoding it."""
    import av

    if isinstance(data, (bytes, bytearray, memoryview)):
        fileobj: BinaryIO = io.BytesIO(data)
    elif isinstance(data, (str, os.PathLike)) and os.path.isfile(data):
        fileobj = open(os.fspath(data), "rb")  # noqa: SIM115 - closed below
    else:
        return None
    try:
        with fileobj, av.open(fileobj, mode="r", io_open=_refuse_nested_open) as container:
            stream = container.streams.best("audio")
            if stream is not None and stream.duration is not None and stream.time_base:
                return float(stream.duration * stream.time_base)
            return container.duration / av.time_base if container.duration else None
    except Exception:  # a probe only: the decoder reports what is wrong with the file
        return None
