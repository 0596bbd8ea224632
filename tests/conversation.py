"""Conversations and language switches built from the real shared recordings, with the truth.

Each piece is a real clip trimmed to its speech; pieces are joined with short silent gaps, so
the reference says exactly who speaks (or which language is spoken) when.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

import numpy as np

from harken.audio.decode import decode_audio
from harken.audio.vad import speech_spans

RATE_HZ = 16_000


@dataclass(frozen=True)
class Turn:
    start_s: float
    end_s: float
    label: str  # the speaker (or language) who is really there


def trimmed(path: Path, pad_s: float = 0.05) -> np.ndarray:
    """A clip from its first to its last speech, ``pad_s`` either side."""
    x = decode_audio(path).samples
    spans = speech_spans(x, RATE_HZ)
    start = max(0, round((spans[0].start_s - pad_s) * RATE_HZ))
    end = min(len(x), round((spans[-1].end_s + pad_s) * RATE_HZ))
    return x[start:end]


def pieces_of(path: Path, max_piece_s: float = 4.0) -> list[np.ndarray]:
    """A clip's speech spans grouped into pieces of at most about ``max_piece_s``."""
    x = decode_audio(path).samples
    spans = speech_spans(x, RATE_HZ)
    out: list[np.ndarray] = []
    start = spans[0].start_s
    for a, b in zip(spans, spans[1:] + [None]):
        if b is None or b.end_s - start > max_piece_s:
            out.append(x[round(start * RATE_HZ) : round(a.end_s * RATE_HZ)])
            start = b.start_s if b is not None else start
    return out


def join(parts: Sequence[tuple[str, np.ndarray]], gaps_s: Sequence[float]) -> tuple[np.ndarray, list[Turn]]:
    """Concatenate labelled pieces with the given gaps (cycled); returns audio and truth."""
    chunks: list[np.ndarray] = [np.zeros(round(0.5 * RATE_HZ), np.float32)]
    truth: list[Turn] = []
    cursor = len(chunks[0])
    for i, (label, piece) in enumerate(parts):
        # Level every voice alike: the voice, not the loudness, should tell speakers apart.
        piece = (piece * (0.1 / max(1e-6, float(np.sqrt(np.mean(piece**2)))))).astype(np.float32)
        truth.append(Turn(cursor / RATE_HZ, (cursor + len(piece)) / RATE_HZ, label))
        gap = np.zeros(round(gaps_s[i % len(gaps_s)] * RATE_HZ), np.float32)
        chunks += [np.clip(piece, -1, 1), gap]
        cursor += len(piece) + len(gap)
    return np.concatenate(chunks), truth


def conversation(audio_dir: Path) -> tuple[np.ndarray, list[Turn]]:
    """Three voices taking turns: JFK (male), the Asterisk prompts voice (female), a LibriSpeech
    reader (male), about 50 s, gaps of 0.4 to 1.0 s."""
    jfk = pieces_of(audio_dir / "jfk.wav", 3.5)
    female = [trimmed(audio_dir / f"asterisk_en_{n}.wav")
              for n in ("vm-intro", "agent-alreadyon", "conf-onlyperson", "tt-weasels")]  # fmt: skip
    female += pieces_of(audio_dir / "asterisk_en_demo-congrats.wav", 5.0)[:2]
    libri = pieces_of(audio_dir / "librispeech_1.wav", 2.0)
    parts: list[tuple[str, np.ndarray]] = []
    for i in range(max(len(jfk), len(female))):
        if i < len(jfk):
            parts.append(("jfk", jfk[i]))
        if i < len(female):
            parts.append(("female", female[i]))
        if i < len(libri):
            parts.append(("libri", libri[i]))
    return join(parts, (0.6, 0.4, 1.0, 0.8))


def language_switch(audio_dir: Path) -> tuple[np.ndarray, list[Turn]]:
    """English, then Spanish, then French, Italian and Russian speech (the same prompt)."""
    parts = [(lang, trimmed(audio_dir / f"asterisk_{lang}_agent-alreadyon.wav"))
             for lang in ("en", "es", "fr", "it", "ru")]  # fmt: skip
    return join(parts, (1.0,))


def labelled_fraction(
    truth: Sequence[Turn], hypothesis: Sequence[tuple[float, float, str]], step_s: float = 0.01
) -> float:
    """Share of the true speech time whose hypothesis label is right, under the best one-to-one
    mapping of hypothesis labels to true ones (time with no hypothesis label counts as wrong)."""
    end_s = max(t.end_s for t in truth)
    grid = np.arange(0.0, end_s, step_s) + step_s / 2
    true = np.full(len(grid), "", dtype=object)
    for t in truth:
        true[(grid >= t.start_s) & (grid < t.end_s)] = t.label
    hyp = np.full(len(grid), "", dtype=object)
    for start_s, end_s, label in hypothesis:
        hyp[(grid >= start_s) & (grid < end_s)] = label
    speech = true != ""
    true_labels = sorted(set(true[speech]))
    hyp_labels = sorted(set(hyp[speech]) - {""})
    best = 0
    # Pad with None so that either side may have more labels than the other.
    slots = hyp_labels + [None] * max(0, len(true_labels) - len(hyp_labels))
    for perm in permutations(slots, len(true_labels)):
        mapping = {h: t for h, t in zip(perm, true_labels) if h is not None}
        right = sum(int(np.sum((hyp[speech] == h) & (true[speech] == t))) for h, t in mapping.items())
        best = max(best, right)
    return best / int(np.sum(speech))
