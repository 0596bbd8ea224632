"""diarize.py: clustering and windows exactly; GE2E embeddings on real voices; a built
three-speaker conversation labelled against the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harken.audio.decode import decode_audio
from harken.audio.diarize import (
    WINDOW_S,
    SpeakerCount,
    _mel_filters,
    cluster,
    diarize,
    embed_windows,
    speech_windows,
    weights_path,
)
from harken.audio.vad import Span
from tests.conversation import conversation, labelled_fraction

RATE_HZ = 16_000


def blobs(sizes: list[int], spread: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in tight groups around random directions, and the group of each."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), 256))
    rows, truth = [], []
    for k, n in enumerate(sizes):
        rows.append(centres[k] / np.linalg.norm(centres[k]) + spread * rng.standard_normal((n, 256)) / 16)
        truth += [k] * n
    x = np.concatenate(rows)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(truth)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_cluster_finds_the_groups_by_threshold() -> None:
    x, truth = blobs([5, 9, 4])
    assert same_partition(cluster(x), truth)


def test_cluster_honours_counts() -> None:
    x, truth = blobs([6, 6, 6])
    assert len(set(cluster(x, SpeakerCount(num=2)).tolist())) == 2
    assert len(set(cluster(x, SpeakerCount(max=2)).tolist())) == 2
    # A minimum above what the threshold finds splits further.
    assert len(set(cluster(x, SpeakerCount(min=4)).tolist())) == 4
    one, _ = blobs([7])
    assert set(cluster(one).tolist()) == {0}
    assert len(cluster(np.zeros((0, 256), np.float32))) == 0


def test_cluster_subsets_very_many_windows() -> None:
    x, truth = blobs([400, 500])
    assert same_partition(cluster(x), truth)


@pytest.mark.parametrize(
    "kwargs", [{"num": 0}, {"num": 27}, {"min": 3, "max": 2}, {"min": 0}]
)
def test_speaker_count_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SpeakerCount(**kwargs)


def test_windows_cover_spans_and_skip_slivers() -> None:
    spans = [Span(0.0, 0.3), Span(1.0, 2.0), Span(3.0, 7.0)]
    windows = speech_windows(spans)
    assert windows[0] == Span(1.0, 2.0)  # a short span is one window; a sliver none
    long = windows[1:]
    assert long[0].start_s == 3.0 and long[-1].end_s == pytest.approx(7.0)
    assert all(w.duration_s == pytest.approx(WINDOW_S) for w in long)
    assert all(3.0 <= w.start_s and w.end_s <= 7.0 + 1e-9 for w in long)


def test_mel_filters_are_slaney_triangles() -> None:
    f = _mel_filters()
    assert f.shape == (40, 201) and (f >= 0).all()
    peaks = f.argmax(1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > 150
    # Slaney normalisation: each triangle has unit area in Hz (bins are 40 Hz apart).
    assert np.allclose(f.sum(1) * 40.0, 1.0, rtol=0.15)


def test_weights_are_resemblyzers() -> None:
    assert weights_path().name == "pretrained.pt" and weights_path().stat().st_size > 10_000_000


@pytest.mark.slow
def test_one_voice_is_alike_two_voices_differ(audio_dir: Path) -> None:
    jfk = decode_audio(audio_dir / "jfk.wav").samples
    female = decode_audio(audio_dir / "asterisk_en_demo-congrats.wav").samples
    a = embed_windows(jfk, [Span(0.5, 2.1), Span(7.0, 8.6)])
    b = embed_windows(female, [Span(2.0, 3.6)])
    same, other = float(a[0] @ a[1]), float(a[0] @ b[0])
    assert same > 0.75 and other < 0.6, (same, other)


@pytest.mark.slow
@pytest.mark.parametrize("count", [SpeakerCount(), SpeakerCount(num=3)], ids=["threshold", "num=3"])
def test_conversation_labelled_at_least_85_percent(audio_dir: Path, count: SpeakerCount) -> None:
    audio, truth = conversation(audio_dir)
    turns = diarize(audio, RATE_HZ, speakers=count)
    assert {t.speaker for t in turns} == {"A", "B", "C"}
    assert turns[0].speaker == "A"
    score = labelled_fraction(truth, [(t.start_s, t.end_s, t.speaker) for t in turns])
    print(f"diarization ({count}): {score:.1%} of speech time labelled right")
    assert score >= 0.85


@pytest.mark.slow
def test_a_single_speaker_stays_one(audio_dir: Path) -> None:
    audio = decode_audio(audio_dir / "asterisk_en_demo-congrats.wav").samples
    assert {t.speaker for t in diarize(audio, RATE_HZ)} == {"A"}
