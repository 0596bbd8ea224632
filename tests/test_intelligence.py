"""harken.intelligence through the library (``Service``): speakers, languages per segment,
denoising, sentiment and the analysis on real recordings; segment splitting exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harken.audio.decode import decode_audio
from harken.audio.diarize import SpeakerCount, SpeakerTurn
from harken.intelligence import IntelligenceOptions, detector_for, label_speakers
from harken.service import Service
from harken.types import Audio, Segment, TranscribeOptions, Word
from tests.audio.test_enhance import with_white_noise
from tests.conversation import Turn, conversation, join, labelled_fraction, trimmed
from tests.wer import wer

# --- pure ----------------------------------------------------------------------------------------


def _word(a: float, b: float, text: str) -> Word:
    return Word(a, b, text)


def test_label_speakers_splits_a_segment_where_the_voice_changes() -> None:
    seg = Segment(
        0, 0.0, 4.0, " hello there general kenobi",
        words=(_word(0.0, 0.5, " hello"), _word(0.6, 1.0, " there"),
               _word(2.1, 2.9, " general"), _word(3.0, 4.0, " kenobi")),
        tokens=(1, 2, 3),
    )  # fmt: skip
    lone = Segment(1, 5.0, 6.0, " bye")  # no words: labelled by overlap
    turns = [SpeakerTurn(0.0, 1.9, "A"), SpeakerTurn(2.0, 4.2, "B"), SpeakerTurn(4.9, 6.0, "A")]
    out = label_speakers([seg, lone], turns)
    assert [(s.id, s.speaker, s.text) for s in out] == [
        (0, "A", " hello there"), (1, "B", " general kenobi"), (2, "A", " bye")
    ]  # fmt: skip
    assert (out[0].start_s, out[0].end_s, out[1].start_s, out[1].end_s) == (0.0, 1.0, 2.1, 4.0)
    assert out[0].tokens == (1, 2, 3) and out[1].tokens == ()
    assert [w.speaker for w in out[0].words + out[1].words] == ["A", "A", "B", "B"]


def test_a_word_in_a_gap_takes_the_nearest_speaker() -> None:
    seg = Segment(0, 0.0, 3.0, " a b", words=(_word(0.0, 1.0, " a"), _word(2.6, 2.9, " b")))
    out = label_speakers([seg], [SpeakerTurn(0.0, 1.0, "A"), SpeakerTurn(3.0, 4.0, "B")])
    assert [s.speaker for s in out] == ["A", "B"]


def test_no_turns_leaves_segments_alone() -> None:
    seg = Segment(0, 0.0, 1.0, " x")
    assert label_speakers([seg], []) == [seg]


def test_options_ask_for_words_only_when_diarizing() -> None:
    opts = TranscribeOptions(word_timestamps=False)
    assert IntelligenceOptions(diarize=True).transcribe_options(opts).word_timestamps
    assert not IntelligenceOptions(sentiment=True).transcribe_options(opts).word_timestamps
    assert not IntelligenceOptions().active and IntelligenceOptions(denoise=True).active


# --- real models on real audio -------------------------------------------------------------------


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    svc = Service()
    yield svc
    svc.close()


@pytest.mark.slow
def test_monkeys_give_no_text_and_a_non_speech_sound(service: Service, audio_dir: Path) -> None:
    t = service.transcribe(
        audio_dir / "asterisk_monkeys.wav", intelligence=IntelligenceOptions(analysis=True)
    )
    assert t.text == ""
    a = t.analysis
    assert a is not None and a.speech_ratio < 0.2
    heard = [s for s in a.sounds if s.kind != "silence"]
    assert sum(s.duration_s for s in heard) > 0.5 * a.duration_s, a.sounds


@pytest.mark.slow
def test_conversation_speakers_on_segments_and_words(service: Service, audio_dir: Path) -> None:
    audio, truth = conversation(audio_dir)
    t = service.transcribe(
        Audio(audio), intelligence=IntelligenceOptions(diarize=True, sentiment=True)
    )
    assert {s.speaker for s in t.segments} == {"A", "B", "C"}
    assert all(w.speaker is not None for w in t.words)
    # Segment level: how much of the true speech time lies in segments with the right speaker.
    segment_score = labelled_fraction(truth, [(s.start_s, s.end_s, s.speaker) for s in t.segments])
    # Word level: each word against the true speaker at its middle, weighted by its length.
    word_truth = [
        Turn(w.start_s, w.end_s, p.label)
        for w in t.words
        for p in truth
        if p.start_s <= (w.start_s + w.end_s) / 2 <= p.end_s
    ]
    word_score = labelled_fraction(word_truth, [(w.start_s, w.end_s, w.speaker) for w in t.words])
    print(f"speaker labels: segments cover {segment_score:.1%} of speech time rightly, "
          f"words {word_score:.1%} of their time")  # fmt: skip
    assert segment_score >= 0.85 and word_score >= 0.85
    assert t.sentiment is not None and all(s.sentiment is not None for s in t.segments)
    # "Congratulations" in the prompts voice reads positive.
    assert any(s.sentiment.label == "positive" for s in t.segments if "ongratulat" in s.text)


@pytest.mark.slow
def test_each_language_identified_per_file(service: Service, audio_dir: Path) -> None:
    with service.manager.lease("whisper-base") as (_, engine):
        detect = detector_for(engine)
        assert detect is not None
        for code in ("en", "es", "fr", "it", "ru"):
            clip = decode_audio(audio_dir / f"asterisk_{code}_agent-alreadyon.wav").samples
            probs = detect(clip)
            assert probs[0][0] == code, probs
            assert len(probs) == 5 and probs[0][1] > probs[1][1]


@pytest.mark.slow
def test_a_recording_switching_language_is_labelled_per_part(
    service: Service, audio_dir: Path
) -> None:
    parts = [(c, trimmed(audio_dir / f"asterisk_{c}_agent-alreadyon.wav")) for c in ("it", "ru", "en")]
    audio, truth = join(parts, (1.0,))
    t = service.transcribe(Audio(audio), intelligence=IntelligenceOptions(segment_languages=True))
    assert t.segments
    for s in t.segments:
        middle = (s.start_s + s.end_s) / 2
        expected = next(p.label for p in truth if p.start_s - 0.5 <= middle <= p.end_s + 0.5)
        assert s.language == expected, (s.text, s.language_probs)
    assert {code for code, _ in t.language_probs[:3]} == {"it", "ru", "en"}
    # Each part is decoded in its own language, not the first part's.
    english = " ".join(s.text for s in t.segments if s.language == "en")
    assert wer("That agent is already logged on.", english.split(".")[0] + ".") <= 0.2, english
    assert any("\u0430" <= ch <= "\u044f" for s in t.segments if s.language == "ru" for ch in s.text)


@pytest.mark.slow
def test_denoise_raises_snr_and_keeps_wer(
    service: Service, audio_dir: Path, references: dict
) -> None:
    jfk = decode_audio(audio_dir / "jfk.wav").samples
    noisy = Audio(with_white_noise(jfk, 5.0))
    reference = references["jfk.wav"]["text"]
    plain = service.transcribe(noisy)
    cleaned = service.transcribe(noisy, intelligence=IntelligenceOptions(denoise=True))
    e = cleaned.enhancement
    assert e is not None and e.snr_after_db - e.snr_before_db >= 6.0, e
    before, after = wer(reference, plain.text), wer(reference, cleaned.text)
    print(f"jfk at 5 dB SNR: estimated SNR {e.snr_before_db:.1f} -> {e.snr_after_db:.1f} dB; "
          f"WER {before:.1%} without denoise, {after:.1%} with")  # fmt: skip
    assert after <= before


def test_speaker_count_reaches_the_service_options() -> None:
    opts = IntelligenceOptions(diarize=True, speakers=SpeakerCount(num=2))
    assert opts.speakers.num == 2 and np.isfinite(opts.speakers.max)


def test_verbose_json_carries_what_was_asked_for() -> None:
    from dataclasses import replace

    from harken.api.formats import to_diarized_json, to_verbose_json
    from harken.audio.analyze import analyze
    from harken.audio.enhance import Enhancement
    from harken.audio.sentiment import sentiment
    from harken.audio.vad import Span
    from harken.types import Transcript

    seg = Segment(0, 0.0, 1.0, " great", speaker="A", language="es",
                  language_probs=(("es", 0.9), ("pt", 0.05)), sentiment=sentiment("great"))  # fmt: skip
    tone = (0.1 * np.sin(np.arange(16_000) * 0.1)).astype(np.float32)
    t = Transcript(
        " great", "es", 0.9, 1.0, (seg,),
        language_probs=(("es", 0.9), ("pt", 0.05)),
        analysis=analyze(tone, 16_000, [Span(0.0, 0.5)]),
        enhancement=Enhancement("rnnoise", 5.0, 15.0),
        sentiment=sentiment("great"),
    )  # fmt: skip
    out = to_verbose_json(t, words=False)
    s = out["segments"][0]
    assert s["language"] == "spanish" and s["speaker"] == "A"
    assert s["language_probabilities"] == [{"language": "es", "probability": 0.9},
                                           {"language": "pt", "probability": 0.05}]  # fmt: skip
    assert s["sentiment"]["label"] == "positive" and out["sentiment"]["label"] == "positive"
    assert out["speakers"] == [{"speaker": "A", "seconds": 1.0}]
    a = out["analysis"]
    assert a["denoise"] == {"method": "rnnoise", "snr_before_db": 5.0, "snr_after_db": 15.0}
    assert a["speech_spans"] == [{"start": 0.0, "end": 0.5}] and a["speech_ratio"] == 0.5
    assert a["description"].startswith("speech 0.5 s (50%) in 1 stretch; ")
    json.dumps(out)  # JSON-ready throughout
    assert "speakers" not in to_diarized_json(t) and "analysis" in to_diarized_json(t)
    # Nothing asked for: no new keys.
    plain = to_verbose_json(replace(t, language_probs=(), analysis=None, enhancement=None,
                                    sentiment=None, segments=(Segment(0, 0.0, 1.0, " x"),)),
                            words=False)  # fmt: skip
    assert set(plain) == {"task", "language", "duration", "text", "segments", "usage"}
    assert set(plain["segments"][0]) == {"id", "seek", "start", "end", "text", "tokens",
        "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"}  # fmt: skip
