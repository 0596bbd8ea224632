"""What each audio-language model reads: conversations and transcription requests turned into
model inputs by that model's own processor and chat template.

Voxtral goes through ``VoxtralProcessor`` (mistral-common's Tekken tokenizer: audio as base64
WAV chunks, and ``apply_transcription_request`` for its dedicated transcription mode);
Qwen2-Audio through ``Qwen2AudioProcessor`` and its ChatML template, where each audio is
``Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>`` expanded to one token per 40 ms.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..languages import language_name
from ..types import SAMPLE_RATE_HZ, Audio, AudioPart, Message, TextPart

# Qwen2-Audio's Whisper encoder sees one 30 s window per audio; longer audio would be cut.
QWEN_WINDOW_S = 30.0
# Its 8k-token context at 25 audio tokens a second: 4 minutes of audio leaves 2k for text.
QWEN_BUDGET_S = 240.0
# Voxtral: a 32k-token context at 12.5 audio tokens a second holds about 30 minutes of audio
# with room left for text (Mistral's model card: "up to 30 minutes for understanding").
VOXTRAL_WINDOW_S = 30 * 60.0

TRANSCRIBE_PROMPT = "Transcribe this audio exactly as spoken, with no other text."
PART_SUMMARY_PROMPT = (
    "This is part {index} of {count} of a longer recording ({start} to {end}). Describe in "
    "detail what is said (with the key words) and what can be heard in this part."
)
LONG_AUDIO_INTRO = (
    "Audio {number} is {duration} long, longer than you can hear at once, so it was listened to "
    "in parts; here is what each part contains:"
)


def translate_prompt(target: str) -> str:
    return f"Translate the speech in this audio into {language_name(target).title()}. " \
        "Reply with the translation only."  # fmt: skip


def clock(seconds: float) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour) for prompts."""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


def normalise(messages: Sequence[Message]) -> list[Message]:
    """Consecutive messages of one role joined into one (SambaNova sends the audio and the
    question as two user messages; Mistral's tokenizer wants roles to alternate)."""
    out: list[Message] = []
    for message in messages:
        if out and out[-1].role == message.role:
            out[-1] = Message(message.role, out[-1].parts + message.parts)
        else:
            out.append(message)
    return out


@dataclass(frozen=True)
class Family:
    """One model family's limits and input building. ``window_s``: the longest single audio it
    hears whole; ``budget_s``: the most audio one prompt may hold in all."""

    name: str
    window_s: float
    budget_s: float
    # Audio tokens per second of audio (after the processor's padding rules).
    tokens_per_s: float

    def chat_inputs(self, processor: Any, messages: Sequence[Message]) -> Any:
        raise NotImplementedError

    def transcription_inputs(
        self, processor: Any, audio: Audio, language: str | None, model_id: str
    ) -> Any:
        """Inputs asking for a verbatim transcript of ``audio``."""
        return self.chat_inputs(processor, [Message("user", (AudioPart(audio),
                                                             TextPart(TRANSCRIBE_PROMPT)))])  # fmt: skip


class QwenAudio(Family):
    def chat_inputs(self, processor: Any, messages: Sequence[Message]) -> Any:
        conversation: list[dict[str, Any]] = []
        arrays: list[np.ndarray] = []
        for message in normalise(messages):
            content: list[dict[str, Any]] = []
            for part in message.parts:
                if isinstance(part, AudioPart):
                    arrays.append(_samples(part.audio))
                    content.append({"type": "audio", "audio_url": f"harken://{len(arrays)}"})
                elif part.text:
                    content.append({"type": "text", "text": part.text})
            conversation.append({"role": message.role, "content": content})
        text = processor.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=False
        )
        return processor(
            text=text,
            audio=arrays or None,
            sampling_rate=SAMPLE_RATE_HZ,
            return_tensors="pt",
        )

    def transcription_inputs(
        self, processor: Any, audio: Audio, language: str | None, model_id: str
    ) -> Any:
        prompt = TRANSCRIBE_PROMPT
        if language:
            prompt += f" The speech is in {language_name(language).title()}."
        return self.chat_inputs(processor, [Message("user", (AudioPart(audio), TextPart(prompt)))])


class Voxtral(Family):
    def chat_inputs(self, processor: Any, messages: Sequence[Message]) -> Any:
        conversation: list[dict[str, Any]] = []
        # Voxtral's tokenizer (before Tekken v13) refuses a system prompt next to audio, so the
        # instructions lead the first user turn instead, as Mistral's own examples do.
        system = "\n\n".join(m.text for m in messages if m.role == "system" and m.text)
        for message in normalise([m for m in messages if m.role != "system"]):
            content: list[dict[str, Any]] = []
            if system and message.role == "user":
                content.append({"type": "text", "text": system})
                system = ""
            for part in message.parts:
                if isinstance(part, AudioPart):
                    content.append({"type": "audio", "base64": wav_base64(part.audio)})
                elif part.text:
                    content.append({"type": "text", "text": part.text})
            conversation.append({"role": message.role, "content": _collapse(content)})
        if system:  # a conversation with no user turn at all
            conversation.insert(0, {"role": "user", "content": system})
        return processor.apply_chat_template(conversation)

    def transcription_inputs(
        self, processor: Any, audio: Audio, language: str | None, model_id: str
    ) -> Any:
        # Voxtral's dedicated transcription mode: "lang:xx[TRANSCRIBE]" after the audio.
        return processor.apply_transcription_request(
            audio=[_samples(audio)],
            language=language,
            model_id=model_id,
            sampling_rate=SAMPLE_RATE_HZ,
            format=["WAV"],
        )


def _collapse(content: list[dict[str, Any]]) -> list[dict[str, Any]] | str:
    """Text-only content as one string (the form Mistral's assistant turns must take)."""
    if all(c["type"] == "text" for c in content):
        return "\n\n".join(c["text"] for c in content)
    return content


def _samples(audio: Audio) -> np.ndarray:
    if audio.sample_rate_hz != SAMPLE_RATE_HZ:
        raise ValueError(f"audio must be {SAMPLE_RATE_HZ} Hz, got {audio.sample_rate_hz}.")
    return np.asarray(audio.samples, dtype=np.float32)


def wav_base64(audio: Audio) -> str:
    """32-bit float WAV as base64: how a Mistral chunk carries audio, with no requantisation."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, _samples(audio), SAMPLE_RATE_HZ, format="WAV", subtype="FLOAT")
    return base64.b64encode(buf.getvalue()).decode("ascii")


FAMILIES: dict[str, Family] = {
    "qwen2_audio": QwenAudio("qwen2_audio", QWEN_WINDOW_S, QWEN_BUDGET_S, 25.0),
    "voxtral": Voxtral("voxtral", VOXTRAL_WINDOW_S, VOXTRAL_WINDOW_S, 12.5),
}
