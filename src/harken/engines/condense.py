"""Recordings longer than the LLM's context: summarise the transcript part by part.

The cascade's LLM reads transcripts as text. When a conversation's audio does not fit the
context, each long transcript is cut into parts that do, each part is summarised with its
[mm:ss] timestamps kept, and the answer is generated over the summaries (map, then reduce).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..types import Finished, Segment, TextDelta, Usage
from .base import CancelCheck
from .llm import LlamaEngine, Sampling
from .prompts import AudioNotes, timestamp

SUMMARY_PROMPT = (
    "Summarise this part of a recording's transcript in a few sentences. Keep the [mm:ss] "
    "timestamps of the key points, names, numbers and places. Output only the summary."
)
SUMMARY_TOKENS = 160  # per part: a few sentences
PART_SHARE = 0.5  # a part's transcript may take this share of the context


def condense(
    notes: list[AudioNotes],
    llm: LlamaEngine,
    fits: Callable[[list[AudioNotes]], bool],
    cancel: CancelCheck,
) -> tuple[list[AudioNotes], Usage]:
    """Notes whose longest transcripts are replaced by part summaries until ``fits(notes)``.

    Returns the notes to render and the tokens the summaries cost (added to the answer's usage).
    """
    spent = Usage()
    out = list(notes)
    # The longest transcript first: it frees the most room.
    for index in sorted(range(len(out)), key=lambda i: -len(out[i].transcript.text)):
        if fits(out):
            break
        out[index], used = _summarised(out[index], llm, cancel)
        spent = Usage(spent.prompt_tokens + used.prompt_tokens,
                      spent.completion_tokens + used.completion_tokens)  # fmt: skip
    return out, spent


def _summarised(note: AudioNotes, llm: LlamaEngine, cancel: CancelCheck) -> tuple[AudioNotes, Usage]:
    budget = int(llm.n_ctx * PART_SHARE)
    parts: list[list[Segment]] = [[]]
    size = 0
    for segment in note.transcript.segments:
        line = f"{timestamp(segment.start_s)} {segment.text.strip()}"
        cost = llm.count_tokens(line) + 1
        if parts[-1] and size + cost > budget:
            parts.append([])
            size = 0
        parts[-1].append(segment)
        size += cost
    summaries: list[Segment] = []
    prompt_tokens = completion_tokens = 0
    for n, part in enumerate(p for p in parts if p):
        lines = "\n".join(f"{timestamp(s.start_s)} {s.text.strip()}" for s in part)
        messages = [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": lines}]
        text: list[str] = []
        for event in llm.chat(messages, Sampling(max_tokens=SUMMARY_TOKENS), cancel):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, Usage):
                prompt_tokens += event.prompt_tokens
                completion_tokens += event.completion_tokens
            elif isinstance(event, Finished):
                break
        label = f"(summary of {timestamp(part[0].start_s)}-{timestamp(part[-1].end_s)}) "
        summaries.append(Segment(n, part[0].start_s, part[-1].end_s, label + "".join(text).strip()))
    transcript = replace(note.transcript, segments=tuple(summaries))
    condensed = AudioNotes(transcript, note.analysis, tuple(0.0 for _ in summaries),
                           note.overall_sentiment)  # fmt: skip
    return condensed, Usage(prompt_tokens, completion_tokens)
