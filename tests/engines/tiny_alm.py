"""Tiny random-initialised Voxtral and Qwen2-Audio checkpoints, built on the spot for tests.

No audio-language model weights can be downloaded here, so the real transformers loading,
processor and generation code is exercised on models of a few hundred thousand parameters:
a byte-level BPE tokenizer trained with ``tokenizers`` on a small corpus plus the special tokens
each model's processor needs, a Whisper feature extractor, the model from a config, all saved
with ``save_pretrained`` into ``<root>/<catalog id>/`` (what ``HARKEN_MODEL_DIRS`` points at).

The audio towers keep the real models' geometry in time (128 mel bins, 1500 encoder positions
for a 30 s window) so the number of audio tokens per second matches the real models: 12.5 for
Voxtral (375 per 30 s, because the audio ``intermediate_size`` is 4 x its hidden size) and 25
for Qwen2-Audio (750 per 30 s).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

QWEN_ID = "Qwen2-Audio-7B-Instruct"
VOXTRAL_ID = "voxtral-mini-3b-2507"

CORPUS = [
    "And so my fellow Americans, ask not what your country can do for you, ask what you can "
    "do for your country.",
    "Concord returned to its place amidst the tents.",
    "Transcribe this audio exactly as spoken. What is the audio about? Summarise the speech.",
    "The speaker talks about the weather in Barcelona, the news headlines and a phone call.",
    "Translate the speech into English. Answer briefly and directly.",
    "You are a helpful assistant. Audio 1: a recording. Audio 2: another recording.",
    "Bonjour, hola, ciao, hallo: the quick brown fox jumps over the lazy dog 0123456789.",
]
# Byte-level BPE merges learned on the corpus; on top of the 256 single bytes.
MERGES = 300
HIDDEN = 32  # text and audio hidden size


def _byte_level_bpe(special: list[str]) -> object:
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``CORPUS`` (specials first)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=len(special) + 256 + MERGES,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    return tok


# --- Qwen2-Audio -----------------------------------------------------------------------------

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>",
                "<|audio_eos|>"]  # fmt: skip


def build_qwen2_audio(folder: Path, seed: int = 0) -> Path:
    """A tiny ``Qwen2AudioForConditionalGeneration`` with its processor, saved in ``folder``."""
    import torch
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    tok = PreTrainedTokenizerFast(
        tokenizer_object=_byte_level_bpe(QWEN_SPECIAL),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "audio_token": "<|AUDIO|>",
            "audio_bos_token": "<|audio_bos|>",
            "audio_eos_token": "<|audio_eos|>",
        },
    )
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16_000, chunk_length=30)
    processor = Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tok)
    processor.chat_template = processor.default_chat_template
    config = Qwen2AudioConfig(
        audio_config={
            "model_type": "qwen2_audio_encoder", "num_mel_bins": 128, "d_model": HIDDEN,
            "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
            "max_source_positions": 1500,
        },
        text_config={
            "model_type": "qwen2", "vocab_size": len(tok), "hidden_size": HIDDEN,
            "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "max_position_embeddings": 8192,
            "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
            "pad_token_id": tok.pad_token_id,
        },
        audio_token_id=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# --- Voxtral -----------------------------------------------------------------------------------

# Tekken special tokens at the ranks the real Voxtral uses (the processor hard-codes [AUDIO]=24).
_VOXTRAL_SPECIAL = {
    0: "<unk>", 1: "<s>", 2: "</s>", 3: "[INST]", 4: "[/INST]", 5: "[AVAILABLE_TOOLS]",
    6: "[/AVAILABLE_TOOLS]", 7: "[TOOL_RESULTS]", 8: "[/TOOL_RESULTS]", 9: "[TOOL_CALLS]",
    10: "[IMG]", 11: "<pad>", 12: "[IMG_BREAK]", 13: "[IMG_END]", 14: "[PREFIX]", 15: "[MIDDLE]",
    16: "[SUFFIX]", 17: "[SYSTEM_PROMPT]", 18: "[/SYSTEM_PROMPT]", 19: "[TOOL_CONTENT]",
    24: "[AUDIO]", 25: "[BEGIN_AUDIO]", 32: "[ARGS]", 33: "[CALL_ID]", 34: "[TRANSCRIBE]",
}  # fmt: skip
_VOXTRAL_NUM_SPECIAL = 40
_TEKKEN_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _tekken_vocab() -> list[bytes]:
    """The 256 bytes, then the trained merges in order (tiktoken ranks must build up this way)."""
    from tokenizers import pre_tokenizers

    tok = _byte_level_bpe([])
    data = json.loads(tok.to_str())  # type: ignore[attr-defined]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    # ByteLevel's printable stand-ins for bytes, back to the bytes (GPT-2's bytes_to_unicode).
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(
        range(0xAE, 0x100)
    )
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[chr(b)] = b
        else:
            mapping[chr(256 + extra)] = b
            extra += 1
    assert set(mapping) == set(alphabet)
    vocab = [bytes([b]) for b in range(256)]
    seen = set(vocab)
    for merge in data["model"]["merges"]:
        left, right = merge if isinstance(merge, list) else merge.split(" ")
        token = bytes(mapping[c] for c in left + right)
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    return vocab


def write_tekken(path: Path) -> int:
    """A tiny Tekken tokenizer file with Voxtral's audio section; returns the full vocab size."""
    vocab = _tekken_vocab()
    specials = [
        {"rank": i, "token_str": _VOXTRAL_SPECIAL.get(i, f"<SPECIAL_{i}>"), "is_control": True}
        for i in range(_VOXTRAL_NUM_SPECIAL)
    ]
    size = _VOXTRAL_NUM_SPECIAL + len(vocab)
    data = {
        "config": {
            "pattern": _TEKKEN_PATTERN,
            "num_vocab_tokens": len(vocab),
            "default_vocab_size": size,
            "default_num_special_tokens": _VOXTRAL_NUM_SPECIAL,
            "version": "v7",
        },
        "vocab": [
            {"rank": i, "token_bytes": base64.b64encode(t).decode(), "token_str": None}
            for i, t in enumerate(vocab)
        ],
        "special_tokens": specials,
        "audio": {
            "sampling_rate": 16_000,
            "frame_rate": 12.5,
            "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
            "chunk_length_s": 30.0,
        },
    }
    path.write_text(json.dumps(data))
    return size


def build_voxtral(folder: Path, seed: int = 0) -> Path:
    """A tiny ``VoxtralForConditionalGeneration`` with a Tekken tokenizer, saved in ``folder``."""
    import torch
    from transformers import (
        MistralCommonBackend,
        VoxtralConfig,
        VoxtralForConditionalGeneration,
        VoxtralProcessor,
        WhisperFeatureExtractor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = write_tekken(folder / "tekken.json")
    tok = MistralCommonBackend.from_pretrained(str(folder))
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16_000, chunk_length=30)
    processor = VoxtralProcessor(feature_extractor=fe, tokenizer=tok)
    config = VoxtralConfig(
        audio_config={
            "model_type": "voxtral_encoder", "hidden_size": HIDDEN, "intermediate_size": 4 * HIDDEN,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_mel_bins": 128,
            "max_source_positions": 1500,
        },
        text_config={
            "model_type": "llama", "vocab_size": vocab_size, "hidden_size": HIDDEN,
            "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": HIDDEN // 2, "max_position_embeddings": 32768,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 11,
        },
        audio_token_id=24,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = VoxtralForConditionalGeneration(config)
    model.generation_config.bos_token_id = 1
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 11
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_all(root: Path) -> Path:
    """Both tiny models under ``root`` (named by catalog id), for ``HARKEN_MODEL_DIRS``."""
    build_qwen2_audio(root / QWEN_ID)
    build_voxtral(root / VOXTRAL_ID)
    return root
