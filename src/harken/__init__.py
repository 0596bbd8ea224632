"""harken: self-hosted audio understanding (transcription, translation, reasoning over audio)."""

from .config import Settings
from .library import chat, transcribe
from .service import Service
from .types import Audio, Segment, TranscribeOptions, Transcript, Word

__all__ = [
    "Audio",
    "Segment",
    "Service",
    "Settings",
    "TranscribeOptions",
    "Transcript",
    "Word",
    "chat",
    "transcribe",
]
__version__ = "0.1.0"
