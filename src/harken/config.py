"""Settings, built once at start-up from ``HARKEN_*`` environment variables and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".cache" / "harken"


class LimitSettings(BaseModel):
    """The three input caps: upload bytes, decoded duration, decoded (canonical) bytes."""

    max_upload_bytes: int = 512 * 1024 * 1024
    max_duration_s: float = 6 * 3600.0
    # float32 mono 16 kHz is 64,000 bytes a second: 2 GiB is about 9.3 hours.
    max_decoded_bytes: int = 2 * 1024 * 1024 * 1024


class WhisperSettings(BaseModel):
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "default"  # default: int8 on CPU, float16 on CUDA
    cpu_threads: int = 0  # 0: all cores
    # Greedy decoding, as openai-whisper's transcribe() does by default: on 2 cores beam 5 costs
    # about twice the time for the same word error rate on the shared clips. Set 5 for hard audio.
    beam_size: int = 1
    # Chunks decoded together on audio longer than 30 s (faster-whisper's batched pipeline);
    # 0 decodes window after window with the previous window's text as context.
    batch_size: int = 0
    # Up to this long, sequential decoding is faster-whisper's own long-form decoding of the
    # whole file (context carried across windows; what `faster-whisper` does when called
    # directly). Longer files go through VAD chunks decoded block by block: on a 1-hour file
    # whole-file decoding peaked at 2.7 GB and dropped a fifth of the words, chunks stay flat.
    long_form_max_s: float = 600.0


class LLMSettings(BaseModel):
    """The text LLM of the cascade (llama.cpp)."""

    n_ctx: int = 8192  # tokens of prompt + answer; the KV cache grows with it
    n_threads: int = 0  # 0: all cores
    # Audios whose transcript and analysis the cascade remembers (by content hash).
    memo_capacity: int = 64


class JobSettings(BaseModel):
    """Async jobs (``/v1/audio/jobs``): their own worker pool, apart from the request pool."""

    workers: int = 1
    # Directories whose files a job may name as ``url=file:///...``; empty refuses every path.
    allowed_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # A job interrupted by a restart runs again from the start, at most this many times in all.
    max_attempts: int = 3
    webhook_timeout_s: float = 5.0
    webhook_retries: int = 2

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(p) for p in value.split(":") if p.strip()]
        return value


class RemoteModel(BaseModel):
    """A model served by OpenAI-compatible upstreams (e.g. a vLLM cluster); see docs/scaling.md."""

    urls: list[str] = Field(min_length=1)  # base URLs, with or without a trailing /v1
    api_key: str | None = None
    upstream_model: str  # the model name sent upstream
    kind: Literal["asr", "chat"] = "asr"
    window_s: float = Field(default=30.0, gt=1.0)  # the upstream model's audio window
    max_concurrency: int = Field(default=8, ge=1)  # requests in flight to the upstreams at once
    timeout_s: float = Field(default=300.0, gt=0.0)  # per upstream request
    cooldown_s: float = Field(default=5.0, ge=0.0)  # before a failed upstream is probed again
    description: str = ""


class Settings(BaseSettings):
    """Everything configurable. Nested sections use ``__``: ``HARKEN_LIMITS__MAX_DURATION_S``."""

    model_config = SettingsConfigDict(
        env_prefix="HARKEN_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Field(default_factory=_default_home)
    host: str = "127.0.0.1"
    port: int = 8000
    default_asr_model: str = "whisper-base"
    default_chat_model: str = "cascade"
    # ``harken serve`` loads the default chat model's engines at start (the cascade's LLM,
    # primed with its system prompt) so the first question does not wait; off for a server
    # that only transcribes and should not hold the LLM in memory.
    preload_chat: bool = True
    # Which model actually answers for a requested one. On the CPU default the audio-language
    # models are answered by the cascade (Whisper + analysis + a text LLM); a GPU deployment
    # sets this to {} (or maps them to a remote upstream) to serve them natively.
    serve_with: dict[str, str] = Field(
        default_factory=lambda: {
            "qwen2-audio-7b-instruct": "cascade",
            "voxtral-mini-3b-2507": "cascade",
            "voxtral-small-24b-2507": "cascade",
        }
    )
    # Comma-separated keys; empty means no authentication.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Directories holding model folders named by catalog id (tried before any download).
    model_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # Seconds allowed to reach each remote model source before the next is tried.
    source_timeout_s: float = 5.0
    pip_index_url: str | None = None
    workers: int = 2  # inference threads
    limits: LimitSettings = Field(default_factory=LimitSettings)
    whisper: WhisperSettings = Field(default_factory=WhisperSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    # Catalog entries served by upstream servers, by model id: JSON in HARKEN_REMOTE_MODELS.
    remote_models: dict[str, RemoteModel] = Field(default_factory=dict)
    jobs: JobSettings = Field(default_factory=JobSettings)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("model_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(p) for p in value.split(":") if p.strip()]
        return value

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
