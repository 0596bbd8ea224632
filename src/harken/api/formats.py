"""Encode a finished ``Transcript`` into OpenAI's transcription response formats.

json, text, srt, vtt, verbose_json and diarized_json; pure functions, no HTTP objects, so the
dialects (OpenAI, SambaNova) and the Python library share one definition of each format.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harken.audio.analyze import describe
from harken.errors import InvalidRequest
from harken.languages import language_name
from harken.types import Segment, Transcript, Word

if TYPE_CHECKING:
    from harken.audio.sentiment import Sentiment
    from harken.audio.vad import Span

FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_VTT = "text/vtt; charset=utf-8"


def _round_s(seconds: float) -> float:
    """Times go out to the millisecond, as the subtitle formats do; more is float noise."""
    return round(seconds, 3)


def _usage(t: Transcript) -> dict[str, Any]:
    # OpenAI bills whisper-1 by whole seconds, rounded up. Rounding to the microsecond first
    # keeps float noise (2.0000000001 s) from billing an extra second.
    return {"type": "duration", "seconds": math.ceil(round(max(t.duration_s, 0.0), 6))}


def to_json(t: Transcript) -> dict[str, Any]:
    """``response_format=json``: the text and the billed duration."""
    return {"text": t.text.strip(), "usage": _usage(t)}


def to_text(t: Transcript) -> str:
    """``response_format=text``: the bare text, newline-terminated as OpenAI sends it."""
    return t.text.strip() + "\n"


def _timestamp(seconds: float, decimal_marker: str) -> str:
    """``HH:MM:SS<marker>mmm``; hours always present and allowed past 99."""
    total_ms = max(round(seconds * 1000), 0)
    hours, rest_ms = divmod(total_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    secs, ms = divmod(rest_ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue in both SRT and VTT, so a segment's text must not contain one.
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _cues(t: Transcript) -> list[tuple[Segment, str]]:
    # Segments with no text would make an empty cue, which parsers read as the end of the file.
    return [(s, text) for s in t.segments if (text := _cue_text(s.text))]


def to_srt(t: Transcript) -> str:
    """SubRip: numbered cues from 1, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each."""
    parts = []
    for number, (s, text) in enumerate(_cues(t), start=1):
        span = f"{_timestamp(s.start_s, ',')} --> {_timestamp(s.end_s, ',')}"
        parts.append(f"{number}\n{span}\n{text}\n\n")
    return "".join(parts)


def _vtt_escape(text: str) -> str:
    # WebVTT reads '<' as a tag and '&' as an entity; '>' is escaped so "-->" cannot appear.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(t: Transcript) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    parts = ["WEBVTT\n\n"]
    for s, text in _cues(t):
        span = f"{_timestamp(s.start_s, '.')} --> {_timestamp(s.end_s, '.')}"
        parts.append(f"{span}\n{_vtt_escape(text)}\n\n")
    return "".join(parts)


def _verbose_segment(s: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "seek": s.seek,
        "start": _round_s(s.start_s),
        "end": _round_s(s.end_s),
        "text": s.text,  # Whisper's leading space kept, as OpenAI does
        "tokens": list(s.tokens),
        "temperature": s.temperature,
        "avg_logprob": s.avg_logprob,
        "compression_ratio": s.compression_ratio,
        "no_speech_prob": s.no_speech_prob,
    }
    if s.speaker is not None:
        out["speaker"] = s.speaker
    if s.language_probs:  # set only when per-segment language ID was asked for
        out["language"] = language_name(s.language) if s.language else ""
        out["language_probabilities"] = _probabilities(s.language_probs)
    if s.sentiment is not None:
        out["sentiment"] = _sentiment(s.sentiment)
    return out


def _probabilities(probs: tuple[tuple[str, float], ...]) -> list[dict[str, Any]]:
    # Codes (ISO-639-1, what the ``language`` field accepts), best first.
    return [{"language": code, "probability": round(p, 4)} for code, p in probs]


def _sentiment(s: Sentiment) -> dict[str, Any]:
    return {
        "label": s.label,
        "compound": round(s.compound, 4),
        "positive": round(s.positive, 4),
        "neutral": round(s.neutral, 4),
        "negative": round(s.negative, 4),
    }


def _spans(spans: Sequence[Span]) -> list[dict[str, Any]]:
    return [{"start": _round_s(s.start_s), "end": _round_s(s.end_s)} for s in spans]


def _db(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _analysis(t: Transcript) -> dict[str, Any]:
    """The ``analysis`` object: AudioAnalysis fields and the denoising report."""
    out: dict[str, Any] = {}
    if (a := t.analysis) is not None:
        out.update(
            duration=_round_s(a.duration_s),
            speech_ratio=round(a.speech_ratio, 4),
            speech_seconds=_round_s(a.speech_s),
            speech_spans=_spans(a.speech_spans),
            silence_spans=_spans(a.silence_spans),
            sounds=[
                {"start": _round_s(s.start_s), "end": _round_s(s.end_s), "kind": s.kind,
                 "description": s.description}
                for s in a.sounds
            ],  # fmt: skip
            loudness_dbfs=_db(a.loudness_dbfs),
            peak_dbfs=_db(a.peak_dbfs),
            noise_floor_dbfs=_db(a.noise_floor_dbfs),
            snr_db=_db(a.snr_db),
            clipping_ratio=round(a.clipping_ratio, 6),
            description=describe(a),
        )
    if (e := t.enhancement) is not None:
        out["denoise"] = {
            "method": e.method,
            "snr_before_db": _db(e.snr_before_db),
            "snr_after_db": _db(e.snr_after_db),
        }
    return out


def _intelligence(t: Transcript, *, speakers: bool = True) -> dict[str, Any]:
    """Top-level keys added when audio intelligence ran (none for a plain transcription)."""
    out: dict[str, Any] = {}
    if t.language_probs:
        out["language_probabilities"] = _probabilities(t.language_probs)
    if t.sentiment is not None:
        out["sentiment"] = _sentiment(t.sentiment)
    talk: dict[str, float] = {}  # diarized: each speaker's segment time, first heard first
    for s in t.segments:
        if s.speaker is not None and speakers:
            talk[s.speaker] = talk.get(s.speaker, 0.0) + s.end_s - s.start_s
    if talk:
        out["speakers"] = [{"speaker": k, "seconds": _round_s(v)} for k, v in talk.items()]
    if t.analysis is not None or t.enhancement is not None:
        out["analysis"] = _analysis(t)
    return out


def _verbose_word(w: Word) -> dict[str, Any]:
    # Word text from Whisper carries its leading space; OpenAI's words do not.
    out: dict[str, Any] = {
        "word": w.text.strip(),
        "start": _round_s(w.start_s),
        "end": _round_s(w.end_s),
    }
    if w.speaker is not None:
        out["speaker"] = w.speaker
    return out


def to_verbose_json(t: Transcript, *, words: bool, segments: bool = True) -> dict[str, Any]:
    """``response_format=verbose_json``; ``words``/``segments`` mirror ``timestamp_granularities``.

    OpenAI leaves a key out when its granularity was not asked for, rather than sending it empty.
    """
    out: dict[str, Any] = {
        "task": t.task,
        # OpenAI reports the name ("english"), not the code the engines use.
        "language": language_name(t.language) if t.language else "",
        "duration": _round_s(t.duration_s),
        "text": t.text.strip(),
    }
    if segments:
        out["segments"] = [_verbose_segment(s) for s in t.segments]
    if words:
        out["words"] = [_verbose_word(w) for w in t.words]
    out.update(_intelligence(t))
    out["usage"] = _usage(t)
    return out


def to_diarized_json(t: Transcript) -> dict[str, Any]:
    """``response_format=diarized_json`` (OpenAI ``TranscriptionDiarized``).

    OpenAI's segment ids are strings and ``speaker`` is always present; a segment with no
    speaker label (diarization off or undecided) is reported as speaker "A", OpenAI's first label.
    """
    return {
        "task": "transcribe",
        "duration": _round_s(t.duration_s),
        "text": t.text.strip(),
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{s.id}",
                "start": _round_s(s.start_s),
                "end": _round_s(s.end_s),
                "text": s.text.strip(),
                "speaker": s.speaker if s.speaker is not None else "A",
            }
            for s in t.segments
        ],
        # OpenAI's shape has the speakers on the segments only.
        **_intelligence(t, speakers=False),
        "usage": _usage(t),
    }


def encode_transcript(
    t: Transcript, fmt: str, *, words: bool, segments: bool
) -> tuple[str | dict[str, Any], str]:
    """Encode ``t`` as ``fmt``; returns ``(body, media_type)``. A dict body is to be sent as JSON.

    ``words``/``segments`` only shape ``verbose_json``; the other formats have one fixed shape.
    """
    if fmt == "json":
        return to_json(t), _JSON
    if fmt == "text":
        return to_text(t), _TEXT
    if fmt == "srt":
        return to_srt(t), _TEXT
    if fmt == "vtt":
        return to_vtt(t), _VTT
    if fmt == "verbose_json":
        return to_verbose_json(t, words=words, segments=segments), _JSON
    if fmt == "diarized_json":
        return to_diarized_json(t), _JSON
    raise InvalidRequest(
        f"Unsupported response_format {fmt!r}: use one of {', '.join(FORMATS)}.",
        param="response_format",
    )
