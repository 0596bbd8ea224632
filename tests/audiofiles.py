"""Audio files built in memory for tests: real clips re-encoded with PyAV, as clients send them."""

from __future__ import annotations

import io

import av
import numpy as np


def encode(signal: np.ndarray, rate: int, fmt: str, codec: str, layout: str) -> bytes:
    """Encode (channels, samples) float audio with PyAV, in memory, as a client would upload it."""
    buf = io.BytesIO()
    options = {"strict": "experimental"} if codec == "vorbis" else {}
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, options=options)
        stream.layout = layout
        for start in range(0, signal.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(signal[:, start : start + 4096], dtype=np.float32),
                format="fltp",
                layout=layout,
            )
            frame.rate = rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()
