"""Canonical audio back to bytes: 16-bit PCM mono WAV, what every audio API decodes."""

from __future__ import annotations

import io
import wave

import numpy as np


def wav_bytes(samples: np.ndarray, sample_rate_hz: int) -> bytes:
    """Float samples in [-1, 1] (clipped) as a 16-bit PCM mono WAV file."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate_hz)
        w.writeframes(pcm.tobytes())
    return out.getvalue()
