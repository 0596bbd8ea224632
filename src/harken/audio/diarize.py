"""Who speaks when: GE2E speaker embeddings (Resemblyzer's packaged ``pretrained.pt``) over
windows of the VAD's speech spans, clustered agglomeratively into speakers.

The encoder is our own copy of Resemblyzer's 3-layer LSTM (40 linear mel bands in, 256-d
embedding out) loading its weights, so that neither librosa nor webrtcvad (which its package
imports) is needed; the mel filterbank is computed here with numpy as librosa does (Slaney).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harken.audio.vad import Span, speech_spans
from harken.errors import MissingDependency, require

RATE_HZ = 16_000  # the encoder was trained on 16 kHz audio
N_FFT = 400  # 25 ms window
HOP_SAMPLES = 160  # 10 ms step: one mel frame per 10 ms
N_MELS = 40
WINDOW_FRAMES = 160  # 1.6 s: Resemblyzer's "partial utterance", what the LSTM was trained on
WINDOW_S = WINDOW_FRAMES * HOP_SAMPLES / RATE_HZ
# Windows overlap by half (Resemblyzer embeds 1.3 windows a second); each 10 ms of speech takes
# the label of the nearest window centre. The LSTM is the cost: ~1.25 windows per speech second.
WINDOW_HOP_S = 0.8
MIN_WINDOW_S = 0.4  # a speech span shorter than this gives no reliable voice print
# Resemblyzer normalises its input to this level; here each window is, so the voice print does
# not depend on how loud the speaker was.
TARGET_DBFS = -30.0
# Average cosine similarity between two clusters at which they are taken as one voice. GE2E
# windows of one speaker sit near 0.8-0.9 to each other, different speakers near 0.5-0.7;
# tuned on conversations built from jfk.wav, librispeech and the asterisk prompts.
SAME_SPEAKER_SIMILARITY = 0.72
MAX_CLUSTERED_WINDOWS = 600  # past this, cluster a regular subset and assign the rest
MAX_SPEAKERS = 26  # labels "A" to "Z"
BATCH_WINDOWS = 64
MEL_BLOCK_FRAMES = 6000  # one minute of 10 ms frames

_encoder: _Encoder | None = None
_encoder_lock = threading.Lock()


@dataclass(frozen=True, order=True)
class SpeakerTurn(Span):
    """A stretch of speech by one speaker; labels are "A", "B", ... in order of first speech."""

    speaker: str


@dataclass(frozen=True)
class SpeakerCount:
    """How many speakers to find: exactly ``num`` or between ``min`` and ``max``."""

    num: int | None = None
    min: int = 1
    max: int = 8

    def __post_init__(self) -> None:
        if self.num is not None and not 1 <= self.num <= MAX_SPEAKERS:
            raise ValueError(f"num_speakers must be between 1 and {MAX_SPEAKERS}, got {self.num}.")
        if not 1 <= self.min <= self.max <= MAX_SPEAKERS:
            raise ValueError(
                f"need 1 <= min_speakers <= max_speakers <= {MAX_SPEAKERS}, "
                f"got {self.min} and {self.max}."
            )


def diarize(
    samples: np.ndarray,
    sample_rate_hz: int = RATE_HZ,
    *,
    speakers: SpeakerCount = SpeakerCount(),
    speech: Sequence[Span] | None = None,
    threshold: float = SAME_SPEAKER_SIMILARITY,
) -> list[SpeakerTurn]:
    """Speaker turns over the speech (found with the VAD unless given), sorted, non-overlapping."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"samples must be a 1-D mono array, got shape {audio.shape}.")
    if sample_rate_hz != RATE_HZ:
        import soxr

        audio = soxr.resample(audio, sample_rate_hz, RATE_HZ, quality="HQ").astype(np.float32)
    spans = list(speech) if speech is not None else speech_spans(audio, RATE_HZ)
    windows = speech_windows(spans)
    if not windows:
        return []
    embeddings = embed_windows(audio, windows)
    labels = cluster(embeddings, speakers, threshold)
    return _turns(spans, windows, labels)


def speech_windows(spans: Sequence[Span]) -> list[Span]:
    """WINDOW_S windows every WINDOW_HOP_S inside each span; a shorter span is one window."""
    out: list[Span] = []
    for span in spans:
        if span.duration_s < MIN_WINDOW_S:
            continue
        if span.duration_s <= WINDOW_S:
            out.append(span)
            continue
        count = int(np.ceil((span.duration_s - WINDOW_S) / WINDOW_HOP_S)) + 1
        # Spread evenly so the last window ends at the span's end, not past it.
        starts = np.linspace(span.start_s, span.end_s - WINDOW_S, count)
        out.extend(Span(float(s), float(s) + WINDOW_S) for s in starts)
    return out


def embed_windows(audio: np.ndarray, windows: Sequence[Span]) -> np.ndarray:
    """One L2-normalised GE2E embedding per window, shape (len(windows), 256)."""
    encoder = _get_encoder()
    # The mel bands of the whole file once; each window is a slice of it, scaled to
    # TARGET_DBFS (mel power scales with the square of the gain, so scaling after is exact).
    mel = _mel(audio)
    mels: list[np.ndarray] = []
    for w in windows:
        first = round(w.start_s * RATE_HZ / HOP_SAMPLES)
        count = max(1, round(w.duration_s * RATE_HZ / HOP_SAMPLES))
        part = audio[round(w.start_s * RATE_HZ) : round(w.end_s * RATE_HZ)]
        power = float(np.mean(np.square(part, dtype=np.float64))) if len(part) else 0.0
        gain2 = 10.0 ** ((TARGET_DBFS - 10.0 * np.log10(power)) / 10.0) if power > 1e-12 else 1.0
        mels.append((mel[first : first + count] * gain2).astype(np.float32))
    out = np.zeros((len(windows), encoder.embedding_size), np.float32)
    # Windows of one length run as a batch; the short ones (whole short spans) by length.
    by_length: dict[int, list[int]] = {}
    for i, m in enumerate(mels):
        by_length.setdefault(len(m), []).append(i)
    for indices in by_length.values():
        for start in range(0, len(indices), BATCH_WINDOWS):
            chunk = indices[start : start + BATCH_WINDOWS]
            out[chunk] = encoder.embed(np.stack([mels[i] for i in chunk]))
    return out


def cluster(
    embeddings: np.ndarray, speakers: SpeakerCount = SpeakerCount(), threshold: float = 0.72
) -> np.ndarray:
    """Average-linkage agglomerative clustering on cosine similarity; one label per row.

    Merging stops at ``speakers.num`` clusters when given, else when no two clusters are
    ``threshold`` alike on average, kept within ``speakers.min`` and ``speakers.max``. Past
    MAX_CLUSTERED_WINDOWS rows a regular subset is clustered (the merge loop is cubic) and every
    row then joins the cluster whose mean it is closest to.
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, np.int64)
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    subset = np.arange(n)
    if n > MAX_CLUSTERED_WINDOWS:
        subset = np.linspace(0, n - 1, MAX_CLUSTERED_WINDOWS).round().astype(np.int64)
    labels = _agglomerate(unit[subset], speakers, threshold)
    if len(subset) < n:
        means = np.stack([unit[subset][labels == k].mean(0) for k in range(labels.max() + 1)])
        labels = np.argmax(unit @ means.T, axis=1)
    return labels


def _agglomerate(unit: np.ndarray, speakers: SpeakerCount, threshold: float) -> np.ndarray:
    n = len(unit)
    low = speakers.num if speakers.num is not None else speakers.min
    high = speakers.num if speakers.num is not None else speakers.max
    low, high = min(low, n), min(high, n)
    sim = (unit @ unit.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    alive = np.ones(n, bool)
    members = np.arange(n)  # each row's current cluster (a surviving row index)
    clusters = n
    while clusters > low:
        flat = int(np.argmax(sim))
        i, j = divmod(flat, n)
        if clusters <= high and sim[i, j] < threshold:
            break
        # Lance-Williams update for average linkage: the merged row is the size-weighted mean.
        merged = (size[i] * sim[i] + size[j] * sim[j]) / (size[i] + size[j])
        sim[i], sim[:, i] = merged, merged
        sim[i, i] = -np.inf
        sim[j], sim[:, j] = -np.inf, -np.inf
        size[i] += size[j]
        alive[j] = False
        members[members == j] = i
        clusters -= 1
    _, labels = np.unique(members, return_inverse=True)
    return labels.astype(np.int64)


def _turns(spans: Sequence[Span], windows: Sequence[Span], labels: np.ndarray) -> list[SpeakerTurn]:
    """Each 10 ms of speech takes the label of the nearest window centre in its own span."""
    centres = np.array([(w.start_s + w.end_s) / 2 for w in windows])
    step_s = HOP_SAMPLES / RATE_HZ
    raw: list[tuple[float, float, int]] = []
    for span in spans:
        inside = np.flatnonzero((centres >= span.start_s) & (centres <= span.end_s))
        if len(inside) == 0:  # a span too short to embed: the nearest window anywhere
            inside = np.arange(len(centres))
        edges = np.arange(span.start_s, span.end_s, step_s)
        mids = edges + step_s / 2
        nearest = inside[np.argmin(np.abs(mids[:, None] - centres[inside][None, :]), axis=1)]
        frame_labels = labels[nearest]
        cuts = np.flatnonzero(np.diff(frame_labels)) + 1
        bounds = [0, *cuts.tolist(), len(frame_labels)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            start_s = span.start_s if a == 0 else float(edges[a])
            end_s = span.end_s if b == len(frame_labels) else float(edges[b])
            raw.append((start_s, end_s, int(frame_labels[a])))
    # Name speakers by first appearance: the first voice heard is "A".
    names: dict[int, str] = {}
    for _, _, k in raw:
        names.setdefault(k, chr(ord("A") + len(names)))
    return [SpeakerTurn(s, e, names[k]) for s, e, k in raw]


# --- the encoder ---------------------------------------------------------------------------------


def _mel(wav: np.ndarray) -> np.ndarray:
    """Linear (not log) mel power, (frames, 40), as Resemblyzer's librosa call computes it."""
    padded = np.pad(wav, N_FFT // 2, mode="reflect") if len(wav) > N_FFT // 2 else np.pad(
        wav, N_FFT // 2
    )
    count = 1 + (len(padded) - N_FFT) // HOP_SAMPLES
    window, filters = _hann(), _mel_filters().T
    out = np.empty((count, N_MELS), np.float32)
    # In blocks of MEL_BLOCK_FRAMES: a whole hour's frames at once would take gigabytes.
    for first in range(0, count, MEL_BLOCK_FRAMES):
        idx = np.arange(first, min(count, first + MEL_BLOCK_FRAMES))
        frames = padded[idx[:, None] * HOP_SAMPLES + np.arange(N_FFT)[None, :]]
        out[idx] = (np.abs(np.fft.rfft(frames * window, axis=1)) ** 2) @ filters
    return out


def _hann() -> np.ndarray:
    # Periodic Hann (scipy's get_window with fftbins=True), librosa's default window.
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float64)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False).
    hz = np.asarray(hz, np.float64)
    mel = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = hz >= 1000.0
    mel[above] = 15.0 + np.log(hz[above] / 1000.0) / log_step
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    hz = mel * (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = mel >= 15.0
    hz[above] = 1000.0 * np.exp(log_step * (mel[above] - 15.0))
    return hz


def _mel_filters() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney-normalised triangles."""
    fft_hz = np.linspace(0, RATE_HZ / 2, 1 + N_FFT // 2)
    top_mel = float(_hz_to_mel(np.array([RATE_HZ / 2]))[0])
    mel_hz = _mel_to_hz(np.linspace(0.0, top_mel, N_MELS + 2))
    gaps = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / gaps[:-1, None]
    upper = ramps[2:] / gaps[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]


def weights_path() -> Path:
    """Resemblyzer's ``pretrained.pt``, found without importing its package (librosa et al.)."""
    spec = importlib.util.find_spec("resemblyzer")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if path is None or not path.is_file():
        raise _missing_resemblyzer()
    return path


def _missing_resemblyzer() -> MissingDependency:
    # --no-deps: Resemblyzer declares librosa and webrtcvad (a C build), neither used here.
    error = MissingDependency("resemblyzer", "diarize")
    error.message = (
        "speaker diarization needs Resemblyzer's model; install it with: "
        "pip install 'harken[diarize]' && pip install --no-deps Resemblyzer==0.1.4"
    )
    error.args = (error.message,)
    return error


class _Encoder:
    """Resemblyzer's VoiceEncoder network: LSTM(40, 256, 3 layers) -> Linear(256) -> ReLU."""

    embedding_size = 256

    def __init__(self) -> None:
        torch: Any = require("torch", "diarize")
        state = torch.load(weights_path(), map_location="cpu")["model_state"]
        self._torch = torch
        self.lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, self.embedding_size)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.lstm.eval()
        self.linear.eval()

    def embed(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel windows to (batch, 256) unit vectors."""
        torch = self._torch
        with torch.inference_mode():
            _, (hidden, _) = self.lstm(torch.from_numpy(np.ascontiguousarray(mels)))
            raw = torch.relu(self.linear(hidden[-1]))
            unit = raw / torch.clamp(torch.norm(raw, dim=1, keepdim=True), min=1e-12)
        return unit.numpy()


def _get_encoder() -> _Encoder:
    """One encoder per process, built on first use (~0.2 s; 17 MB of weights)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                _encoder = _Encoder()
    return _encoder
