"""``harken.transcribe(...)`` and ``harken.chat(...)``: the library front door, no server needed."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from .config import Settings
from .languages import normalize_language
from .service import AudioInput, ChatResult, Service
from .types import Audio, TextDelta, TranscribeOptions, Transcript

_default: Service | None = None
_lock = threading.Lock()


def default_service() -> Service:
    """One shared ``Service`` built from ``HARKEN_*`` settings on first use (models load lazily)."""
    global _default
    with _lock:
        if _default is None:
            _default = Service(Settings())
        return _default


def transcribe(
    audio: AudioInput,
    *,
    model: str | None = None,
    language: str | None = None,
    task: str = "transcribe",
    prompt: str | None = None,
    temperature: float | tuple[float, ...] = 0.0,
    word_timestamps: bool = True,
    beam_size: int | None = None,
    vad_filter: bool = True,
    service: Service | None = None,
) -> Transcript:
    """Transcribe (or, with ``task="translate"``, translate to English) a path, bytes or file.

    ``language`` takes a code or a name ("es", "spanish"); ``temperature=0`` uses Whisper's
    fallback ladder, any other value samples at that temperature only.
    """
    svc = service or default_service()
    if isinstance(temperature, (int, float)):
        ladder = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if temperature == 0 else (float(temperature),)
    else:
        ladder = tuple(temperature)
    opts = TranscribeOptions(
        task=task,  # type: ignore[arg-type]
        language=normalize_language(language) if language else None,
        prompt=prompt,
        temperature=ladder,
        word_timestamps=word_timestamps,
        beam_size=beam_size,
        vad_filter=vad_filter,
    )
    return svc.transcribe(audio, opts, model=model)


def chat(
    messages: list[dict[str, Any]],
    model: str | None = None,
    stream: bool = False,
    *,
    service: Service | None = None,
    **opts: Any,
) -> ChatResult | Iterator[str]:
    """Ask about audio with OpenAI-style messages; ``stream=True`` yields text deltas.

    Audio parts take any shape the server accepts; here ``input_audio.data`` may also be a
    file path, raw bytes or an ``Audio``. ``opts`` are OpenAI's (max_tokens, temperature,
    top_p, stop, seed).
    """
    # Imported here: the wire parser lives with the dialects, and the library should not pay
    # for importing the HTTP layer unless chat is used.
    from .api.dialects.chat import parse_chat_completions

    svc = service or default_service()
    draft = parse_chat_completions({**opts, "messages": messages, "model": model or ""})

    def load(value: Any, param: str, format_hint: str | None) -> Audio:
        if isinstance(value, Audio):
            return value
        if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isfile(value)):
            return svc.load_audio(value)
        return svc.load_inline_audio(value, param=param, format_hint=format_hint)

    run = svc.chat_stream(draft.build(load))
    if not stream:
        return run.collect()
    return (e.text for e in run.iter_events() if isinstance(e, TextDelta) and e.text)
