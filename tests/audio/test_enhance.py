"""enhance.py: RNNoise through pyrnnoise keeps length and timing, and removes noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harken.audio.analyze import estimate_snr_db
from harken.audio.decode import decode_audio
from harken.audio.enhance import denoise, denoise_with_report
from harken.audio.vad import speech_spans

RATE_HZ = 16_000


@pytest.fixture(scope="module")
def jfk(audio_dir: Path) -> np.ndarray:
    return decode_audio(audio_dir / "jfk.wav").samples


def with_white_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``x`` plus white noise at ``snr_db`` below the speech's power (measured over speech)."""
    spans = speech_spans(x, RATE_HZ)
    speech = np.concatenate([x[round(s.start_s * RATE_HZ) : round(s.end_s * RATE_HZ)] for s in spans])
    noise = np.random.default_rng(seed).standard_normal(len(x)).astype(np.float32)
    scale = np.sqrt(np.mean(speech.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
    return np.clip(x + scale * noise, -1, 1).astype(np.float32)


def test_keeps_length_and_rate_and_handles_empty() -> None:
    x = 0.1 * np.sin(2 * np.pi * 200 * np.arange(12_345) / 8000).astype(np.float32)
    assert denoise(x, 8000).shape == x.shape
    assert denoise(x, 48_000).dtype == np.float32
    assert len(denoise(np.zeros(0, np.float32), RATE_HZ)) == 0


@pytest.mark.parametrize("bad", [np.zeros((2, 100), np.float32)])
def test_rejects_non_mono(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="mono"):
        denoise(bad, RATE_HZ)


def test_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        denoise(np.zeros(100, np.float32), 0)


def test_clean_speech_stays_in_time(jfk: np.ndarray) -> None:
    """RNNoise's 20 ms delay is taken out: the output lines up with the input to the sample."""
    y = denoise(jfk, RATE_HZ)
    core = slice(4000, len(jfk) - 4000)
    lags = range(-40, 41)
    corr = [float(np.dot(jfk[core], np.roll(y, -lag)[core])) for lag in lags]
    assert list(lags)[int(np.argmax(corr))] == 0
    # Clean speech is mostly kept: most of its energy survives.
    assert np.sum(y[core] ** 2) > 0.5 * np.sum(jfk[core] ** 2)


def test_white_noise_alone_is_suppressed() -> None:
    noise = 0.05 * np.random.default_rng(1).standard_normal(3 * RATE_HZ).astype(np.float32)

    def drop_db(out: np.ndarray) -> float:
        return 10 * np.log10(np.mean(noise[RATE_HZ:] ** 2) / max(1e-20, np.mean(out[RATE_HZ:] ** 2)))

    assert drop_db(denoise(noise, RATE_HZ, keep_input=0.0)) > 15
    # 40 % of the input mixed back bounds the drop near 8 dB.
    assert 6 < drop_db(denoise(noise, RATE_HZ)) < 8.5


def test_rejects_bad_keep_input() -> None:
    with pytest.raises(ValueError, match="keep_input"):
        denoise(np.zeros(100, np.float32), RATE_HZ, keep_input=1.5)


def test_snr_rises_at_least_6_db_on_jfk_at_5_db(jfk: np.ndarray) -> None:
    noisy = with_white_noise(jfk, 5.0)
    spans = speech_spans(jfk, RATE_HZ)
    clean, report = denoise_with_report(noisy, RATE_HZ, spans)
    assert report.method == "rnnoise"
    assert report.snr_before_db == pytest.approx(estimate_snr_db(noisy, RATE_HZ, spans))
    assert 3.0 < report.snr_before_db < 8.0, report  # the estimate finds the 5 dB we mixed
    assert report.snr_after_db - report.snr_before_db >= 6.0, report
    print(f"jfk + white noise at 5 dB: SNR {report.snr_before_db:.1f} -> {report.snr_after_db:.1f} dB")
