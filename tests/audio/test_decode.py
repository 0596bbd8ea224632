"""decode.py: every container and codec we accept, exact PCM maths, the caps, and bad input."""

from __future__ import annotations

import base64
import io
import struct
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soxr

from harken.audio.decode import DecodeLimits, decode_audio, iter_decoded_chunks, load_audio_input
from harken.audio.inline import decode_base64, parse_data_url
from harken.errors import AudioDecodeError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from harken.types import Audio
from tests.audiofiles import encode

SHARED_AUDIO = (Path(__file__).resolve().parents[2] / ".." / "shared" / "audio").resolve()
MB = 1024 * 1024


def shared(name: str) -> Path:
    path = SHARED_AUDIO / name
    if not path.is_file():
        pytest.fail(f"test audio {path} is missing: these tests need ../shared/audio beside main/")
    return path


# --- helpers -------------------------------------------------------------------------------


def wav_bytes(channels: np.ndarray, rate: int, sample_format: str) -> bytes:
    """A WAV file written by hand, so the stored PCM values are exactly known."""
    frames = np.ascontiguousarray(channels.T)  # interleave
    if sample_format == "s24":
        as32 = frames.astype("<i4").reshape(-1, 1).view(np.uint8).reshape(-1, 4)
        payload, width, tag = as32[:, :3].tobytes(), 3, 1
    else:
        dtype, tag = {"u8": ("u1", 1), "s16": ("<i2", 1), "s32": ("<i4", 1), "f32": ("<f4", 3)}[
            sample_format
        ]
        payload, width = frames.astype(dtype).tobytes(), np.dtype(dtype).itemsize
    n_channels = channels.shape[0]
    fmt_chunk = struct.pack(
        "<HHIIHH", tag, n_channels, rate, rate * n_channels * width, n_channels * width, width * 8
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 1600, up: int = 8) -> float:
    """Normalised cross-correlation at the best lag within 0.1 s, found to 1/8 sample.

    Codec delays are rarely whole 16 kHz samples (AAC primes 1024 samples at 48 kHz, a third
    of a sample here), and a fractional misalignment alone would cost speech a few percent.
    """
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    size = 2 * n  # zero-padded: a circular correlation would wrap the ends around
    xc = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), up * size) * up
    near_zero_lag = np.r_[xc[: max_lag * up + 1], xc[-max_lag * up :]]
    return float(near_zero_lag.max() / (np.linalg.norm(a) * np.linalg.norm(b)))


class Pipe(io.RawIOBase):
    """An unseekable binary stream, like a socket or stdin: reads come back 1000 bytes at most."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        return self._inner.readinto(memoryview(buffer)[:1000])


def tone(freq_hz: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq_hz * np.arange(int(rate * seconds)) / rate)


def peak_hz(samples: np.ndarray, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def speech() -> Audio:
    """A real 3.5 s LibriSpeech utterance (16 kHz float64 WAV), decoded: the reference."""
    return decode_audio(shared("librispeech_1.wav"))


# --- every container and codec -------------------------------------------------------------

# id: (muxer, codec, rate, layout, filename, expected container, expected codec)
CASES = {
    "wav-u8-8k-mono": ("wav", "pcm_u8", 8000, "mono", "a.wav", "wav", "pcm_u8"),
    "wav-s16-22k-stereo": ("wav", "pcm_s16le", 22050, "stereo", "a.wav", "wav", "pcm_s16le"),
    "wav-s24-44k-6ch": ("wav", "pcm_s24le", 44100, "5.1", "a.wav", "wav", "pcm_s24le"),
    "wav-s32-48k-stereo": ("wav", "pcm_s32le", 48000, "stereo", "a.wav", "wav", "pcm_s32le"),
    "wav-f32-16k-mono": ("wav", "pcm_f32le", 16000, "mono", "a.wav", "wav", "pcm_f32le"),
    "wav-f32-48k-6ch": ("wav", "pcm_f32le", 48000, "5.1", "a.wav", "wav", "pcm_f32le"),
    "flac-44k-stereo": ("flac", "flac", 44100, "stereo", "a.flac", "flac", "flac"),
    "flac-8k-mono": ("flac", "flac", 8000, "mono", "a.flac", "flac", "flac"),
    "mp3-44k-stereo": ("mp3", "libmp3lame", 44100, "stereo", "a.mp3", "mp3", "mp3"),
    "mpga-16k-mono": ("mp3", "libmp3lame", 16000, "mono", "a.mpga", "mp3", "mp3"),
    "mpeg-ps-mp2-48k": ("mpeg", "mp2", 48000, "stereo", "a.mpeg", "mpeg", "mp2"),
    "mp4-aac-48k-stereo": ("mp4", "aac", 48000, "stereo", "a.mp4", "mp4", "aac"),
    "m4a-aac-22k-mono": ("ipod", "aac", 22050, "mono", "a.m4a", "m4a", "aac"),
    "adts-aac-16k-mono": ("adts", "aac", 16000, "mono", "a.aac", "aac", "aac"),
    "ogg-vorbis-44k-stereo": ("ogg", "vorbis", 44100, "stereo", "a.ogg", "ogg", "vorbis"),
    "oga-opus-48k-mono": ("ogg", "libopus", 48000, "mono", "a.oga", "ogg", "opus"),
    "webm-opus-48k-stereo": ("webm", "libopus", 48000, "stereo", "a.webm", "webm", "opus"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_format_decodes_to_the_same_canonical_audio(speech: Audio, case: str) -> None:
    muxer, codec, rate, layout, filename, container, codec_name = CASES[case]
    n_channels = av.AudioLayout(layout).nb_channels
    # Channels at different levels (1.0 down to 0.5): a true mean is 0.75x, picking one is not.
    weights = np.linspace(1.0, 0.5, n_channels) if n_channels > 1 else np.ones(1)
    at_rate = soxr.resample(speech.samples, 16000, rate, quality="VHQ")
    data = encode(weights[:, None] * at_rate[None, :], rate, muxer, codec, layout)
    # Below 16 kHz the file itself cannot hold the top band: compare with what it can hold.
    expected = speech.samples
    if rate < 16000:
        expected = soxr.resample(at_rate, rate, 16000, quality="VHQ")

    audio = decode_audio(data, filename=filename)

    assert audio.sample_rate_hz == 16000
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.duration_s - speech.duration_s) < 0.1
    assert audio.samples.min() >= -1.0 and audio.samples.max() <= 1.0
    assert best_correlation(audio.samples, expected) > 0.9
    assert rms(audio.samples) / rms(expected) == pytest.approx(weights.mean(), rel=0.1)
    src = audio.source
    assert (src.container, src.codec, src.channels, src.size_bytes) == (
        container, codec_name, n_channels, len(data)
    )  # fmt: skip
    assert src.sample_rate_hz == (48000 if codec == "libopus" else rate)


@pytest.mark.parametrize(
    "name", ["jfk.wav", "bcn_weather.mp3", "winning_call.mp3", "asterisk_en_tt-weasels.wav"]
)
def test_shared_recordings_decode(name: str) -> None:
    with av.open(str(shared(name))) as probe:
        expected_s = probe.duration / av.time_base
    audio = decode_audio(shared(name))
    assert audio.samples.dtype == np.float32 and audio.sample_rate_hz == 16000
    assert abs(audio.duration_s - expected_s) < 0.1
    assert rms(audio.samples) > 0.001 and np.abs(audio.samples).max() <= 1.0


def test_real_vorbis_recording_decodes() -> None:
    audio = decode_audio(str(shared("VOA_News_Headlines_(May_5,_2009).ogg")))
    assert audio.source.codec == "vorbis" and audio.source.sample_rate_hz == 22050
    assert audio.duration_s == pytest.approx(293.56, abs=0.1)


def test_input_kinds_give_identical_samples() -> None:
    path = shared("asterisk_en_tt-weasels.wav")
    data = path.read_bytes()
    expected = decode_audio(data).samples
    sources = (bytearray(data), memoryview(data), path, str(path), io.BytesIO(data), Pipe(data))
    for source in sources:
        assert np.array_equal(decode_audio(source).samples, expected), type(source)
    assert np.array_equal(np.concatenate(list(iter_decoded_chunks(path))), expected)


# --- exact PCM maths: scaling, downmix, resampling -------------------------------------------


@pytest.mark.parametrize(
    ("sample_format", "stored", "expected"),
    [
        ("u8", [192, 64, 128], [0.5, -0.5, 0.0]),
        ("s16", [16384, -32768, 0], [0.5, -1.0, 0.0]),
        ("s24", [2**22, -(2**23), 0], [0.5, -1.0, 0.0]),
        ("s32", [2**30, -(2**31), 0], [0.5, -1.0, 0.0]),
        ("f32", [0.5, -1.0, 0.0], [0.5, -1.0, 0.0]),
    ],
)
def test_integer_pcm_is_scaled_exactly(
    sample_format: str, stored: list[float], expected: list[float]
) -> None:
    stored_values = np.tile(np.array(stored, dtype=np.float64), 1000)
    audio = decode_audio(wav_bytes(stored_values[None, :], 16000, sample_format))
    assert np.array_equal(audio.samples, np.tile(np.array(expected, np.float32), 1000))


def test_downmix_averages_channels_exactly() -> None:
    x = tone(440, 16000, 1.0).astype(np.float32)
    cancelling = decode_audio(wav_bytes(np.stack([x, -x]), 16000, "f32"))
    assert np.abs(cancelling.samples).max() == 0.0  # picking a channel would leave the tone
    same = decode_audio(wav_bytes(np.stack([x, x]), 16000, "f32"))
    assert np.array_equal(same.samples, x)
    levels = np.arange(1, 7, dtype=np.float32)[:, None] / 10 * np.ones((6, 1600), np.float32)
    six = decode_audio(wav_bytes(levels, 16000, "f32"))
    assert np.allclose(six.samples, 0.35, atol=1e-6)


def test_resampling_removes_content_above_8khz_instead_of_aliasing_it() -> None:
    # Keeping every 3rd sample of a 12 kHz tone at 48 kHz would fold it to a full-level 4 kHz.
    high = decode_audio(wav_bytes(tone(12_000, 48_000, 1.0)[None, :], 48_000, "f32"))
    assert len(high.samples) == 16_000
    assert rms(high.samples) < 0.01
    low = decode_audio(wav_bytes(tone(1_000, 44_100, 1.0, 16384)[None, :], 44_100, "s16"))
    assert rms(low.samples[800:-800]) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    assert peak_hz(low.samples) == pytest.approx(1000, abs=2)


def test_clips_float_pcm_to_unit_range_and_zeroes_nan() -> None:
    values = np.array([4.0, -4.0, np.nan, 0.25] * 400, dtype=np.float32)
    audio = decode_audio(wav_bytes(values[None, :], 16000, "f32"))
    assert audio.samples.max() == 1.0 and audio.samples.min() == -1.0
    assert np.isfinite(audio.samples).all() and audio.samples[3] == 0.25


def test_sample_rate_change_mid_stream_resamples_each_part_at_its_own_rate() -> None:
    first = encode(tone(440, 44100, 1.0)[None, :], 44100, "mp3", "libmp3lame", "mono")
    second = encode(tone(440, 22050, 1.0)[None, :], 22050, "mp3", "libmp3lame", "mono")
    audio = decode_audio(first + second)
    assert audio.duration_s == pytest.approx(2.0, abs=0.15)
    # Reading either part at the other's rate would put the tone at 220 or 880 Hz.
    assert peak_hz(audio.samples[2000:14000]) == pytest.approx(440, abs=5)
    assert peak_hz(audio.samples[-14000:-2000]) == pytest.approx(440, abs=5)


# --- limits --------------------------------------------------------------------------------


def test_upload_over_the_limit_is_refused_before_reading() -> None:
    class Huge(io.RawIOBase):  # claims 600 MB; reading it would fail the test
        def seekable(self) -> bool:
            return True

        def tell(self) -> int:
            return 0

        def seek(self, offset: int, whence: int = 0) -> int:
            return 600 * MB if whence == io.SEEK_END else 0

    with pytest.raises(PayloadTooLarge) as err:
        decode_audio(Huge())  # type: ignore[arg-type]
    assert err.value.status_code == 413
    assert err.value.message == (
        "audio file is 600.0 MB, over the 512.0 MB limit (HARKEN_LIMITS__MAX_UPLOAD_BYTES)."
    )
    with pytest.raises(PayloadTooLarge, match=r"1\.9 MB, over the 1\.0 MB limit"):
        decode_audio(shared("jfk.wav"), DecodeLimits(max_upload_bytes=MB))
    with pytest.raises(PayloadTooLarge) as err:  # unseekable: size unknown, read to the cap
        decode_audio(Pipe(WAV), DecodeLimits(max_upload_bytes=1000))
    assert err.value.message == (
        "audio file is over the 1,000 bytes limit (HARKEN_LIMITS__MAX_UPLOAD_BYTES)."
    )


def test_declared_duration_over_the_limit_is_refused_up_front() -> None:
    with pytest.raises(PayloadTooLarge) as err:
        decode_audio(shared("jfk.wav"), DecodeLimits(max_duration_s=3.0))
    assert err.value.message == (
        "audio is 11.0 s long, over the 3.0 s limit (HARKEN_LIMITS__MAX_DURATION_S)."
    )


def long_silence_flac(minutes: int) -> bytes:
    """FLAC of silence (tiny: ~11 KB a minute) whose header does not say how long it is."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=16000)
        stream.layout, stream.format = "mono", "s16"
        for _ in range(minutes * 6):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 160_000), np.int16), "s16", "mono")
            frame.rate = 16000
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = bytearray(buf.getvalue())
    # STREAMINFO's total-samples field (low 36 bits of bytes 18..25) set to 0, "unknown".
    fields = int.from_bytes(data[18:26], "big") & ~((1 << 36) - 1)
    data[18:26] = fields.to_bytes(8, "big")
    return bytes(data)


def test_tiny_file_expanding_past_the_duration_cap_is_stopped_while_decoding() -> None:
    data = long_silence_flac(minutes=20)

    class Counting(io.BytesIO):
        bytes_read = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            self.bytes_read += len(chunk)
            return chunk

    reader = Counting(data)
    started = time.perf_counter()
    with pytest.raises(PayloadTooLarge) as err:
        decode_audio(reader, DecodeLimits(max_duration_s=1.0))
    assert time.perf_counter() - started < 0.5
    assert reader.bytes_read < len(data) / 4  # it stopped early, not after decoding 20 minutes
    assert err.value.message == (
        "audio is over the 1.0 s limit (HARKEN_LIMITS__MAX_DURATION_S): "
        "refused after decoding 1.0 s."
    )


def test_decoded_bytes_over_the_limit_are_refused() -> None:
    # 64,000 bytes is one second of float32 16 kHz; the mp3 is 11 s.
    with pytest.raises(PayloadTooLarge) as err:
        decode_audio(shared("bcn_weather.mp3"), DecodeLimits(max_decoded_bytes=64_000))
    assert "over the 64,000 bytes limit (HARKEN_LIMITS__MAX_DECODED_BYTES)" in err.value.message
    with pytest.raises(PayloadTooLarge, match=r"is 0\.7 MB as float32 16 kHz, over the 0\.5 MB"):
        decode_audio(shared("jfk.wav"), DecodeLimits(max_decoded_bytes=MB // 2))


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_duration_s must be positive"):
        DecodeLimits(max_duration_s=0)


# --- bad input -----------------------------------------------------------------------------


def png_bytes() -> bytes:
    image = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 16, 16, "rgb24"
    return b"".join(bytes(p) for p in encoder.encode(image))


def video_without_audio() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            image = np.full((32, 32, 3), i * 40, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    return buf.getvalue()


def wav_claiming_huge_data(payload: bytes) -> bytes:
    header = bytearray(wav_bytes(np.zeros((1, 1)), 8000, "s16")[:44])
    header[40:44] = struct.pack("<I", 0x7FFF_FFF0)  # "2 GB of samples follow"
    return bytes(header) + payload


MP3 = shared("bcn_weather.mp3").read_bytes()
WAV = shared("asterisk_en_tt-weasels.wav").read_bytes()
RANDOM = np.random.default_rng(0).integers(0, 256, 65_536, dtype=np.uint8).tobytes()

BAD_INPUTS = {
    "empty": (b"", AudioDecodeError, "audio file is empty"),
    "text": (b"hello, this is not audio\n" * 40, UnsupportedMediaType, "not in a recognised"),
    "json": (b'{"audio": "nope"}', UnsupportedMediaType, "supported formats: wav, flac, mp3"),
    "random-bytes": (RANDOM, UnsupportedMediaType, "not in a recognised audio format"),
    "png": (png_bytes(), UnsupportedMediaType, "no audio stream; found video (png)"),
    "video-only-mp4": (video_without_audio(), UnsupportedMediaType, "no audio stream"),
    "wav-unknown-codec": (
        WAV[:20] + b"\x34\x12" + WAV[22:],  # format tag 0x1234: no decoder exists
        UnsupportedMediaType,
        "audio codec in this wav file cannot be decoded",
    ),
    "wav-claims-1-hz": (
        WAV[:24] + struct.pack("<I", 1) + WAV[28:],  # would expand 16,000-fold
        AudioDecodeError,
        "sample rate of 1 Hz; expected 1,000 to 768,000 Hz",
    ),
    "wav-header-cut": (WAV[:20], AudioDecodeError, "corrupt or truncated"),
    "wav-header-only": (WAV[:44], AudioDecodeError, "decoded to no samples"),
    "wav-claims-huge-data": (wav_claiming_huge_data(b""), AudioDecodeError, "no samples"),
    "mp3-first-300-bytes": (MP3[:300], AudioDecodeError, "corrupt or truncated"),
    "mp3-frame-then-garbage": (MP3[:2000] + RANDOM, AudioDecodeError, "corrupt or truncated"),
    "flac-header-then-garbage": (b"fLaC" + RANDOM, AudioDecodeError, "corrupt or truncated"),
    "ogg-page-then-garbage": (b"OggS" + RANDOM, AudioDecodeError, "corrupt or truncated"),
    "hls-playlist": (
        b"#EXTM3U\n#EXTINF:10,\nfile:///work/shared/audio/jfk.wav\n#EXT-X-ENDLIST\n",
        UnsupportedMediaType,
        "not in a recognised",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_raises_the_right_error(case: str) -> None:
    data, error, message = BAD_INPUTS[case]
    with pytest.raises(error) as err:
        decode_audio(data)
    assert type(err.value) is error
    assert message in err.value.message


def test_truncated_files_keep_the_part_that_decodes() -> None:
    half = decode_audio(MP3[: len(MP3) // 2])
    assert half.duration_s == pytest.approx(decode_audio(MP3).duration_s / 2, abs=0.1)
    one_second = decode_audio(wav_claiming_huge_data(WAV[44 : 44 + 16_000]))
    assert one_second.duration_s == pytest.approx(1.0, abs=0.01)


def test_large_garbage_finishes_quickly() -> None:
    junk = np.random.default_rng(0).integers(0, 256, 4 * MB, dtype=np.uint8).tobytes()
    started = time.perf_counter()
    with pytest.raises((UnsupportedMediaType, AudioDecodeError)):
        decode_audio(b"\xff\xfb\x90\x00" + junk)  # an mp3 frame sync, then noise
    with pytest.raises(UnsupportedMediaType):
        decode_audio(junk)
    assert time.perf_counter() - started < 5.0


def test_missing_path_says_so() -> None:
    with pytest.raises(InvalidRequest, match=r"no such audio file: nowhere/missing\.wav"):
        decode_audio("nowhere/missing.wav")
    with pytest.raises(InvalidRequest, match="no such audio file"):
        decode_audio(Path("nowhere/missing.wav"))
    with pytest.raises(InvalidRequest, match="no such audio file: /data/calls/call1"):
        decode_audio("/data/calls/call1")  # every character is base64, but it is a path
    as_text = "data:audio/wav;base64," + base64.b64encode(WAV).decode()
    assert np.array_equal(decode_audio(as_text).samples, decode_audio(WAV).samples)


# --- data URLs, base64 and inline input ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("data:audio/wav;base64,UklGRg==", ("audio/wav", b"RIFF")),
        ("DATA:Audio/WAV;BASE64,UklGRg", ("audio/wav", b"RIFF")),
        ("data:audio/webm;codecs=opus;base64,AAEC", ("audio/webm", b"\x00\x01\x02")),
        ("data:audio/wav;base64,UklG\r\nRg%3D%3D", ("audio/wav", b"RIFF")),
        ("data:application/octet-stream,%00%01A+b", ("application/octet-stream", b"\x00\x01A+b")),
        ("data:,plain", ("", b"plain")),
        ("  data:audio/mpeg;base64,-_8=  ", ("audio/mpeg", b"\xfb\xff")),
    ],
)
def test_parse_data_url(url: str, expected: tuple[str, bytes]) -> None:
    assert parse_data_url(url) == expected


@pytest.mark.parametrize("url", ["http://example.com/a.wav", "data:audio/wav;base64", "UklGRg=="])
def test_parse_data_url_rejects_non_data_urls(url: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a data: URL"):
        parse_data_url(url, param="input_audio")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("UklGRg==", b"RIFF"),
        ("UklGRg", b"RIFF"),
        (" Ukl\nGRg=\t=\n", b"RIFF"),
        ("+/8=", b"\xfb\xff"),
        ("-_8", b"\xfb\xff"),
        ("", b""),
    ],
)
def test_decode_base64(text: str, expected: bytes) -> None:
    assert decode_base64(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not base64!", "unexpected character '!' at position 9"),
        ("UklGRg==\u00e9", "unexpected character 'é' at position 8"),
        ("UklGR===", "bad padding or length"),
        ("Uk=lGRg", "bad padding or length"),
        ("UklGR", "bad padding or length"),
    ],
)
def test_decode_base64_rejects_garbage_naming_the_param(text: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        decode_base64(text, param="messages[0].content[1].input_audio.data")
    assert err.value.message == (
        f"messages[0].content[1].input_audio.data is not valid base64: {reason}."
    )
    assert err.value.param == "messages[0].content[1].input_audio.data"
    assert err.value.status_code == 400


def test_load_audio_input_accepts_data_urls_base64_bytes_and_paths() -> None:
    expected = decode_audio(WAV).samples
    b64 = base64.b64encode(WAV).decode()
    for value in (f"data:audio/wav;base64,{b64}", b64, "\n".join([b64[:76], b64[76:]]), WAV):
        assert np.array_equal(load_audio_input(value, format_hint="wav").samples, expected)
    assert np.array_equal(load_audio_input(shared("asterisk_en_tt-weasels.wav")).samples, expected)
    mp3 = load_audio_input("data:audio/mpeg;base64," + base64.urlsafe_b64encode(MP3).decode())
    assert mp3.source.container == "mp3" and mp3.duration_s == pytest.approx(11.04, abs=0.05)


def test_load_audio_input_never_reads_a_string_as_a_server_path() -> None:
    with pytest.raises(InvalidRequest, match="input_audio is not valid base64") as err:
        load_audio_input(str(shared("jfk.wav")), param="input_audio")
    assert err.value.param == "input_audio"


def test_load_audio_input_refuses_non_audio_media_types() -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        load_audio_input("data:image/png;base64,iVBORw0KGgo=", param="audio_url")
    assert "'image/png', which is not audio" in err.value.message
    assert err.value.param == "audio_url" and err.value.status_code == 415
    for mime in ("video/webm", "application/octet-stream", "audio/x-wav"):
        url = f"data:{mime};base64,{base64.b64encode(WAV).decode()}"
        assert load_audio_input(url).source.codec == "pcm_s16le"


def test_load_audio_input_errors_carry_the_param_and_limits() -> None:
    with pytest.raises(AudioDecodeError) as err:
        load_audio_input(base64.b64encode(WAV[:44]).decode(), param="file")
    assert err.value.param == "file"
    with pytest.raises(PayloadTooLarge, match="over the 1,000 bytes limit"):
        load_audio_input("A" * 4000, DecodeLimits(max_upload_bytes=1000))
    with pytest.raises(UnsupportedMediaType):
        load_audio_input(base64.b64encode(b"just some text").decode())
