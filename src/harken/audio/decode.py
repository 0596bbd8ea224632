"""Turn any audio input (bytes, file, path, data URL, base64) into canonical ``Audio``.

Decoding streams frame by frame (PyAV) through a streaming resampler (soxr), so memory stays
proportional to the output and the three input caps are enforced while decoding, not after.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, TypeAlias

import av
import numpy as np
import soxr
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer

from harken.errors import (
    AudioDecodeError,
    HarkenError,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from harken.audio.inline import BASE64_JUNK, SUPPORTED_FORMATS, inline_to_bytes
from harken.types import BYTES_PER_SAMPLE, SAMPLE_RATE_HZ, Audio, AudioSource

MB = 1024 * 1024

# File extension or "format" field -> FFmpeg demuxer, tried only when probing the bytes fails.
FORMAT_HINTS = {
    "wav": "wav", "wave": "wav", "x-wav": "wav", "flac": "flac", "x-flac": "flac",
    "mp3": "mp3", "mpga": "mp3", "mpeg": "mp3", "aac": "aac", "m4a": "mp4", "mp4": "mp4",
    "x-m4a": "mp4", "ogg": "ogg", "oga": "ogg", "opus": "ogg", "webm": "webm", "mka": "matroska",
}  # fmt: skip
# How the formats we decode begin: bytes FFmpeg cannot open that start like this are corrupt
# or truncated audio (400), not an unknown kind of file (415).
_AUDIO_MAGIC = re.compile(
    rb"RIFF....(WAVE|AVI )|RF64|BW64|riff|fLaC|OggS|ID3|\x1a\x45\xdf\xa3"
    rb"|\xff[\xe2-\xe7\xf0-\xff]"  # MPEG audio or ADTS frame sync, reserved layer excluded
    rb"|....(ftyp|moov|mdat|free|wide)|FORM....AIF[FC]|\.snd|#!AMR|caff|MAC |wvpk|TTA1"
    rb"|\x30\x26\xb2\x75|\x00\x00\x01\xba",
    re.DOTALL,
)
# Demuxers whose duration comes from the file's header or index. For raw streams (mp3 without
# a frame count, ADTS, MPEG-PS) FFmpeg only guesses it from the first bitrate, which can be off
# tenfold, so those are capped while decoding rather than refused up front.
_HEADER_DURATION_FORMATS = frozenset({"wav", "w64", "flac", "ogg", "mov", "matroska", "aiff"})
_MAX_BAD_PACKETS = 256  # undecodable packets with no good one before: garbage, stop early
# A corrupt header can claim 1 Hz (a 32 KB file would expand 16,000-fold) or 2 GHz.
_MIN_RATE_HZ, _MAX_RATE_HZ = 1_000, 768_000
_BLOCK_SAMPLES = 16_384  # input samples resampled at once: frames are small, calls are not free
_INT_SCALE = {"u8": 1.0 / 128, "s16": 1.0 / 2**15, "s32": 1.0 / 2**31, "s64": 1.0 / 2**63}

Source: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO


@dataclass(frozen=True)
class DecodeLimits:
    """The three input caps (vLLM): upload bytes, decoded seconds, canonical decoded bytes."""

    max_upload_bytes: int = 512 * MB
    max_duration_s: float = 6 * 3600.0
    # float32 mono 16 kHz is 64,000 bytes a second: 2 GiB is about 9.3 hours.
    max_decoded_bytes: int = 2 * 1024 * MB

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_duration_s", "max_decoded_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}.")


def decode_audio(
    data: Source, limits: DecodeLimits = DecodeLimits(), *, filename: str | None = None
) -> Audio:
    """Decode bytes, a binary file object or a path into float32 mono 16 kHz audio.

    A ``str`` is a path when such a file exists, else it is read as a data URL or base64.
    Never pass untrusted strings here (a client could name server files): use
    ``load_audio_input``. ``filename`` only lends its extension as a fallback format hint.
    """
    with _decoding(data, limits, filename) as (chunks, source):
        collected = list(chunks)
    # Collect, then concatenate: peak memory is twice the (capped) output, once, at the end.
    samples = np.concatenate(collected) if collected else np.zeros(0, np.float32)
    return Audio(samples=samples, sample_rate_hz=SAMPLE_RATE_HZ, source=source)


def iter_decoded_chunks(
    data: Source, limits: DecodeLimits = DecodeLimits(), *, filename: str | None = None
) -> Iterator[np.ndarray]:
    """Stream ``data`` (as ``decode_audio`` takes it) as float32 mono 16 kHz blocks in [-1, 1]."""
    with _decoding(data, limits, filename) as (chunks, _source):
        yield from chunks


def load_audio_input(
    value: str | bytes | bytearray | memoryview | os.PathLike[str],
    limits: DecodeLimits = DecodeLimits(),
    *,
    param: str | None = None,
    format_hint: str | None = None,
) -> Audio:
    """Decode audio given inline (a data URL or bare base64 text), as raw bytes, or as a path.

    Made for wire input (chat ``input_audio``): a ``str`` is never read as a local path, so a
    client cannot make the server open its files; only an ``os.PathLike`` is a path. Errors
    carry ``param`` so a dialect can name the offending field.
    """
    try:
        if isinstance(value, str):
            value, mime_hint = _inline(value, limits, param)
            format_hint = format_hint or mime_hint
        filename = f"input.{format_hint.lower().lstrip('.')}" if format_hint else None
        return decode_audio(value, limits, filename=filename)
    except HarkenError as exc:
        exc.param = exc.param or param
        raise


# --- input handling ------------------------------------------------------------------------


@contextmanager
def _decoding(
    data: Source, limits: DecodeLimits, filename: str | None
) -> Iterator[tuple[Iterator[np.ndarray], AudioSource]]:
    """Open ``data`` and yield its canonical blocks (lazy) and a description of the source."""
    if isinstance(data, str) and not os.path.isfile(data):
        # A library caller's string naming no file: inline audio, or else a missing path.
        # (Base64 shorter than a 44-byte WAV header, 60 characters, cannot be audio.)
        compact = "".join(data.split())
        if compact[:5].lower() != "data:" and (BASE64_JUNK.search(compact) or len(compact) < 60):
            raise InvalidRequest(f"no such audio file: {data}")
        data = _inline(data, limits, None)[0]
    if filename is None and isinstance(data, (str, os.PathLike)):
        filename = os.fspath(data)
    ext = os.path.splitext(filename or "")[1].lower().lstrip(".")
    hint = ext if ext in FORMAT_HINTS else None
    with (
        _opened_input(data, limits) as (fileobj, size_bytes),
        _open_container(fileobj, hint) as container,
    ):
        stream = _audio_stream(container)
        _check_declared_duration(container, stream, limits)
        yield (
            _canonical_chunks(container, stream, limits),
            _describe(container, stream, size_bytes, hint),
        )


def _inline(text: str, limits: DecodeLimits, param: str | None) -> tuple[bytes, str]:
    # base64 carries 3 bytes in 4 characters: refuse before allocating the decoded copy.
    _check_upload_size(len(text.strip()) * 3 // 4, limits)
    return inline_to_bytes(text, param)


@contextmanager
def _opened_input(data: Source, limits: DecodeLimits) -> Iterator[tuple[BinaryIO, int]]:
    """Yield a seekable binary file positioned at 0 and its size, after the upload-size check."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        size = memoryview(data).nbytes
        _check_upload_size(size, limits)
        yield io.BytesIO(data), size
    elif isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise InvalidRequest(f"no such audio file: {path}")
        size = os.path.getsize(path)
        _check_upload_size(size, limits)
        # A Python file object, not the path: FFmpeg would read "http:" or "concat:" as protocols.
        with open(path, "rb") as fileobj:
            yield fileobj, size
    elif data.seekable() and data.tell() == 0:
        size = data.seek(0, io.SEEK_END)
        data.seek(0)
        _check_upload_size(size, limits)
        yield data, size
    else:  # unseekable (a pipe, a socket): read at most one byte past the cap into memory
        content = bytearray()
        # Loop: a raw stream's read() may return less than asked before the end.
        while len(content) <= limits.max_upload_bytes:
            if not (chunk := data.read(limits.max_upload_bytes + 1 - len(content))):
                break
            content += chunk
        _check_upload_size(len(content), limits)
        yield io.BytesIO(content), len(content)


def _check_upload_size(size: int, limits: DecodeLimits) -> None:
    if size == 0:
        raise AudioDecodeError("audio file is empty.")
    if size > limits.max_upload_bytes:
        # One byte past the cap is all an unseekable stream was read to: its size is unknown.
        amount = "" if size == limits.max_upload_bytes + 1 else f"{_size(size)}, "
        raise PayloadTooLarge(
            f"audio file is {amount}over the {_size(limits.max_upload_bytes)} limit "
            f"(HARKEN_LIMITS__MAX_UPLOAD_BYTES)."
        )


# --- demuxing and decoding -----------------------------------------------------------------


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> BinaryIO:
    # Playlists (HLS, concat, DASH) and external references would make FFmpeg open other
    # files or URLs on the server's behalf; an upload is only ever its own bytes.
    raise PermissionError(f"audio input may not reference other resources ({url!r})")


@contextmanager
def _open_container(fileobj: BinaryIO, hint: str | None) -> Iterator[InputContainer]:
    head = fileobj.read(64)
    container: InputContainer | None = None
    error: Exception | None = None
    for fmt in [None, FORMAT_HINTS[hint]] if hint else [None]:
        fileobj.seek(0)
        try:
            container = av.open(
                fileobj, mode="r", format=fmt, io_open=_refuse_nested_open,
                metadata_errors="replace",
            )  # fmt: skip
            break
        except av.FFmpegError as exc:
            error = exc
    if container is None:
        if _AUDIO_MAGIC.match(head):
            raise AudioDecodeError(f"audio file is corrupt or truncated ({_reason(error)}).")
        # Bytes FFmpeg cannot place at all: text, JSON, random data.
        raise UnsupportedMediaType(
            f"audio file is not in a recognised audio format ({_reason(error)}); "
            f"supported formats: {SUPPORTED_FORMATS}."
        )
    try:
        yield container
    finally:
        container.close()


def _audio_stream(container: InputContainer) -> AudioStream:
    stream = container.streams.best("audio")
    if not isinstance(stream, AudioStream):  # None: no audio stream at all
        found = ", ".join(f"{s.type} ({_codec_name(s)})" for s in container.streams)
        raise UnsupportedMediaType(
            f"file ({container.format.name}) contains no audio stream"
            f"{'; found ' + found if found else ''}; supported formats: {SUPPORTED_FORMATS}."
        )
    if stream.codec_context is None:  # FFmpeg knows no decoder for it
        raise UnsupportedMediaType(
            f"the audio codec in this {container.format.name} file cannot be decoded; "
            f"supported formats: {SUPPORTED_FORMATS}."
        )
    return stream


def _check_declared_duration(
    container: InputContainer, stream: AudioStream, limits: DecodeLimits
) -> None:
    """Refuse before decoding when the file's header says the audio is over a cap."""
    _check_rate(stream.codec_context.sample_rate or _MIN_RATE_HZ)  # 0: known once decoded
    if _HEADER_DURATION_FORMATS.isdisjoint(container.format.name.split(",")):
        return
    if stream.duration is not None and stream.time_base is not None:
        _check_duration(float(stream.duration * stream.time_base), limits, declared=True)
    elif container.duration is not None:  # else unknown: the running check will catch it
        _check_duration(container.duration / av.time_base, limits, declared=True)


def _check_rate(rate_hz: int) -> None:
    if not _MIN_RATE_HZ <= rate_hz <= _MAX_RATE_HZ:
        raise AudioDecodeError(
            f"audio file declares a sample rate of {rate_hz:,} Hz; "
            f"expected {_MIN_RATE_HZ:,} to {_MAX_RATE_HZ:,} Hz."
        )


def _check_duration(duration_s: float, limits: DecodeLimits, *, declared: bool = False) -> None:
    """Duration and canonical-bytes caps, for a declared length or for the audio decoded so far."""
    decoded_bytes = round(duration_s * SAMPLE_RATE_HZ) * BYTES_PER_SAMPLE
    if duration_s > limits.max_duration_s:
        amount, env = f"{_fmt_s(duration_s)} long", "DURATION_S"
        limit = _fmt_s(limits.max_duration_s)
    elif decoded_bytes > limits.max_decoded_bytes:
        amount, env = f"{_size(decoded_bytes)} as float32 16 kHz", "DECODED_BYTES"
        limit = _size(limits.max_decoded_bytes)
    else:
        return
    over = f"over the {limit} limit (HARKEN_LIMITS__MAX_{env})"
    if declared:
        raise PayloadTooLarge(f"audio is {amount}, {over}.")
    raise PayloadTooLarge(f"audio is {over}: refused after decoding {_fmt_s(duration_s)}.")


def _decoded_frames(container: InputContainer, stream: AudioStream) -> Iterator[AudioFrame]:
    """Decode packet by packet, skipping corrupt packets the way the ffmpeg CLI does."""
    good = bad = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.FFmpegError:
                bad += 1
                if good == 0 and bad > _MAX_BAD_PACKETS:
                    break  # nothing but garbage so far: do not grind through the rest
                continue
            good += 1
            yield from frames
    except av.FFmpegError as exc:
        # A demux error after good audio is a truncated file: keep what decoded (FFmpeg does).
        if good == 0:
            raise AudioDecodeError(f"audio file is corrupt or truncated ({_reason(exc)}).") from exc
    if bad > good:
        raise AudioDecodeError(f"audio file is corrupt: {bad} of {bad + good} packets failed.")


def _canonical_chunks(
    container: InputContainer, stream: AudioStream, limits: DecodeLimits
) -> Iterator[np.ndarray]:
    """Decoded frames -> mono -> 16 kHz -> clipped blocks, with the caps checked per frame."""
    bytes_per_s = SAMPLE_RATE_HZ * BYTES_PER_SAMPLE
    allowed_s = min(limits.max_duration_s, limits.max_decoded_bytes / bytes_per_s)
    resampler, decoded_s, produced = _Resampler(), 0.0, 0
    for frame in _decoded_frames(container, stream):
        if frame.samples == 0:
            continue
        _check_rate(frame.rate)
        decoded_s += frame.samples / frame.rate
        # Checked before resampling: a tiny file that expands to days stops at the cap.
        if decoded_s > allowed_s:
            _check_duration(decoded_s, limits)
        for out in resampler.feed(_to_mono(frame), frame.rate):
            produced += len(out)
            yield out
    for out in resampler.flush():
        produced += len(out)
        yield out
    if produced == 0:
        raise AudioDecodeError("audio file is corrupt or truncated: it decoded to no samples.")


def _to_mono(frame: AudioFrame) -> np.ndarray:
    """One frame to float32 mono: integers scaled to [-1, 1), channels averaged (not picked)."""
    channels = max(frame.layout.nb_channels, 1)
    array: np.ndarray = frame.to_ndarray()
    # Planar frames are (channels, samples); packed ones are (1, samples * channels).
    by_channel = array if frame.format.is_planar else array.reshape(-1, channels).T
    kind = frame.format.name.rstrip("p")
    if channels == 1 and kind == "flt":
        return np.asarray(by_channel[0])
    total: np.ndarray = by_channel.sum(axis=0, dtype=np.float64)
    if kind == "u8":
        total -= 128.0 * channels  # unsigned 8-bit PCM is centred on 128
    scale = _INT_SCALE.get(kind, 1.0) / channels
    return (total * scale).astype(np.float32)


class _Resampler:
    """Any rate to 16 kHz through one soxr stream, in blocks; a rate change starts a new one."""

    def __init__(self) -> None:
        self._rate_hz = 0
        self._stream: soxr.ResampleStream | None = None
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0

    def feed(self, mono: np.ndarray, rate_hz: int) -> list[np.ndarray]:
        done = []
        if rate_hz != self._rate_hz:
            done = self.flush()  # the old rate's tail, then a fresh filter for the new rate
            self._rate_hz = rate_hz
            if rate_hz != SAMPLE_RATE_HZ:  # at 16 kHz already: pass through untouched
                self._stream = soxr.ResampleStream(
                    rate_hz, SAMPLE_RATE_HZ, 1, dtype="float32", quality="HQ"
                )
        self._pending.append(mono)
        self._pending_samples += len(mono)
        if self._pending_samples >= _BLOCK_SAMPLES:
            done.append(self._resample(last=False))
        return [out for out in done if len(out)]

    def flush(self) -> list[np.ndarray]:
        out = self._resample(last=True) if self._rate_hz else np.zeros(0, np.float32)
        self._rate_hz, self._stream = 0, None
        return [out] if len(out) else []

    def _resample(self, *, last: bool) -> np.ndarray:
        block = np.concatenate(self._pending) if self._pending else np.zeros(0, np.float32)
        self._pending, self._pending_samples = [], 0
        if not np.isfinite(block).all():
            # Float PCM can hold NaN or inf; one would poison the filter state for good.
            block = np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
        out = block if self._stream is None else self._stream.resample_chunk(block, last=last)
        return np.clip(out, -1.0, 1.0, out=out)


def _describe(
    container: InputContainer, stream: AudioStream, size_bytes: int, hint: str | None
) -> AudioSource:
    names = container.format.name.split(",")
    # FFmpeg names demuxer families ("mov,mp4,m4a,..."); prefer the caller's own word for it.
    name = hint if hint in names else "mp4" if "mp4" in names else names[0]
    ctx = stream.codec_context
    rate_hz, channels = int(ctx.sample_rate or 0), int(ctx.layout.nb_channels) if ctx.layout else 0
    return AudioSource(name, ctx.codec.canonical_name, rate_hz, channels, size_bytes)


def _codec_name(stream: av.stream.Stream) -> str:
    return stream.codec_context.name if stream.codec_context is not None else "unknown codec"


def _reason(exc: Exception | None) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _size(n_bytes: float) -> str:
    return f"{n_bytes / MB:.1f} MB" if n_bytes >= MB / 10 else f"{int(n_bytes):,} bytes"


def _fmt_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
