"""analyze.py: levels, SNR and sound labels on real recordings and on signals made to measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harken.audio.analyze import (
    FLOOR_DBFS,
    AudioAnalysis,
    SoundSpan,
    analyze,
    classify_sounds,
    describe,
    estimate_snr_db,
)
from harken.audio.decode import decode_audio
from harken.audio.vad import Span, speech_spans

RATE_HZ = 16_000


@pytest.fixture(scope="module")
def jfk(audio_dir: Path) -> np.ndarray:
    return decode_audio(audio_dir / "jfk.wav").samples


def melody(duration_s: float, rate_hz: int) -> np.ndarray:
    """A music-like signal: notes of five harmonics over a bass line, 0.4 s each."""
    notes_hz = [220.0, 247.0, 262.0, 294.0, 330.0, 349.0, 392.0, 440.0]
    t = np.arange(int(0.4 * rate_hz)) / rate_hz
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-1.5 * t)  # attack, then a slow decay
    notes = []
    for i in range(int(duration_s / 0.4)):
        f_hz = notes_hz[(3 * i) % len(notes_hz)]
        tone = sum(0.5**k * np.sin(2 * np.pi * f_hz * (k + 1) * t) for k in range(5))
        bass = 0.5 * np.sin(2 * np.pi * notes_hz[(i // 4) % 4] / 2 * t)
        notes.append(envelope * (tone + bass))
    x = np.concatenate(notes)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def white_noise(duration_s: float, rate_hz: int, rms: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rms * rng.standard_normal(int(duration_s * rate_hz))).astype(np.float32)


def kinds_by_duration(sounds: tuple[SoundSpan, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in sounds:
        out[s.kind] = out.get(s.kind, 0.0) + s.duration_s
    return out


# --- real recordings -----------------------------------------------------------------------


def test_jfk_measures(jfk: np.ndarray) -> None:
    a = analyze(jfk)
    assert a.duration_s == pytest.approx(11.0, abs=0.01)
    assert 0.6 <= a.speech_ratio <= 0.98
    assert a.silence_spans and all(s.duration_s >= 0.3 for s in a.silence_spans)
    assert -30.0 < a.loudness_dbfs < -5.0
    assert a.loudness_dbfs < a.peak_dbfs <= 0.0
    assert a.noise_floor_dbfs < a.loudness_dbfs - 15.0
    assert a.snr_db is not None and a.snr_db > 15.0
    assert a.clipping_ratio < 1e-3
    # Every labelled sound lies inside a non-speech gap.
    for s in a.sounds:
        assert any(g.start_s <= s.start_s and s.end_s <= g.end_s for g in a.silence_spans), s
    # The two pauses between phrases are quiet.
    pauses = [s for s in a.sounds if s.kind == "silence" and s.duration_s > 0.5]
    assert len(pauses) >= 2


def test_monkeys_are_sound_not_silence(audio_dir: Path) -> None:
    monkeys = decode_audio(audio_dir / "asterisk_monkeys.wav").samples
    a = analyze(monkeys)
    assert a.speech_ratio < 0.1
    heard = sum(s.duration_s for s in a.sounds if s.kind != "silence")
    assert heard > 0.7 * a.duration_s, a.sounds
    text = describe(a)
    assert "no speech detected" in text and "other sounds: " in text


def test_digital_silence_between_two_copies_is_found(jfk: np.ndarray) -> None:
    joined = np.concatenate([jfk, np.zeros(3 * RATE_HZ, np.float32), jfk])
    a = analyze(joined)
    long_silences = [s for s in a.sounds if s.kind == "silence" and s.duration_s > 2.0]
    assert len(long_silences) == 1, a.sounds
    (silence,) = long_silences
    assert abs(silence.start_s - 11.0) <= 0.3
    # The second copy opens with ~0.3 s of quiet room before its first word: that is silence too.
    assert 14.0 - 0.3 <= silence.end_s <= 14.0 + 0.45
    # Digital zeros are an edit, not the room: the noise floor is still the recording's own.
    assert a.noise_floor_dbfs == pytest.approx(analyze(jfk).noise_floor_dbfs, abs=3.0)


def test_snr_falls_with_added_white_noise(jfk: np.ndarray) -> None:
    speech = speech_spans(jfk)
    speech_power = np.mean(np.concatenate(
        [jfk[round(s.start_s * RATE_HZ) : round(s.end_s * RATE_HZ)] for s in speech]
    ).astype(np.float64) ** 2)  # fmt: skip
    noise = white_noise(len(jfk) / RATE_HZ, RATE_HZ, rms=1.0, seed=5)
    noise *= np.sqrt(speech_power / 10 ** (5.0 / 10) / np.mean(noise.astype(np.float64) ** 2))
    noisy = np.clip(jfk + noise, -1.0, 1.0).astype(np.float32)  # 5 dB SNR on speech power

    clean_db = estimate_snr_db(jfk, RATE_HZ, speech)
    noisy_db = estimate_snr_db(noisy, RATE_HZ, speech_spans(noisy))
    assert clean_db is not None and noisy_db is not None
    assert 0.0 <= noisy_db <= 12.0
    assert clean_db >= noisy_db + 10.0
    noisy_analysis = analyze(noisy)
    assert noisy_analysis.snr_db == pytest.approx(noisy_db, abs=0.01)
    # Its pauses are the added noise, not silence.
    assert kinds_by_duration(noisy_analysis.sounds).get("noise", 0.0) > 1.0


# --- signals made to measure ---------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [8_000, 16_000, 44_100])
def test_melody_is_music_and_white_noise_is_noise(rate_hz: int) -> None:
    music = analyze(melody(6.0, rate_hz), rate_hz)
    assert music.speech_spans == ()
    assert kinds_by_duration(music.sounds) == {"music": pytest.approx(6.0, abs=0.05)}
    assert all("likely" in s.description for s in music.sounds)
    noise = analyze(white_noise(4.0, rate_hz), rate_hz)
    assert noise.speech_spans == ()
    assert kinds_by_duration(noise.sounds) == {"noise": pytest.approx(4.0, abs=0.05)}


def test_brown_noise_is_noise_and_a_dial_tone_is_not_music() -> None:
    rng = np.random.default_rng(1)
    brown = np.cumsum(rng.standard_normal(3 * RATE_HZ))
    brown -= np.convolve(brown, np.ones(1601) / 1601, "same")  # keep it centred
    brown = (0.1 * brown / brown.std()).astype(np.float32)
    everything = [Span(0.0, 3.0)]
    assert {s.kind for s in classify_sounds(brown, RATE_HZ, everything, speech_dbfs=None)} == {
        "noise"
    }
    t = np.arange(3 * RATE_HZ) / RATE_HZ
    dial = (0.1 * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))).astype(np.float32)
    (tone,) = classify_sounds(dial, RATE_HZ, everything, speech_dbfs=None)
    assert tone.kind == "other" and "steady tone" in tone.description


def test_quiet_background_under_speech_counts_as_silence() -> None:
    hiss = white_noise(2.0, RATE_HZ, rms=0.003)  # -50.5 dBFS
    gap = [Span(0.0, 2.0)]
    assert classify_sounds(hiss, RATE_HZ, gap, speech_dbfs=-15.0)[0].kind == "silence"
    # The same hiss with no speech to compare with (or under quiet speech) is heard as noise.
    louder = hiss * 10  # -30.5 dBFS
    assert classify_sounds(louder, RATE_HZ, gap, speech_dbfs=None)[0].kind == "noise"
    assert classify_sounds(louder, RATE_HZ, gap, speech_dbfs=-25.0)[0].kind == "noise"


def test_levels_of_a_sine_with_the_speech_given() -> None:
    t = np.arange(2 * RATE_HZ) / RATE_HZ
    sine = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    a = analyze(sine, RATE_HZ, speech=[])
    assert a.speech_spans == () and a.speech_ratio == 0.0 and a.snr_db is None
    assert a.loudness_dbfs == pytest.approx(-9.03, abs=0.05)  # RMS of 0.5 sin: 0.354
    assert a.peak_dbfs == pytest.approx(-6.02, abs=0.05)
    given = analyze(sine, RATE_HZ, speech=[Span(1.0, 2.0), Span(0.0, 0.5)])
    assert given.speech_spans == (Span(0.0, 0.5), Span(1.0, 2.0))  # sorted
    assert given.speech_ratio == pytest.approx(0.75)
    assert given.silence_spans == (Span(0.5, 1.0),)


def test_clipping_and_digital_silence() -> None:
    t = np.arange(RATE_HZ) / RATE_HZ
    clipped = np.clip(2.0 * np.sin(2 * np.pi * 440 * t), -1.0, 1.0).astype(np.float32)
    a = analyze(clipped, RATE_HZ, speech=[])
    assert a.clipping_ratio > 0.5 and a.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert "clipping" in describe(a)
    zeros = analyze(np.zeros(RATE_HZ, np.float32))
    assert zeros.noise_floor_dbfs == zeros.loudness_dbfs == zeros.peak_dbfs == FLOOR_DBFS
    assert [s.kind for s in zeros.sounds] == ["silence"]
    assert "silence" in describe(zeros)
    empty = analyze(np.zeros(0, np.float32))
    assert empty.duration_s == 0.0 and empty.sounds == () and empty.speech_ratio == 0.0


def test_estimate_snr_needs_speech() -> None:
    assert estimate_snr_db(white_noise(1.0, RATE_HZ), RATE_HZ, []) is None
    with pytest.raises(ValueError, match="1-D"):
        estimate_snr_db(np.zeros((2, 100), np.float32), RATE_HZ, [])


# --- describe ------------------------------------------------------------------------------


def test_describe_jfk(jfk: np.ndarray) -> None:
    text = describe(analyze(jfk))
    assert text.startswith("speech 8.2 s (74%) in 4 stretches; pauses over 0.5 s at ")
    assert "2.3–3.2 s, 4.5–5.3 s;" in text  # the two long pauses between the phrases
    assert "SNR " in text and "dBFS" in text
    assert "\n" not in text and len(text) < 300


def test_describe_stays_short_for_long_files() -> None:
    speech = tuple(Span(10.0 * i, 10.0 * i + 8.0 + (i % 7) * 0.1) for i in range(300))
    sounds = tuple(
        SoundSpan(s.end_s, s.end_s + 1.0, "music", "likely music (held tones, changing pitch)")
        for s in speech
    )
    a = AudioAnalysis(
        duration_s=3000.0, speech_spans=speech, silence_spans=sounds, speech_ratio=0.8,
        loudness_dbfs=-20.0, peak_dbfs=-1.0, noise_floor_dbfs=-60.0, snr_db=40.0,
        clipping_ratio=0.0, sounds=sounds,
    )  # fmt: skip
    text = describe(a)
    assert len(text) < 800  # two lists of at most MAX_LISTED spans
    assert "in 300 stretches" in text and "(and 290 shorter)" in text
    assert "likely music" in text and "held tones" not in text  # the label, not the explanation
    assert "SNR 40 dB (clean)" in text
