"""harken's Whisper model: the first window encoded once (same transcripts, one encoder pass
less), and a silent window's repetition loop skipped rather than sampled at every temperature."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from faster_whisper import WhisperModel

from harken.engines.whisper_model import HarkenWhisperModel, _starts_at_zero
from harken.service import Service
from harken.types import Audio
from tests.conftest import shared_audio_dir
from tests.wer import wer


class Counting:
    """Counts ``encode`` calls on a model instance."""

    def __init__(self, model: Any) -> None:
        self.calls = 0
        encode = model.encode

        def counted(features: Any) -> Any:
            self.calls += 1
            return encode(features)

        model.encode = counted


@pytest.fixture(scope="module")
def models(service: Service) -> Iterator[tuple[Any, Any]]:
    folder = str(service.manager.store.pull(service.catalog.resolve("whisper-base")))
    kwargs = {"device": "cpu", "compute_type": "int8", "cpu_threads": 2}
    yield WhisperModel(folder, **kwargs), HarkenWhisperModel(folder, **kwargs)


def _run(model: Any, audio: Audio, **options: Any) -> tuple[str, str]:
    # Greedy only: the temperature fallback samples, and would differ from run to run.
    segments, info = model.transcribe(audio.samples, beam_size=1, temperature=0.0, **options)
    return "".join(s.text for s in segments), info.language


@pytest.mark.parametrize(
    "name", ["jfk.wav", "asterisk_es_tt-weasels.wav", "winning_call.mp3", "asterisk_monkeys.wav"]
)
def test_same_transcript_as_stock_faster_whisper(
    models: tuple[Any, Any], service: Service, name: str
) -> None:
    stock, reusing = models
    audio = service.load_audio(shared_audio_dir() / name)
    for options in ({"vad_filter": True}, {"vad_filter": False}):
        assert _run(reusing, audio, **options) == _run(stock, audio, **options)


def test_one_encoder_pass_less_when_the_language_is_detected(
    models: tuple[Any, Any], clips: dict[str, Audio]
) -> None:
    stock, reusing = models
    counts = Counting(stock), Counting(reusing)
    _run(stock, clips["jfk"])
    _run(reusing, clips["jfk"])
    assert (counts[0].calls, counts[1].calls) == (2, 1)  # detect + decode, vs. once for both
    # With the language given there is no detection, and nothing to reuse.
    _run(reusing, clips["jfk"], language="en")
    assert counts[1].calls == 2
    # Detection on its own (the language-id path) still works, and lends nothing to a later
    # decoding of other audio.
    assert reusing.detect_language(audio=clips["bcn"].samples)[0] == "en"
    assert _run(reusing, clips["jfk"], language="en") == _run(stock, clips["jfk"], language="en")


def test_starts_at_zero() -> None:
    assert _starts_at_zero("0") and _starts_at_zero("0.0,10") and _starts_at_zero([])
    assert _starts_at_zero([0.0, 5.0]) and _starts_at_zero([{"start": 0, "end": 5}])
    assert not _starts_at_zero("2.5") and not _starts_at_zero([{"start": 1.0, "end": 5}])


def test_batched_pipeline_is_untouched(models: tuple[Any, Any], clips: dict[str, Audio]) -> None:
    from faster_whisper import BatchedInferencePipeline

    stock, reusing = models
    texts = []
    for model in (stock, reusing):
        segments, _ = BatchedInferencePipeline(model).transcribe(
            clips["baseball"].samples, batch_size=4, beam_size=1, temperature=0.0
        )
        texts.append("".join(s.text for s in segments))
    assert texts[0] == texts[1] and "Martinez" in texts[0]
    # Its language detection lends nothing, and so holds on to no features afterwards.
    assert getattr(reusing._local, "first", None) is None


LADDER = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


class CountingGenerate:
    """Stands in for the CTranslate2 model, counting ``generate`` calls (decoding attempts)."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.model.generate(*args, **kwargs)


def test_silent_tail_window_is_not_sampled_over_and_over(
    models: tuple[Any, Any], service: Service, references: dict
) -> None:
    # 30.3 s: a second window of 1.3 s of trailing audio, where greedy decoding copies the
    # previous sentence from the prompt in a loop while calling the window silence.
    name = "asterisk_en_demo-congrats.wav"
    audio = service.load_audio(shared_audio_dir() / name)
    _, reusing = models
    counting = CountingGenerate(reusing.model)
    reusing.model = counting
    try:
        texts = []
        for _ in range(2):  # the full temperature ladder, as harken decodes
            segments, _ = reusing.transcribe(
                audio.samples, beam_size=1, vad_filter=True, temperature=LADDER
            )
            texts.append("".join(s.text for s in segments))
    finally:
        reusing.model = counting.model
    # Two windows, one greedy attempt each (plus language detection, which does not generate).
    assert counting.calls == 4, counting.calls
    assert texts[0] == texts[1]  # nothing sampled, so the same every time
    assert wer(references[name]["text"], texts[0]) <= 0.05, texts[0]
