"""``harken.transcribe(...)``: the library front door, usable in a notebook with no server."""

from __future__ import annotations

import threading

from .config import Settings
from .languages import normalize_language
from .service import AudioInput, Service
from .types import TranscribeOptions, Transcript

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
        beam_size=beam_size or svc.settings.whisper.beam_size,
        vad_filter=vad_filter,
    )
    return svc.transcribe(audio, opts, model=model)
