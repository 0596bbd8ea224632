"""Stitch per-chunk transcription results into one timeline: offsets into the original file,
and, where chunks overlap, each word kept exactly once (decided on word timestamps).

Pure functions and one small ``feed()``/``flush()`` class; canonical ``Segment`` values in and
out. Times are rounded to the millisecond so that sums of offsets do not leak float noise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from ..types import Segment, Word
from .segment import Chunk

_PUNCTUATION = re.compile(r"[^\w']+")


@dataclass(frozen=True)
class ChunkResult:
    """What an engine made of one chunk; segment and word times relative to ``chunk.start_s``."""

    chunk: Chunk  # where the chunk lies in the original file's timeline
    segments: tuple[Segment, ...]


def to_timeline(result: ChunkResult) -> list[Segment]:
    """The result's segments in the original file's timeline, clamped to the chunk.

    Clamping keeps chunk results in time order: a decoder's last timestamp may run a little
    past the audio it was given, but nothing it heard lies outside the chunk.
    """
    lo_s, hi_s = result.chunk.start_s, result.chunk.end_s

    def at(t_s: float) -> float:
        return round(min(max(lo_s + t_s, lo_s), hi_s), 3)

    return [
        replace(
            s,
            start_s=at(s.start_s),
            end_s=at(s.end_s),
            words=tuple(replace(w, start_s=at(w.start_s), end_s=at(w.end_s)) for w in s.words),
        )
        for s in result.segments
    ]


def resolve_seam(
    before: Sequence[Segment], after: Sequence[Segment], seam_s: float
) -> tuple[list[Segment], list[Segment]]:
    """Keep each word heard by two overlapping chunks once, on the side of ``seam_s`` (the
    middle of the overlap) where its midpoint lies.

    Two decodings rarely agree to the millisecond, so two fix-ups follow: a word that straddles
    the seam and that the other side does not have is kept (not lost), and when the last word
    kept before the seam and the first kept after it are the same word at overlapping times,
    the later copy goes (not duplicated). Segments without words are kept by their midpoint.
    """
    a = [(i, w) for i, s in enumerate(before) for w in s.words]
    b = [(i, w) for i, s in enumerate(after) for w in s.words]
    keep_a = [_mid(w) < seam_s for _, w in a]
    keep_b = [_mid(w) >= seam_s for _, w in b]
    for k, (_, w) in enumerate(a):  # straddles, placed after the seam here: lost unless b has it
        if not keep_a[k] and w.start_s < seam_s and not _heard(w, b, keep_b):
            keep_a[k] = True
    for k, (_, w) in enumerate(b):
        if not keep_b[k] and w.end_s > seam_s and not _heard(w, a, keep_a):
            keep_b[k] = True
    last_a = max((k for k, kept in enumerate(keep_a) if kept), default=None)
    first_b = next((k for k, kept in enumerate(keep_b) if kept), None)
    if last_a is not None and first_b is not None:
        wa, wb = a[last_a][1], b[first_b][1]
        if _same_text(wa, wb) and _overlaps(wa, wb):
            keep_b[first_b] = False
    return (
        _rebuild(before, a, keep_a, lambda s: _mid(s) < seam_s),
        _rebuild(after, b, keep_b, lambda s: _mid(s) >= seam_s),
    )


class Stitcher:
    """Chunk results in, final segments out, renumbered from ``first_id``, in time order.

    Results must arrive in chunk order. Segments that may meet the next chunk's overlap (those
    ending within ``overlap_s`` of their chunk's end) are held until it arrives, so with
    ``overlap_s=0`` every segment is out as soon as its chunk is fed.
    """

    def __init__(self, *, overlap_s: float = 0.0, first_id: int = 0) -> None:
        if overlap_s < 0:
            raise ValueError(f"overlap_s must be zero or more, got {overlap_s}.")
        self.overlap_s = overlap_s
        self._next_id = first_id
        self._held: list[Segment] = []
        self._prev: Chunk | None = None

    def feed(self, result: ChunkResult) -> list[Segment]:
        segments = to_timeline(result)
        held = self._held
        prev, chunk = self._prev, result.chunk
        if prev is not None and chunk.start_s < prev.end_s:
            held, segments = resolve_seam(held, segments, (chunk.start_s + prev.end_s) / 2)
        edge_s = chunk.end_s - self.overlap_s
        hold_from = len(segments)
        if self.overlap_s > 0:
            while hold_from > 0 and segments[hold_from - 1].end_s > edge_s:
                hold_from -= 1
        self._held, self._prev = segments[hold_from:], chunk
        return self._numbered([*held, *segments[:hold_from]])

    def flush(self) -> list[Segment]:
        held, self._held = self._held, []
        return self._numbered(held)

    def _numbered(self, segments: Iterable[Segment]) -> list[Segment]:
        out = []
        for s in segments:
            out.append(replace(s, id=self._next_id))
            self._next_id += 1
        return out


def stitch(results: Iterable[ChunkResult], *, overlap_s: float = 0.0) -> list[Segment]:
    """All chunk results at once: the segments of the whole file, in its timeline."""
    stitcher = Stitcher(overlap_s=overlap_s)
    out = [s for r in results for s in stitcher.feed(r)]
    return out + stitcher.flush()


# --- helpers -------------------------------------------------------------------------------


def _mid(x: Word | Segment) -> float:
    return (x.start_s + x.end_s) / 2


def _overlaps(x: Word, y: Word) -> bool:
    return x.start_s < y.end_s and y.start_s < x.end_s


def _same_text(x: Word, y: Word) -> bool:
    return _PUNCTUATION.sub("", x.text.lower()) == _PUNCTUATION.sub("", y.text.lower())


def _heard(word: Word, other: list[tuple[int, Word]], kept: list[bool]) -> bool:
    """Whether the other side keeps a word at an overlapping time."""
    return any(k and _overlaps(word, w) for (_, w), k in zip(other, kept))


def _rebuild(
    segments: Sequence[Segment],
    words: list[tuple[int, Word]],
    keep: list[bool],
    keep_wordless: Callable[[Segment], bool],
) -> list[Segment]:
    """Segments with only their kept words; a segment left with none goes."""
    kept_by_segment: dict[int, list[Word]] = {}
    for (i, w), k in zip(words, keep):
        if k:
            kept_by_segment.setdefault(i, []).append(w)
    out = []
    for i, s in enumerate(segments):
        if not s.words:
            if keep_wordless(s):
                out.append(s)
            continue
        kept = kept_by_segment.get(i, [])
        if len(kept) == len(s.words):
            out.append(s)
        elif kept:
            text = "".join(w.text for w in kept)
            out.append(
                replace(s, start_s=kept[0].start_s, end_s=kept[-1].end_s, text=text,
                        words=tuple(kept), tokens=())
            )  # fmt: skip
    return out
