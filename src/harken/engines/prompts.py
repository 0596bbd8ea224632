"""What the cascade's text LLM reads: the system prompt, and each audio rendered as text.

The LLM never hears the audio; it reads a Whisper transcript with timestamps, the acoustic
analysis (speech and pauses, loudness, noise, non-speech sounds) and text sentiment, labelled
"Audio 1", "Audio 2" in order of appearance across the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..languages import language_name
from ..types import Segment, Transcript

# Short on purpose: the LLM reads this before every first answer (llama.cpp keeps it cached
# between requests, but not across a switch of LLM or after a translation).
SYSTEM_PROMPT = (
    "You answer questions about audio recordings (Audio 1, Audio 2, ...). You cannot hear them: "
    "you read each one's automatic transcript, with [mm:ss] timestamps, and an acoustic "
    "analysis. Answer from these, briefly and directly. If they do not tell, say so."
)

TRANSLATE_SYSTEM_PROMPT = "You are a careful translator."

# Sentiment is shown per segment only when VADER's compound score is at least this strong;
# near-neutral labels cost tokens and tell the LLM nothing.
SHOWN_SENTIMENT = 0.3


@dataclass(frozen=True)
class AudioNotes:
    """Everything the cascade learned about one audio; cached by the audio's content hash."""

    transcript: Transcript
    analysis: str  # ``harken.audio.analyze.describe`` output, one line
    segment_sentiments: tuple[float, ...]  # VADER compound per transcript segment
    overall_sentiment: str  # e.g. "positive (+0.62)"


def timestamp(seconds: float) -> str:
    """``[mm:ss]`` (``[h:mm:ss]`` past an hour) for a position in the audio."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"[{h}:{m:02d}:{s:02d}]" if h else f"[{m:02d}:{s:02d}]"


def render_audio(number: int, notes: AudioNotes) -> str:
    """One audio as the LLM reads it: a header, timestamped transcript lines, the analysis."""
    t = notes.transcript
    language = language_name(t.language).title() if t.language else "unknown language"
    lines = [f"[Audio {number}: {t.duration_s:.1f} s, {language}]", "Transcript:"]
    if not t.segments:
        lines.append("(no speech recognised)")
    for segment, compound in zip(t.segments, notes.segment_sentiments, strict=False):
        line = f"{timestamp(segment.start_s)} {segment.text.strip()}"
        if abs(compound) >= SHOWN_SENTIMENT:
            line += f" (sentiment {'positive' if compound > 0 else 'negative'} {compound:+.2f})"
        lines.append(line)
    lines.append("Analysis: " + notes.analysis)
    if t.segments:
        lines.append(f"Text sentiment: {notes.overall_sentiment}")
    return "\n".join(lines)


def translation_prompt(segments: Sequence[Segment], target_language: str) -> str:
    """Ask for a numbered, line-for-line translation so each line keeps its timestamps."""
    numbered = "\n".join(f"{n}. {s.text.strip()}" for n, s in enumerate(segments, 1))
    return (
        f"Translate into {target_language}; output only the translation. Keep the numbered "
        f"lines: one translated line per numbered line, same numbers.\n\n{numbered}"
    )
