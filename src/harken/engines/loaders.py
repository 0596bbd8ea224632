"""How each engine kind is built from a catalog entry and its files (the manager's loaders).

Heavy engines import their libraries inside the loader, so a server that never uses an engine
never imports its dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from ..models.catalog import ModelEntry, remote_entry
from ..types import TranscribeOptions

if TYPE_CHECKING:
    from ..config import Settings
    from ..service import Service

Loader = Callable[[ModelEntry, Path], Any]


def engine_loaders(service: Service) -> dict[str, Loader]:
    """One loader per engine kind, bound to the service's settings (and, for the cascade, to
    its manager and transcript memo)."""
    settings = service.settings
    return {
        "whisper": _load_whisper(settings),
        "llm": _load_llm(settings),
        "cascade": _load_cascade(service),
        "remote": _load_remote(settings),
        "alm": _load_alm(settings),
    }


def _load_llm(settings: Settings) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .llm import LlamaEngine

        ggufs = [f.name for f in entry.files if f.name.endswith(".gguf")]
        model_path = path / ggufs[0] if ggufs else next(iter(sorted(path.glob("*.gguf"))), None)
        if model_path is None:
            raise InvalidRequest(f"model '{entry.id}' has no .gguf file in {path}")
        chat_format = entry.options.get("chat_format")
        return LlamaEngine(
            model_path,
            name=entry.id,
            n_ctx=int(str(entry.options.get("n_ctx", settings.llm.n_ctx))),
            n_threads=settings.llm.n_threads or None,
            chat_format=str(chat_format) if chat_format else None,
        )

    return load


def _load_cascade(service: Service) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .cascade import CascadeEngine

        settings = service.settings
        return CascadeEngine(
            # Late-bound: the manager is built with this loader, so it does not exist yet here.
            lambda name: service.manager.lease(name),
            name=entry.id,
            asr_model=str(entry.options.get("asr", settings.default_asr_model)),
            llm_model=str(entry.options.get("llm", "qwen2.5-coder-1.5b-instruct")),
            memo=service.audio_memo,
            asr_options=TranscribeOptions(
                word_timestamps=False, beam_size=settings.whisper.beam_size
            ),
            max_audio_s=settings.limits.max_duration_s,
        )

    return load


def _load_alm(settings: Settings) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .alm import load_alm  # torch and transformers only when an ALM is used

        return load_alm(entry, path, hub_timeout_s=settings.source_timeout_s)

    return load


def _load_whisper(settings: Settings) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .whisper import WhisperEngine

        w = settings.whisper
        return WhisperEngine(
            path,
            name=entry.id,
            languages=entry.languages,
            device=w.device,
            compute_type=w.compute_type,
            cpu_threads=w.cpu_threads,
            num_workers=max(1, settings.workers),
            long_form_s=w.long_form_max_s,
        )

    return load


def remote_entries(settings: Settings) -> list[ModelEntry]:
    return [remote_entry(name, cfg.kind, cfg.upstream_model, cfg.description)
            for name, cfg in settings.remote_models.items()]  # fmt: skip


def _load_remote(settings: Settings) -> Callable[[ModelEntry, Path], Any]:
    def load(entry: ModelEntry, path: Path) -> Any:
        from .remote import build_remote

        cfg = settings.remote_models[entry.id]
        return build_remote(entry.id, **cfg.model_dump(exclude={"description"}))

    return load
